"""``toolchain export``, ``toolchain targets`` and ``toolchain verify-bundle``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from toolchain.cli.common import (
    CheckpointOption,
    JsonOption,
    PrecisionOption,
    TargetOption,
    check_range,
    err_console,
    out_console,
    print_json,
    print_warning,
    progress_bar,
)
from toolchain.deploy.export_options import DEFAULT_CALIBRATION, ExportOptions, GraphSet, Via
from toolchain.deploy.targets import TARGETS
from toolchain.model import DEFAULT_CHECKPOINT

if TYPE_CHECKING:
    from toolchain.deploy.export import ExportResult


def targets(as_json: JsonOption = False) -> None:
    """List deployment targets: SoC, what each bundle holds, and the precisions it takes.

    On a terminal a table; piped, one tab-separated line per target (target, SoC, phones, graphs,
    precisions with the default first, note).
    """
    if as_json:
        print_json(
            [
                {
                    "target": t.name,
                    "soc": t.soc,
                    "phones": t.description,
                    "graphs": [a.value for a in t.artifacts],
                    "precisions": [p.value for p in t.precisions],
                    "note": t.note,
                }
                for t in TARGETS.values()
            ]
        )
        return
    rows = [
        (
            t.name,
            t.soc,
            t.description,
            ", ".join(a.value for a in t.artifacts),
            ", ".join(p.value for p in t.precisions),
        )
        for t in TARGETS.values()
    ]
    if not out_console.is_terminal:  # piped: one tab-separated line per target, never wrapped
        for row, t in zip(rows, TARGETS.values(), strict=True):
            typer.echo("\t".join((*row, t.note or "")))
        return
    table = Table(title="toolchain export --target NAME")
    for col in ("target", "SoC", "phones", "graphs", "precisions (default first)"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    out_console.print(table)
    for t in TARGETS.values():
        if t.note:
            out_console.print(f"{t.name}: {t.note}", highlight=False)


def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `toolchain export`.")],
    as_json: JsonOption = False,
) -> None:
    """Check a bundle's integrity: manifest schema, every listed file's size and sha256, no stray files.

    What it proves: the graphs and other listed files are the ones the manifest names, unchanged
    since export. What it does not prove: the manifest itself is not signed, so its descriptive
    fields (recorded accuracy, target, tile spec, notes) are only as trustworthy as whoever handled
    the folder; re-run `toolchain export` to re-measure them.
    """
    from toolchain.deploy.bundle import verify_bundle

    manifest = verify_bundle(bundle)
    if as_json:
        print_json({"bundle": str(bundle), "ok": True, "manifest": asdict(manifest)})
        return
    out_console.print(
        f"{bundle}: OK ({manifest.model_id}, target {manifest.target} / {manifest.soc}, "
        f"{len(manifest.graphs)} graph(s), {len(manifest.files)} file(s), schema {manifest.schema_version})",
        highlight=False,
    )
    for g in manifest.graphs:
        acc = f"{g.accuracy_psnr_y_db:.2f} dB" if g.accuracy_psnr_y_db is not None else "not verified"
        out_console.print(
            f"  {g.file}: {g.runtime.value} {g.precision.value} ({g.role.value}), {acc}", highlight=False
        )


def export(
    target: TargetOption = "s24-dsp",
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
    preset: Annotated[
        str | None, typer.Option(help="Export a randomly initialised preset instead (e.g. edge).")
    ] = None,
    precision: PrecisionOption = None,
    calibration: Annotated[
        Path, typer.Option(help="Folder of real images; LR tiles are cut from them for calibration.")
    ] = DEFAULT_CALIBRATION,
    calibration_tiles: Annotated[int, typer.Option(help="LR tiles cut from --calibration.")] = 16,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Bundle folder (default exports/<model>-<target>-<precision>)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
    min_psnr: Annotated[
        float, typer.Option(help="Fail below this NPU PSNR-Y (dB) vs the float model.")
    ] = 35.0,
    skip_verify: Annotated[
        bool, typer.Option(help="Skip the (slow) HTP-emulator accuracy gate; recorded in the manifest.")
    ] = False,
    graphs: Annotated[
        GraphSet, typer.Option(help="Which routes to build: all, qnn (ONNX Runtime QNN) or litert.")
    ] = GraphSet.ALL,
    allow_partial: Annotated[
        bool, typer.Option(help="Accept NPU graphs with ops left on the CPU (not recommended).")
    ] = False,
    via: Annotated[
        Via,
        typer.Option(
            help="local: offline compile only; aihub: also compile the ONNX graph on Qualcomm AI Hub and "
            "profile it on the target's phone there (job ids and latency go into report.md)."
        ),
    ] = Via.LOCAL,
    as_json: JsonOption = False,
) -> None:
    """Quantize, compile and verify the tile graph for a phone; write a deployable bundle.

    Example: toolchain export --target s24-dsp   (Galaxy S24 NPU, A16W8, default checkpoint)
    """
    prec = target.precisions[0] if precision is None else precision
    target.check_precision(prec)
    check_range("--calibration-tiles", calibration_tiles, 1)
    check_range("--min-psnr", min_psnr, 0.0)
    opts = ExportOptions(
        target,
        prec,
        calibration,
        calibration_tiles=calibration_tiles,
        min_psnr_db=min_psnr,
        skip_verify=skip_verify,
        allow_partial=allow_partial,
        graphs=graphs,
        via=via,
    )
    from toolchain.deploy.export import export_model  # torch, ONNX, LiteRT: once the options are checked

    with progress_bar() as progress:
        task = progress.add_task("export", total=None)
        result = export_model(
            opts, checkpoint, preset, out, force, lambda s: progress.update(task, description=s)
        )
    _print_export(result, as_json)


def _print_export(result: ExportResult, as_json: bool) -> None:
    """Graphs and bundle on stdout (or the JSON document), warnings and the target's note on stderr,
    and the AI Hub comparison when there was a profile."""
    size_bytes = sum(f.size_bytes for f in result.manifest.files)
    if as_json:
        print_json(
            {
                "bundle": str(result.bundle_dir),
                "size_bytes": size_bytes,
                "warnings": result.warnings,
                "manifest": asdict(result.manifest),
                "aihub": asdict(result.aihub) if result.aihub is not None else None,
            }
        )
    else:
        for g in result.manifest.graphs:
            acc = f"{g.accuracy_psnr_y_db:.2f} dB" if g.accuracy_psnr_y_db is not None else "not verified"
            out_console.print(
                f"  {g.file}: {g.runtime.value} {g.precision.value} ({g.role.value}) {acc}", highlight=False
            )
    for warning in result.warnings:
        print_warning(warning)
    if result.manifest.note:
        err_console.print(f"note: {result.manifest.note}", highlight=False)
    if as_json:
        return
    out_console.print(f"bundle: {result.bundle_dir} ({size_bytes / 1e6:.1f} MB)", highlight=False)
    if result.aihub is not None:
        from toolchain.bench.aihub import format_comparison

        out_console.print(
            format_comparison(result.aihub, result.manifest.parsed_tile_spec()), highlight=False
        )
