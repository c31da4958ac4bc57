"""``toolchain export``: one checkpoint -> a verified, deployable bundle for one target.

The pipeline is a fixed sequence of numbered stages:

1. calibration and verification tiles from real images (LR tiles, NHWC, [0, 1]);
2. the float tile graph to ONNX and LiteRT (static ``lr_tile`` -> ``hr_tile`` shapes, NHWC I/O);
3. quantization (ONNX QDQ for QNN, ai-edge-quantizer for LiteRT) at the requested precision;
4. offline compilation for the NPU (ORT QNN EPContext and LiteRT AOT), refusing graphs that are
   not fully offloaded unless ``allow_partial``;
5. the accuracy gate: the exact SM8650 context binary runs in the x86 HTP emulator and its
   PSNR-Y against the float torch model must reach ``min_psnr_db``; fallbacks run on host LiteRT;
6. with ``via=Via.AIHUB``: the bundle's ONNX graph compiled and profiled on the target's phone through
   Qualcomm AI Hub (:mod:`toolchain.deploy.aihub`); job ids and figures go into report.md;
7. manifest.json + report.md (:mod:`toolchain.deploy.report`), written into a temporary folder
   renamed into place at the end.

:func:`export_model` is ``toolchain export``: the checks that need no model, the model, then
:func:`export_bundle`.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from toolchain import __version__
from toolchain.cpu_graph import export_cpu_onnx
from toolchain.deploy import aihub
from toolchain.deploy.aihub import AihubProfile
from toolchain.deploy.bundle import build_bundle_atomically, check_bundle_out, file_entry, write_manifest
from toolchain.deploy.export_options import ExportOptions, Via
from toolchain.deploy.graph import INPUT_NAME, OUTPUT_NAME, TileGraph, example_input, io_specs
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
from toolchain.deploy.qnn_pairing import check_loads_on_app, parse_qnn_version
from toolchain.deploy.report import render_report
from toolchain.deploy.targets import Artifact, Precision, Target, default_bundle_dir, model_id
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, collect_inputs, load_image
from toolchain.metrics.fidelity import psnr_y
from toolchain.model.config import ModelConfig, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.provenance import git_commit, utc_now
from toolchain.tiling import TileSpec

Step = Callable[[str], None]


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
    of the cpu target); fp16 NPU bundles, LiteRT-only selections and the s24-exynos target have
    none (a phone's float ONNX graph is its CPU fallback, not a graph for the NPU).
    """
    artifacts = _selected_artifacts(opts)
    quantized_qnn = Artifact.QNN_EPCONTEXT in artifacts and opts.precision is not Precision.FP16
    host_onnx = Artifact.ONNX in artifacts and not opts.target.on_phone
    if quantized_qnn or host_onnx:
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


class _Build:
    """What every route shares while one bundle is built: inputs, folders, the graphs so far."""

    def __init__(
        self,
        model: EdgeSDSR,
        name: str,
        opts: ExportOptions,
        root: Path,
        work: Path,
        calibration: list[np.ndarray],
        accuracy: Callable[[Callable[[np.ndarray], np.ndarray]], float | None],
        timed: Callable[[str], Callable[[], None]],
    ) -> None:
        self.name = name  # the model id: the stem of every graph file, as in the manifest
        self.target, self.precision, self.opts = opts.target, opts.precision, opts
        self.root, self.work, self.graphs_dir = root, work, root / "graphs"
        self.calibration = calibration
        self.accuracy = accuracy
        self.timed = timed
        self.float_graphs: dict[str, Path] = {}  # a _Route.float_format -> the float graph in work
        self.graphs: list[GraphFile] = []
        self.extra_files: list[str] = []
        self.quantized_tflite: tuple[Path, float | None] | None = None
        self.inputs, self.outputs = ((io,) for io in io_specs(model))

    def add(
        self,
        path: Path,
        artifact: Artifact,
        precision: Precision,
        runtime: Runtime,
        role: GraphRole,
        accuracy: float | None,
        method: str,
        context_binary: str | None = None,
        qnn_sdk_version: str | None = None,
    ) -> None:
        """Record a graph file already written under ``graphs/`` (an NPU graph with the QNN that built it)."""
        entry = file_entry(self.root, path.relative_to(self.root).as_posix())
        if context_binary is not None:
            self.extra_files.append(context_binary)
        self.graphs.append(
            GraphFile(
                entry.file,
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
                qnn_sdk_version,
            )
        )

    def files(self) -> tuple[FileEntry, ...]:
        names = [g.file for g in self.graphs] + self.extra_files
        return tuple(file_entry(self.root, n) for n in names)


# --- routes: one per artifact, each quantize -> compile -> verify -> GraphFile --------------------


def _qnn_epcontext_route(b: _Build) -> None:
    """QDQ ONNX (a host reference) -> QNN context binary -> gated on the HTP emulator -> NPU graph."""
    from toolchain.deploy.onnx_qnn import compile_qnn_context, quantize_qdq, run_epcontext, run_onnx_cpu

    target, precision = b.target, b.precision
    staged = b.work / f"{b.name}-{precision.value}-{target.litert_soc.lower()}.onnx"
    if precision is Precision.FP16:
        shutil.copyfile(b.float_graphs["onnx"], staged)
    else:
        done = b.timed("quantize ONNX (QDQ)")
        qdq = b.graphs_dir / f"{b.name}-{precision.value}.qdq.onnx"
        quantize_qdq(b.float_graphs["onnx"], qdq, b.calibration, precision)
        b.add(
            qdq,
            Artifact.ONNX,
            precision,
            Runtime.ONNXRUNTIME_CPU,
            GraphRole.HOST_REFERENCE,
            b.accuracy(lambda t: run_onnx_cpu(qdq, t)),
            "PSNR-Y vs float torch, ONNX Runtime CPU (graph optimizations off) on the QDQ graph",
        )
        done()
        shutil.copyfile(qdq, staged)
    done = b.timed(f"compile QNN context for {target.litert_soc}")
    result = compile_qnn_context(
        staged,
        b.work / "qnn",
        target.qnn_soc_model,
        target.htp_arch,
        fp16=precision is Precision.FP16,
        allow_partial=b.opts.allow_partial,
    )
    check_loads_on_app(result.qnn_sdk_version, f"the {target.soc} NPU graph")
    for src in (result.epcontext_path, result.context_binary_path):
        shutil.copyfile(src, b.graphs_dir / src.name)
    done()
    done = b.timed("verify on the HTP emulator")
    epcontext = b.graphs_dir / result.epcontext_path.name
    npu_psnr = b.accuracy(lambda t: run_epcontext(epcontext, t, target.qnn_soc_model, target.htp_arch))
    if npu_psnr is not None and npu_psnr < b.opts.min_psnr_db:
        raise ToolchainError(
            f"the {target.soc} NPU graph reaches {npu_psnr:.2f} dB PSNR-Y vs the float model, "
            f"below --min-psnr {b.opts.min_psnr_db:g}; use a16w8, more --calibration images, "
            "or lower --min-psnr"
        )
    b.add(
        epcontext,
        Artifact.QNN_EPCONTEXT,
        precision,
        Runtime.ONNXRUNTIME_QNN,
        GraphRole.NPU,
        npu_psnr,
        f"PSNR-Y vs float torch, the exact {result.soc} context binary in the x86 HTP emulator",
        context_binary=f"graphs/{result.context_binary_path.name}",
        qnn_sdk_version=result.qnn_sdk_version,
    )
    done()


def _quantized_tflite(b: _Build) -> tuple[Path, float | None]:
    """The LiteRT graph at the bundle's precision, verified on host LiteRT; built once per bundle.

    Beside an NPU graph it is the host reference; on a phone target without an NPU compiler it
    is the fallback the app runs (GPU for fp16, else CPU); on a host target the host reference.
    """
    if b.quantized_tflite is not None:
        return b.quantized_tflite
    from toolchain.deploy.litert import quantize_tflite, run_tflite

    precision = b.precision
    done = b.timed(f"quantize LiteRT ({precision.value})")
    lite = b.graphs_dir / f"{b.name}-{precision.value}.tflite"
    if precision is Precision.FP32:
        shutil.copyfile(b.float_graphs["tflite"], lite)
    else:
        quantize_tflite(b.float_graphs["tflite"], lite, b.calibration, precision)
    psnr = b.accuracy(lambda t: run_tflite(lite, t))
    npu_beside = Artifact.LITERT_AOT in b.target.artifacts
    runtime = Runtime.LITERT_GPU if precision is Precision.FP16 and not npu_beside else Runtime.LITERT_CPU
    role = GraphRole.FALLBACK if b.target.on_phone and not npu_beside else GraphRole.HOST_REFERENCE
    b.add(
        lite,
        Artifact.LITERT,
        precision,
        runtime,
        role,
        psnr,
        "PSNR-Y vs float torch, LiteRT CPU interpreter on the host",
    )
    done()
    b.quantized_tflite = (lite, psnr)
    return b.quantized_tflite


def _litert_route(b: _Build) -> None:
    """The LiteRT graph at the bundle's precision; beside an NPU graph also a float CPU fallback.

    An NPU bundle's quantized ``.tflite`` is a host reference: its A16W8 kernels take seconds per
    tile on a CPU. The float graph is what an app without ONNX Runtime runs on any phone's CPU.
    """
    _quantized_tflite(b)
    if Artifact.LITERT_AOT in b.target.artifacts and b.precision is not Precision.FP32:
        _float_tflite_fallback(b)


def _float_tflite_fallback(b: _Build) -> None:
    from toolchain.deploy.litert import run_tflite

    done = b.timed("LiteRT float CPU fallback")
    lite = b.graphs_dir / f"{b.name}-fp32.tflite"
    shutil.copyfile(b.float_graphs["tflite"], lite)
    b.add(
        lite,
        Artifact.LITERT,
        Precision.FP32,
        Runtime.LITERT_CPU,
        GraphRole.FALLBACK,
        b.accuracy(lambda t: run_tflite(lite, t)),
        "PSNR-Y vs float torch, LiteRT CPU interpreter on the host",
    )
    done()


def _litert_aot_route(b: _Build) -> None:
    """The quantized LiteRT graph compiled ahead of time for the SoC's NPU (one DISPATCH_OP)."""
    from toolchain.deploy.litert import aot_compile

    lite, psnr = _quantized_tflite(b)
    soc = b.target.litert_soc
    done = b.timed(f"LiteRT AOT for {soc}")
    aot = b.graphs_dir / f"{b.name}-{b.precision.value}-{soc.lower()}.tflite"
    result = aot_compile(lite, aot, soc, allow_partial=b.opts.allow_partial)
    b.add(
        aot,
        Artifact.LITERT_AOT,
        b.precision,
        Runtime.LITERT_NPU,
        GraphRole.NPU,
        psnr,
        "PSNR-Y vs float torch of the same quantized graph before AOT, on host LiteRT CPU "
        "(the NPU binary itself cannot run on the host)",
        qnn_sdk_version=result.qnn_version,
    )
    done()


def _onnx_route(b: _Build) -> None:
    """The float ONNX graph for ONNX Runtime CPU: the app's CPU fallback on a phone target (the
    quantized graphs are too slow on a CPU), the host reference on the cpu target."""
    from toolchain.deploy.onnx_qnn import run_onnx_cpu

    cpu_onnx = b.graphs_dir / b.float_graphs["cpu-onnx"].name
    shutil.copyfile(b.float_graphs["cpu-onnx"], cpu_onnx)
    b.add(
        cpu_onnx,
        Artifact.ONNX,
        Precision.FP32,
        Runtime.ONNXRUNTIME_CPU,
        GraphRole.FALLBACK if b.target.on_phone else GraphRole.HOST_REFERENCE,
        b.accuracy(lambda t: run_onnx_cpu(cpu_onnx, t)),
        "PSNR-Y vs float torch, ONNX Runtime CPU",
    )


@dataclass(frozen=True)
class _Route:
    float_format: str  # the float graph it starts from: "onnx" (NPU route), "cpu-onnx" or "tflite"
    build: Callable[[_Build], None]


ROUTES: dict[Artifact, _Route] = {
    Artifact.QNN_EPCONTEXT: _Route("onnx", _qnn_epcontext_route),
    Artifact.LITERT_AOT: _Route("tflite", _litert_aot_route),
    Artifact.LITERT: _Route("tflite", _litert_route),
    Artifact.ONNX: _Route("cpu-onnx", _onnx_route),
}
"""How each artifact is built, in manifest order; a new target is data in targets.py, a new
runtime or compiler one route here."""


def _selected_artifacts(opts: ExportOptions) -> list[Artifact]:
    artifacts = [a for a in opts.target.artifacts if opts.graphs.includes(a)]
    if not artifacts:
        raise ToolchainError(
            f"target {opts.target.name} has no {opts.graphs.value} graphs "
            f"(it builds {', '.join(a.value for a in opts.target.artifacts)}); choose --graphs all"
        )
    return artifacts


def _export_float_graphs(b: _Build, graph: TileGraph, example: torch.Tensor, formats: set[str]) -> None:
    if "onnx" in formats:
        from toolchain.deploy.onnx_qnn import export_onnx

        b.float_graphs["onnx"] = b.work / f"{b.name}-fp32-opset21.onnx"
        export_onnx(graph, example, b.float_graphs["onnx"])
    if "cpu-onnx" in formats:
        b.float_graphs["cpu-onnx"] = b.work / f"{b.name}-fp32.onnx"
        b.float_graphs["cpu-onnx"].write_bytes(
            export_cpu_onnx(graph, (example,), [INPUT_NAME], [OUTPUT_NAME])
        )
    if "tflite" in formats:
        from toolchain.deploy.litert import export_tflite

        b.float_graphs["tflite"] = b.work / f"{b.name}-fp32.tflite"
        export_tflite(graph, example, b.float_graphs["tflite"])


class _Stopwatch:
    """Times the export's stages: ``done = stopwatch(label)`` reports ``label`` to ``step``; ``done()``
    records its seconds (report.md lists them)."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.seconds: dict[str, float] = {}

    def __call__(self, label: str) -> Callable[[], None]:
        start = time.perf_counter()
        self.step(label)
        return lambda: self.seconds.__setitem__(label, round(time.perf_counter() - start, 2))


Accuracy = Callable[[Callable[[np.ndarray], np.ndarray]], float | None]
"""A graph's runner (NHWC tile -> tile) -> its worst PSNR-Y vs float torch on the verification tiles."""


def _calibration(graph: TileGraph, lr_tile: int, opts: ExportOptions) -> tuple[list[np.ndarray], Accuracy]:
    """The calibration tiles, and the accuracy check every route runs (None with ``skip_verify``)."""
    calibration = cut_tiles(opts.calibration_dir, lr_tile, opts.calibration_tiles, seed=0)
    check = cut_tiles(opts.calibration_dir, lr_tile, max(1, opts.verify_tiles), seed=1)
    with torch.inference_mode():
        reference = [graph(torch.from_numpy(t)).numpy() for t in check]

    def accuracy(run: Callable[[np.ndarray], np.ndarray]) -> float | None:
        if opts.skip_verify:
            return None
        return min(_psnr(run(t), ref) for t, ref in zip(check, reference, strict=True))

    return calibration, accuracy


def _host_warnings(graphs: list[GraphFile], min_psnr_db: float) -> list[str]:
    """Graphs below the threshold on the host; only the exact QNN context binary is gated."""
    return [
        f"{g.file} measures {g.accuracy_psnr_y_db:.2f} dB PSNR-Y on the host, "
        f"below {min_psnr_db:g} dB "
        "(only the exact QNN context binary is gated)"
        for g in graphs
        if g.accuracy_psnr_y_db is not None
        and g.accuracy_psnr_y_db < min_psnr_db
        and g.artifact is not Artifact.QNN_EPCONTEXT
    ]


def _manifest(model_id: str, config: ModelConfig, opts: ExportOptions, build: _Build) -> Manifest:
    target = opts.target
    spec = TileSpec.for_model(config)
    qnn_version = _newest_qnn(build.graphs)
    return Manifest(
        schema_version=SCHEMA_VERSION,
        model_id=model_id,
        preset=config.name,
        scale=config.scale,
        target=target.name,
        soc=target.soc,
        htp_arch=target.htp_arch,
        npu_soc_models=target.npu_soc_models,
        note=target.note,
        tile_spec=spec.to_json_dict(),
        example_plan_512=example_plan(spec),
        graphs=tuple(build.graphs),
        files=build.files(),
        verify_skipped=opts.skip_verify,
        accuracy_threshold_db=opts.min_psnr_db,
        toolchain=Toolchain(__version__, git_commit()),
        compiler=Compiler(
            qnn_sdk_version=qnn_version,
            litert_version=_version("ai-edge-litert"),
            onnxruntime_version=_version("onnxruntime"),
            min_runtime_note=(
                "each NPU graph needs a QNN runtime >= its graphs[].qnn_sdk_version (the QNN that "
                f"built it; the newest here: {qnn_version}) and LiteRT >= the version above"
                if qnn_version
                else "LiteRT >= the version above"
            ),
        ),
        created_utc=utc_now(),
    )


def export_bundle(
    model: EdgeSDSR, model_id: str, opts: ExportOptions, out_dir: Path, force: bool, step: Step
) -> ExportResult:
    """Build ``out_dir`` for ``opts.target``; nothing is left behind if any stage fails."""
    opts.target.check_precision(opts.precision)
    if opts.via is Via.AIHUB:
        check_aihub_route(opts)
    artifacts = _selected_artifacts(opts)
    cfg = model.config
    if cfg.scale != 4:
        raise ToolchainError(f"'{cfg.name}' is a x{cfg.scale} distillation teacher; export a x4 checkpoint")
    model = model.eval()
    timed = _Stopwatch(step)
    done = timed("calibration tiles")
    graph = TileGraph(model)
    calibration, accuracy = _calibration(graph, cfg.lr_tile, opts)
    done()

    with build_bundle_atomically(out_dir, force) as root, tempfile.TemporaryDirectory() as work_dir:
        (root / "graphs").mkdir()
        build = _Build(model, model_id, opts, root, Path(work_dir), calibration, accuracy, timed)
        done = timed("float graphs")
        _export_float_graphs(build, graph, example_input(model), {ROUTES[a].float_format for a in artifacts})
        done()
        for artifact, route in ROUTES.items():  # in ROUTES order, so the manifest lists graphs stably
            if artifact in artifacts:
                route.build(build)
        profile = None
        if opts.via is Via.AIHUB:
            done = timed("compile and profile on Qualcomm AI Hub")
            profile = _profile_on_aihub(root, build.graphs, opts.target, step)
            done()
        done = timed("manifest and report")
        manifest = _manifest(model_id, cfg, opts, build)
        write_manifest(root, manifest)
        (root / REPORT_NAME).write_text(render_report(manifest, timed.seconds, profile), encoding="utf-8")
        done()
    warnings = _host_warnings(build.graphs, opts.min_psnr_db)
    return ExportResult(out_dir, manifest, timed.seconds, warnings, profile)


def export_model(
    opts: ExportOptions, checkpoint: Path, preset: str | None, out: Path | None, force: bool, step: Step
) -> ExportResult:
    """``toolchain export``: ``checkpoint`` (or, with ``preset``, that preset randomly initialised)
    as a bundle in ``out`` (default ``exports/<model>-<target>-<precision>``).

    What can be refused without the model is refused before it loads: the precision, a ``--via
    aihub`` route without a graph for AI Hub or without AI Hub access, an ``out`` that cannot
    become the bundle folder.
    """
    opts.target.check_precision(opts.precision)
    if opts.via is Via.AIHUB:
        check_aihub_route(opts)
        aihub.check_aihub_ready()
    if out is not None:
        check_bundle_out(out, force)
    if preset is not None:
        model, name = EdgeSDSR(load_preset(preset)), f"{preset}-random-init"
    else:
        model = EdgeSDSR.from_pretrained(checkpoint)
        name = model.config.name
    out = out or default_bundle_dir(name, opts.target.name, opts.precision.value)
    return export_bundle(model, model_id(name), opts, out, force, step)


def _newest_qnn(graphs: list[GraphFile]) -> str | None:
    """The newest QNN among the NPU graphs: ``compiler.qnn_sdk_version``, what a 1.0 reader checks."""
    versions = [g.qnn_sdk_version for g in graphs if g.qnn_sdk_version is not None]
    return max(versions, key=parse_qnn_version) if versions else None


def _profile_on_aihub(root: Path, graphs: list[GraphFile], target: Target, step: Step) -> AihubProfile:
    """Compile the bundle's ONNX graph on AI Hub and profile it on the target's phone (see
    check_aihub_route)."""
    graph = next(g for g in graphs if g.artifact is Artifact.ONNX and g.role is not GraphRole.FALLBACK)
    tensor = graph.inputs[0]
    return aihub.profile_on_aihub(
        root / graph.file, "onnx", {tensor.name: (tensor.shape, tensor.dtype)}, target.aihub_device, step
    )
