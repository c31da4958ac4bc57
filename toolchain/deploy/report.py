"""report.md of a bundle: what was built, how accurate, how long each stage took, and the AI Hub
profile when the export had one."""

from __future__ import annotations

from toolchain.deploy.aihub import AihubProfile
from toolchain.deploy.manifest import Manifest


def render_report(manifest: Manifest, seconds: dict[str, float], aihub: AihubProfile | None = None) -> str:
    """A short human-readable summary of the bundle (report.md)."""
    lines = [
        f"# {manifest.model_id} for {manifest.target}",
        "",
        f"- SoC: {manifest.soc}",
        f"- tile: {manifest.tile_spec['tile']} px LR, overlap {manifest.tile_spec['overlap']}, "
        f"x{manifest.scale}; a 512x512 image is {len(manifest.example_plan_512['tiles'])} tiles",
        f"- accuracy gate: {manifest.accuracy_threshold_db:g} dB PSNR-Y vs float"
        + (" (SKIPPED: --skip-verify)" if manifest.verify_skipped else ""),
        f"- compiled with QNN {manifest.compiler.qnn_sdk_version}, "
        f"LiteRT {manifest.compiler.litert_version}, ONNX Runtime {manifest.compiler.onnxruntime_version}; "
        f"{manifest.compiler.min_runtime_note}",
    ]
    if manifest.note:
        lines.append(f"- note: {manifest.note}")
    lines += [
        "",
        "| graph | runtime | precision | role | size | PSNR-Y vs float | QNN |",
        "|---|---|---|---|---|---|---|",
    ]
    sizes = {f.file: f.size_bytes for f in manifest.files}
    for g in manifest.graphs:
        acc = f"{g.accuracy_psnr_y_db:.2f} dB" if g.accuracy_psnr_y_db is not None else "not verified"
        size = g.size_bytes + (sizes[g.context_binary] if g.context_binary else 0)  # + its context binary
        lines.append(
            f"| {g.file} | {g.runtime.value} | {g.precision.value} | {g.role.value} | "
            f"{size / 1e6:.2f} MB | {acc} | {g.qnn_sdk_version or '-'} |"
        )
    lines += ["", "Accuracy methods:"]
    lines += [f"- {g.file}: {g.accuracy_method}" for g in manifest.graphs if g.accuracy_method]
    if aihub is not None:
        units = ", ".join(f"{unit} {count}" for unit, count in aihub.compute_units.items())
        memory = (
            f"{aihub.peak_memory_bytes / 2**20:.1f} MiB" if aihub.peak_memory_bytes is not None else "n/a"
        )
        lines += [
            "",
            f"Qualcomm AI Hub ({aihub.device}, {aihub.runtime} runtime):",
            f"- compile job {aihub.compile_job_id}, profile job {aihub.profile_job_id} "
            f"{aihub.profile_job_url}".rstrip(),
            f"- {aihub.latency_ms_per_tile:.2f} ms per tile (AI Hub estimate); peak memory {memory}",
            f"- layers per compute unit: {units}",
        ]
    lines += ["", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in seconds.items()]
    return "\n".join(lines) + "\n"
