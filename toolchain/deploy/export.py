"""``toolchain export``: one checkpoint -> a verified, deployable bundle for one target.

The pipeline is a fixed sequence of numbered stages:

1. calibration and verification tiles from real images (LR tiles, NHWC, [0, 1]);
2. the float tile graph to ONNX and LiteRT (static ``lr_tile`` -> ``hr_tile`` shapes, NHWC I/O);
3. quantization (ONNX QDQ for QNN, ai-edge-quantizer for LiteRT) at the requested precision;
4. offline compilation for the NPU (ORT QNN EPContext and LiteRT AOT), refusing graphs that are
   not fully offloaded unless ``allow_partial``;
5. the accuracy gate: the exact SM8650 context binary runs in the x86 HTP emulator and its
   PSNR-Y against the float torch model must reach ``min_psnr_db``; fallbacks run on host LiteRT;
6. with ``via=Via.AIHUB``: the bundle's ONNX graph compiled and profiled on a Galaxy S24 through
   Qualcomm AI Hub (:mod:`toolchain.bench.aihub`); job ids and figures go into report.md;
7. manifest.json + report.md, written into a temporary folder renamed into place at the end.
"""

from __future__ import annotations

import enum
import importlib.metadata
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from toolchain import __version__
from toolchain.deploy.bundle import build_bundle_atomically, file_entry, write_manifest
from toolchain.deploy.graph import TileGraph, example_input, io_specs
from toolchain.deploy.manifest import (
    REPORT_NAME,
    SCHEMA_VERSION,
    Compiler,
    FileEntry,
    GraphFile,
    GraphRole,
    Manifest,
    Runtime,
    Toolchain,
    example_plan,
)
from toolchain.deploy.targets import Artifact, Precision, Target
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, collect_inputs, load_image
from toolchain.metrics.fidelity import psnr_y
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.provenance import git_commit, utc_now
from toolchain.tiling import TileSpec

if TYPE_CHECKING:
    from toolchain.bench.aihub import AihubProfile

DEFAULT_CALIBRATION = Path(__file__).resolve().parents[2] / "models" / "samples"
Step = Callable[[str], None]


class GraphSet(enum.StrEnum):
    """Which of a target's routes to build (an NPU target has an ONNX/QNN and a LiteRT route)."""

    ALL = "all"
    QNN = "qnn"  # ONNX Runtime QNN (QDQ ONNX + EPContext) and plain ONNX
    LITERT = "litert"  # LiteRT (.tflite, AOT for the NPU)

    def includes(self, artifact: Artifact) -> bool:
        if self is GraphSet.ALL:
            return True
        onnx_route = artifact in (Artifact.QNN_EPCONTEXT, Artifact.ONNX)
        return onnx_route if self is GraphSet.QNN else not onnx_route


class Via(enum.StrEnum):
    """Where the graphs are compiled: offline only, or also on Qualcomm AI Hub (then profiled there)."""

    LOCAL = "local"
    AIHUB = "aihub"


@dataclass(frozen=True)
class ExportOptions:
    target: Target
    precision: Precision
    calibration_dir: Path = DEFAULT_CALIBRATION
    calibration_tiles: int = 16
    verify_tiles: int = 1  # the HTP emulator takes 13-100 s per 128 -> 512 tile
    min_psnr_db: float = 35.0
    skip_verify: bool = False
    allow_partial: bool = False
    graphs: GraphSet = GraphSet.ALL
    via: Via = Via.LOCAL


@dataclass
class ExportResult:
    bundle_dir: Path
    manifest: Manifest
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    aihub: AihubProfile | None = None  # with Via.AIHUB


def check_aihub_route(opts: ExportOptions) -> None:
    """Refuse ``via=Via.AIHUB`` before any work when the bundle would hold no ONNX graph for AI Hub.

    AI Hub compiles the bundle's ONNX graph (the QDQ graph of an NPU target, or the float graph
    of the cpu target); fp16 NPU bundles, LiteRT-only selections and LiteRT-only targets have none.
    """
    artifacts = [a for a in opts.target.artifacts if opts.graphs.includes(a)]
    quantized_qnn = Artifact.QNN_EPCONTEXT in artifacts and opts.precision is not Precision.FP16
    if quantized_qnn or Artifact.ONNX in artifacts:
        return
    raise ToolchainError(
        f"--via aihub compiles the bundle's ONNX graph, and target {opts.target.name} with "
        f"--graphs {opts.graphs.value} --precision {opts.precision.value} builds none; use --target s24-dsp "
        "with --precision a16w8 or a8w8 and --graphs all or qnn, or --via local"
    )


def cut_tiles(calibration_dir: Path, tile: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` random LR tiles (1, tile, tile, 3) float32 from the images in a folder.

    Images smaller than a tile are padded by edge replication, like edge tiles at run time.
    """
    try:
        paths = collect_inputs([calibration_dir])
    except ToolchainError as exc:
        raise ToolchainError(f"calibration folder: {exc}; pass --calibration DIR with images") from None
    rng = np.random.default_rng(seed)
    images = [load_image(p, MAX_INPUT_PIXELS).rgb for p in paths]
    tiles = []
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        img = np.pad(img, ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0)), mode="edge")
        y = int(rng.integers(0, img.shape[0] - tile + 1))
        x = int(rng.integers(0, img.shape[1] - tile + 1))
        tiles.append(np.ascontiguousarray(img[None, y : y + tile, x : x + tile], dtype=np.float32))
    return tiles


def _psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    return min(psnr_y(np.clip(pred[0], 0, 1), np.clip(ref[0], 0, 1)), 99.0)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class _Bundle:
    """Collects graph files and their manifest entries while the bundle is built."""

    def __init__(self, root: Path, model: EdgeSDSR) -> None:
        self.root = root
        self.graphs: list[GraphFile] = []
        self.extra_files: list[str] = []
        inp, out = io_specs(model)
        self.inputs = (inp,)
        self.outputs = (out,)

    def add(
        self,
        rel: str,
        artifact: Artifact,
        precision: Precision,
        runtime: Runtime,
        role: GraphRole,
        accuracy: float | None,
        method: str | None,
        context_binary: str | None = None,
    ) -> None:
        entry = file_entry(self.root, rel)
        if context_binary is not None:
            self.extra_files.append(context_binary)
        self.graphs.append(
            GraphFile(
                rel,
                entry.sha256,
                entry.size_bytes,
                artifact,
                precision,
                runtime,
                role,
                self.inputs,
                self.outputs,
                context_binary,
                accuracy,
                method,
            )
        )

    def files(self) -> tuple[FileEntry, ...]:
        names = [g.file for g in self.graphs] + self.extra_files
        return tuple(file_entry(self.root, n) for n in names)


def export_bundle(
    model: EdgeSDSR, model_id: str, opts: ExportOptions, out_dir: Path, force: bool, step: Step
) -> ExportResult:
    """Build ``out_dir`` for ``opts.target``; nothing is left behind if any stage fails."""
    target, precision = opts.target, opts.precision
    target.check_precision(precision)
    if opts.via is Via.AIHUB:
        check_aihub_route(opts)
    cfg = model.config
    if cfg.scale != 4:
        raise ToolchainError(f"'{cfg.name}' is a x{cfg.scale} distillation teacher; export a x4 checkpoint")
    name = f"edge-sd-sr-{cfg.name}"
    seconds: dict[str, float] = {}
    model = model.eval()

    def timed(label: str) -> Callable[[], None]:
        start = time.perf_counter()
        step(label)
        return lambda: seconds.__setitem__(label, round(time.perf_counter() - start, 2))

    done = timed("calibration tiles")
    calib = cut_tiles(opts.calibration_dir, cfg.lr_tile, opts.calibration_tiles, seed=0)
    check = cut_tiles(opts.calibration_dir, cfg.lr_tile, max(1, opts.verify_tiles), seed=1)
    graph = TileGraph(model)
    with torch.inference_mode():
        reference = [graph(torch.from_numpy(t)).numpy() for t in check]
    done()

    def accuracy(run: Callable[[np.ndarray], np.ndarray]) -> float | None:
        if opts.skip_verify:
            return None
        return min(_psnr(run(t), ref) for t, ref in zip(check, reference, strict=True))

    with build_bundle_atomically(out_dir, force) as root, tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        (root / "graphs").mkdir()
        bundle = _Bundle(root, model)
        npu_psnr: float | None = None
        qnn_version: str | None = None
        example = example_input(model)
        artifacts = [a for a in target.artifacts if opts.graphs.includes(a)]
        if not artifacts:
            raise ToolchainError(
                f"target {target.name} has no {opts.graphs.value} graphs "
                f"(it builds {', '.join(a.value for a in target.artifacts)}); choose --graphs all"
            )
        needs_onnx = {Artifact.QNN_EPCONTEXT, Artifact.ONNX} & set(artifacts)
        needs_tflite = {Artifact.LITERT_AOT, Artifact.LITERT} & set(artifacts)

        done = timed("float graphs")
        if needs_onnx:
            from toolchain.deploy.onnx_qnn import export_onnx

            float_onnx = work / f"{name}-fp32.onnx"
            export_onnx(graph, example, float_onnx)
        if needs_tflite:
            from toolchain.deploy.litert import export_tflite

            float_tflite = work / f"{name}-fp32.tflite"
            export_tflite(graph, example, float_tflite)
        done()

        if Artifact.QNN_EPCONTEXT in artifacts:
            from toolchain.deploy.onnx_qnn import (
                compile_qnn_context,
                quantize_qdq,
                run_epcontext,
                run_onnx_cpu,
            )

            soc = target.litert_soc.lower()
            stem = f"{name}-{precision.value}-{soc}"
            if precision is Precision.FP16:
                to_compile = work / f"{stem}.onnx"
                shutil.copyfile(float_onnx, to_compile)
            else:
                done = timed("quantize ONNX (QDQ)")
                to_compile = root / "graphs" / f"{name}-{precision.value}.qdq.onnx"
                quantize_qdq(float_onnx, to_compile, calib, precision)
                bundle.add(
                    f"graphs/{to_compile.name}",
                    Artifact.ONNX,
                    precision,
                    Runtime.ONNXRUNTIME_CPU,
                    GraphRole.HOST_REFERENCE,
                    accuracy(lambda t: run_onnx_cpu(to_compile, t)),
                    "PSNR-Y vs float torch, ONNX Runtime CPU (graph optimizations off) on the QDQ graph",
                )
                done()
                staged = work / f"{stem}.onnx"
                shutil.copyfile(to_compile, staged)
                to_compile = staged
            done = timed(f"compile QNN context for {target.litert_soc}")
            result = compile_qnn_context(
                to_compile,
                work / "qnn",
                target.qnn_soc_model,
                target.htp_arch,
                fp16=precision is Precision.FP16,
                allow_partial=opts.allow_partial,
            )
            qnn_version = result.qnn_sdk_version
            for src in (result.epcontext_path, result.context_binary_path):
                shutil.copyfile(src, root / "graphs" / src.name)
            done()
            done = timed("verify on the HTP emulator")
            epcontext = root / "graphs" / result.epcontext_path.name
            npu_psnr = accuracy(lambda t: run_epcontext(epcontext, t, target.qnn_soc_model, target.htp_arch))
            if npu_psnr is not None and npu_psnr < opts.min_psnr_db:
                raise ToolchainError(
                    f"the {target.soc} NPU graph reaches {npu_psnr:.2f} dB PSNR-Y vs the float model, "
                    f"below --min-psnr {opts.min_psnr_db:g}; use a16w8, more --calibration images, "
                    "or lower --min-psnr"
                )
            bundle.add(
                f"graphs/{epcontext.name}",
                Artifact.QNN_EPCONTEXT,
                precision,
                Runtime.ONNXRUNTIME_QNN,
                GraphRole.NPU,
                npu_psnr,
                f"PSNR-Y vs float torch, the exact {result.soc} context binary in the x86 HTP emulator",
                context_binary=f"graphs/{result.context_binary_path.name}",
            )
            done()

        if needs_tflite:
            from toolchain.deploy.litert import aot_compile, quantize_tflite, run_tflite

            done = timed(f"quantize LiteRT ({precision.value})")
            lite = root / "graphs" / f"{name}-{precision.value}.tflite"
            if precision is Precision.FP32:
                shutil.copyfile(float_tflite, lite)
            else:
                quantize_tflite(float_tflite, lite, calib, precision)
            lite_psnr = accuracy(lambda t: run_tflite(lite, t))
            npu_target = Artifact.LITERT_AOT in artifacts
            role = GraphRole.HOST_REFERENCE if npu_target or target.name == "cpu" else GraphRole.FALLBACK
            runtime = (
                Runtime.LITERT_GPU if precision is Precision.FP16 and not npu_target else Runtime.LITERT_CPU
            )
            bundle.add(
                f"graphs/{lite.name}",
                Artifact.LITERT,
                precision,
                runtime,
                role,
                lite_psnr,
                "PSNR-Y vs float torch, LiteRT CPU interpreter on the host",
            )
            done()
            if npu_target:
                done = timed(f"LiteRT AOT for {target.litert_soc}")
                aot = root / "graphs" / f"{name}-{precision.value}-{target.litert_soc.lower()}.tflite"
                aot_result = aot_compile(lite, aot, target.litert_soc, allow_partial=opts.allow_partial)
                qnn_version = qnn_version or aot_result.qnn_version
                bundle.add(
                    f"graphs/{aot.name}",
                    Artifact.LITERT_AOT,
                    precision,
                    Runtime.LITERT_NPU,
                    GraphRole.NPU,
                    lite_psnr,
                    "PSNR-Y vs float torch of the same quantized graph before AOT, on host LiteRT CPU "
                    "(the NPU binary itself cannot run on the host)",
                )
                done()

        if Artifact.ONNX in artifacts and target.name == "cpu":
            from toolchain.deploy.onnx_qnn import run_onnx_cpu

            host_onnx = root / "graphs" / float_onnx.name
            shutil.copyfile(float_onnx, host_onnx)
            bundle.add(
                f"graphs/{host_onnx.name}",
                Artifact.ONNX,
                Precision.FP32,
                Runtime.ONNXRUNTIME_CPU,
                GraphRole.HOST_REFERENCE,
                accuracy(lambda t: run_onnx_cpu(host_onnx, t)),
                "PSNR-Y vs float torch, ONNX Runtime CPU",
            )

        warnings = [
            f"{g.file} measures {g.accuracy_psnr_y_db:.2f} dB PSNR-Y on the host, "
            f"below {opts.min_psnr_db:g} dB "
            "(only the exact QNN context binary is gated)"
            for g in bundle.graphs
            if g.accuracy_psnr_y_db is not None
            and g.accuracy_psnr_y_db < opts.min_psnr_db
            and g.artifact is not Artifact.QNN_EPCONTEXT
        ]

        aihub = None
        if opts.via is Via.AIHUB:
            done = timed("compile and profile on Qualcomm AI Hub")
            aihub = _profile_on_aihub(root, bundle.graphs, step)
            done()

        done = timed("manifest and report")
        spec = TileSpec.for_model(cfg)
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            model_id=model_id,
            preset=cfg.name,
            scale=cfg.scale,
            target=target.name,
            soc=target.soc,
            htp_arch=target.htp_arch,
            note=target.note,
            tile_spec=spec.to_json_dict(),
            example_plan_512=example_plan(spec),
            graphs=tuple(bundle.graphs),
            files=bundle.files(),
            verify_skipped=opts.skip_verify,
            accuracy_threshold_db=opts.min_psnr_db,
            toolchain=Toolchain(__version__, git_commit()),
            compiler=Compiler(
                qnn_sdk_version=qnn_version,
                litert_version=_version("ai-edge-litert"),
                onnxruntime_version=_version("onnxruntime"),
                min_runtime_note=(
                    f"the phone needs a QNN runtime >= {qnn_version} (the version that built the context "
                    "binaries) and LiteRT >= the version above"
                    if qnn_version
                    else "LiteRT >= the version above"
                ),
            ),
            created_utc=utc_now(),
        )
        write_manifest(root, manifest)
        (root / REPORT_NAME).write_text(render_report(manifest, seconds, aihub), encoding="utf-8")
        done()
    return ExportResult(out_dir, manifest, seconds, warnings, aihub)


def _profile_on_aihub(root: Path, graphs: list[GraphFile], step: Step) -> AihubProfile:
    """Compile the bundle's ONNX graph on AI Hub and profile it on a Galaxy S24 (see check_aihub_route)."""
    from toolchain.bench.aihub import profile_on_aihub

    graph = next(g for g in graphs if g.artifact is Artifact.ONNX)
    tensor = graph.inputs[0]
    return profile_on_aihub(
        root / graph.file, "onnx", {tensor.name: (tensor.shape, tensor.dtype)}, progress=step
    )


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
        "| graph | runtime | precision | role | size | PSNR-Y vs float |",
        "|---|---|---|---|---|---|",
    ]
    sizes = {f.file: f.size_bytes for f in manifest.files}
    for g in manifest.graphs:
        acc = f"{g.accuracy_psnr_y_db:.2f} dB" if g.accuracy_psnr_y_db is not None else "not verified"
        size = g.size_bytes + (sizes[g.context_binary] if g.context_binary else 0)  # + its context binary
        lines.append(
            f"| {g.file} | {g.runtime.value} | {g.precision.value} | {g.role.value} | "
            f"{size / 1e6:.2f} MB | {acc} |"
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
