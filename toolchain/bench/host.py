"""`toolchain bench host`: the bundle's host graphs, our torch model and the peers, timed in one run.

What runs, each on this machine's CPU, on the same input:

- ours, every ONNX graph of the bundle (ONNX Runtime CPU; QDQ graphs with graph optimizations
  off, as :mod:`toolchain.deploy.host_runner` runs them) and every ``.tflite`` graph (LiteRT
  CPU). A phone bundle's float ONNX graph is the app's CPU fallback: its run is labelled
  ``ours-onnxruntime-cpu-fallback``;
- ours, the checkpoint on each host engine of :mod:`toolchain.engines` (``toolchain upscale
  --engine``; the CLI's batch size), with the PSNR of every one of our outputs against the
  ``torch-reference`` engine's (the tile, and the image as the uint8 the CLI writes);
- the peers of :mod:`toolchain.bench.peers` (Real-ESRGAN-general-x4v3, ESPCN, FSRCNN, bicubic),
  each on the whole input (they do not tile).

Per tile (one LR tile -> one HR tile) and per image (``size x size`` -> x4, for our model the
manifest's tile plan with padding and blending) every runner gets ``warmup`` untimed calls and
``runs`` timed ones. The LiteRT A16W8 graph takes seconds per tile on a CPU, so its image is not
run unless asked (``full_litert``): it is computed as the plan's tile count x the median tile and
marked as computed. The result says, in its notes, that host numbers are not phone numbers.

:func:`bench_engines` times the engines alone on any model (``benchmarks/speed.py`` uses it for
the ``edge`` preset).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.bench.peers import DEFAULT_BASELINES, PEER_NAMES, check_peers, load_peer
from toolchain.bench.results import (
    HOST_NOTE,
    SCHEMA_VERSION,
    Accelerator,
    BenchResult,
    DeviceInfo,
    ImageMethod,
    ImageTiming,
    Memory,
    MemoryKind,
    RunResult,
    RunStatus,
    Source,
    Subject,
    Timing,
    Tool,
    Version,
    Workload,
    bundle_identity,
    computed_image,
    new_run_id,
    speedups,
)
from toolchain.deploy.bundle import verify_bundle
from toolchain.deploy.host_runner import HOST_RUNTIME_NAMES, HOST_RUNTIMES, BundleTileRunner, pick_graph
from toolchain.deploy.manifest import GraphRole
from toolchain.deploy.targets import model_id
from toolchain.engines import Engine, open_engine, resolve_engine
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, LoadedImage, load_image
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.edge_sdsr import EdgeSDSR, read_checkpoint_config
from toolchain.provenance import git_commit, utc_now
from toolchain.tiling import TileSpec, extract_tile, pad_image, plan_tiles
from toolchain.upscaler import NoiseConfig, TileRunner, upscale_loaded

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE = REPO_ROOT / "models" / "samples" / "sample.png"
DEFAULT_SIZE = 512
MAX_SIZE = math.isqrt(MAX_INPUT_PIXELS)
"""The largest --size: a square input within `toolchain upscale`'s limit."""
TORCH_BATCH = 4  # tiles per torch call, as `toolchain upscale` (upscale_file) uses
ENGINES = (Engine.ONNXRUNTIME, Engine.TORCH, Engine.TORCH_REFERENCE)
REFERENCE_ENGINE = Engine.TORCH_REFERENCE
DEFAULT_NOTE = "the default of `toolchain upscale` on CPU"
PSNR_NOTE = f"PSNR vs engine {REFERENCE_ENGINE.value} (RGB; image: the uint8 the CLI writes):"
_VERSIONED = ("torch", "onnxruntime", "ai-edge-litert", "opencv-contrib-python-headless", "numpy", "pillow")

Say = Callable[[str], None]


@dataclass(frozen=True)
class HostBenchOptions:
    """What `toolchain bench host` runs; see the CLI's --help for each option."""

    runs: int = 3
    warmup: int = 1
    image: Path = DEFAULT_IMAGE
    size: int = DEFAULT_SIZE
    checkpoint: Path | None = None  # None: the embedded default model
    baselines: Path = DEFAULT_BASELINES
    peers: tuple[str, ...] = PEER_NAMES
    full_litert: bool = False
    engines: tuple[Engine, ...] = ENGINES
    threads: int | None = None  # None: each runtime's default (all cores)

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ToolchainError(f"--runs must be >= 1, got {self.runs}")
        if self.warmup < 0:
            raise ToolchainError(f"--warmup must be >= 0, got {self.warmup}")
        if self.size < 1:
            raise ToolchainError(f"--size must be >= 1, got {self.size}")
        if self.size > MAX_SIZE:
            raise ToolchainError(
                f"--size {self.size} is above the input limit of {MAX_SIZE} ({MAX_SIZE}x{MAX_SIZE} = "
                f"{MAX_INPUT_PIXELS / 1e6:.1f} MP, as for `toolchain upscale`); "
                f"use --size {MAX_SIZE} or less"
            )
        if self.threads is not None and self.threads < 1:
            raise ToolchainError(f"--threads must be >= 1, got {self.threads}")
        if Engine.AUTO in self.engines:
            raise ToolchainError(
                "--engines lists engines by name; auto is not one (it picks onnxruntime on CPU)"
            )


def parse_engines(text: str) -> tuple[Engine, ...]:
    """``--engines onnxruntime,torch`` -> the engines, in order; an unknown name is a one-line error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [e.value for e in ENGINES]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ToolchainError(f"--engines {text!r}: use a comma-separated list of {', '.join(known)}")
    return tuple(Engine(n) for n in names)


def time_calls(fn: Callable[[], object], warmup: int, runs: int) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed (wall clock, ms)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return Timing(warmup, tuple(times))


class PeakRss:
    """Peak resident set size of this process since :meth:`reset` (Linux ``VmHWM``).

    ``reset`` writes 5 to ``/proc/self/clear_refs``, which restarts the high-water mark; where that
    is not allowed the peak is the process's since start (and :attr:`since_start` says so).
    """

    def __init__(self) -> None:
        self.since_start = False

    def reset(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.since_start = True

    def peak_bytes(self) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.since_start = True
        return peak_kib * 1024 if peak_kib > 0 else None


def prepare_image(path: Path, size: int) -> LoadedImage:
    """The benchmark input: ``path`` centre-cropped to ``size x size``, or mirrored out to it if smaller.

    Latency does not depend on content, but a real photo keeps the image path (I/O excluded) honest.
    """
    image = load_image(path, MAX_INPUT_PIXELS)
    rgb = image.rgb
    h, w = rgb.shape[:2]
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    y0, x0 = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
    rgb = np.ascontiguousarray(rgb[y0 : y0 + size, x0 : x0 + size], dtype=np.float32)
    return LoadedImage(rgb=rgb, alpha=None, source=Path(path))


def first_tile(rgb: np.ndarray, spec: TileSpec) -> np.ndarray:
    """The LR input of the image's first tile, as `toolchain upscale` feeds it: an image smaller than
    the tile is padded (the spec's pad mode) to the graph's fixed tile size."""
    plan = plan_tiles(rgb.shape[0], rgb.shape[1], spec)
    return extract_tile(pad_image(rgb, plan), plan, plan.tiles[0]).copy()


def host_device() -> DeviceInfo:
    """This machine: CPU model (``/proc/cpuinfo``), OS, core count."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = f"{platform.system()} {platform.release()} {platform.machine()}"
    return DeviceInfo("host", None, cpu, os_name, None, os.cpu_count(), ())


def host_versions() -> tuple[Version, ...]:
    found = [Version("python", platform.python_version())]
    for package in _VERSIONED:
        try:
            found.append(Version(package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(found)


def toolchain_tool() -> Tool:
    try:
        version = importlib.metadata.version("edge-sdsr-toolchain")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return Tool("toolchain", version, git_commit())


class _Bench:
    """Shared state of one host run: the input, the plan, timing settings, the memory probe and the
    last outputs of each of our runs (``outputs[label] = (tile, image or None)``, for the PSNR notes)."""

    def __init__(self, spec: TileSpec, options: HostBenchOptions, say: Say) -> None:
        self.options = options
        self.say = say
        self.spec = spec
        self.image = prepare_image(options.image, options.size)
        self.workload = Workload.for_image(self.spec, options.size, options.size)
        self.tile_plan = plan_tiles(self.spec.tile, self.spec.tile, self.spec)
        tile = first_tile(self.image.rgb, self.spec)
        self.tile_nhwc = np.ascontiguousarray(tile[None])
        self.tile_image = LoadedImage(rgb=tile, alpha=None, source=Path("tile"))
        self.memory = PeakRss()
        self.outputs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def timed(self, label: str, what: str, fn: Callable[[], object]) -> Timing:
        o = self.options
        self.say(f"{label}: {what}, {o.warmup} warm-up + {o.runs} timed")
        return time_calls(fn, o.warmup, o.runs)

    def peak(self) -> Memory | None:
        peak = self.memory.peak_bytes()
        return Memory(MemoryKind.RSS, peak) if peak else None

    def ours(
        self,
        label: str,
        runtime: str,
        graph: str | None,
        load: Callable[[], TileRunner],
        batch: int,
        full_image: bool,
        notes: tuple[str, ...],
    ) -> RunResult:
        """Load a tile runner, time one tile and (if ``full_image``) the whole image through the plan."""
        self.memory.reset()
        self.say(f"{label}: loading")
        start = time.perf_counter()
        runner = load()
        load_ms = (time.perf_counter() - start) * 1000.0
        runner.start_image(self.tile_plan)
        tiles = self.tile_plan.tiles
        last: dict[str, np.ndarray] = {}

        def run_tile() -> None:
            last["tile"] = runner(self.tile_nhwc, tiles)[0]

        def run_image() -> None:
            last["image"] = upscale_loaded(self.image, runner, self.spec, batch)[0]

        tile = self.timed(label, "one tile", run_tile)
        if full_image:
            image = self.timed(label, f"{self.workload.image_tiles}-tile image", run_image)
            image_timing = ImageTiming(ImageMethod.MEASURED, image.warmup, image.runs_ms)
        else:
            image_timing = computed_image(tile, self.workload)
        self.outputs[label] = (last["tile"], last.get("image"))
        return _cpu_run(
            label,
            Subject.OURS,
            runtime,
            graph,
            load_ms=load_ms,
            tile=tile,
            image=image_timing,
            memory=self.peak(),
            notes=notes,
        )

    def peer(self, name: str, threads: int | None) -> RunResult:
        self.memory.reset()
        self.say(f"{name}: loading")
        start = time.perf_counter()
        peer = load_peer(self.options.baselines, name, threads)
        load_ms = (time.perf_counter() - start) * 1000.0
        tile = self.timed(name, "one tile", lambda: peer.upscale(self.tile_image))
        image = self.timed(name, "whole image", lambda: peer.upscale(self.image))
        return _cpu_run(
            name,
            Subject.PEER,
            peer.runtime,
            None,
            load_ms=load_ms,
            tile=tile,
            image=ImageTiming(ImageMethod.MEASURED, image.warmup, image.runs_ms),
            memory=self.peak(),
            notes=("whole input, no tiles",),
        )


def _cpu_run(
    label: str,
    subject: Subject,
    runtime: str,
    graph: str | None,
    *,
    load_ms: float | None = None,
    tile: Timing | None = None,
    image: ImageTiming | None = None,
    memory: Memory | None = None,
    notes: tuple[str, ...] = (),
    skipped: str | None = None,
) -> RunResult:
    """A host run: asked for and run on the CPU, or, with ``skipped`` (the reason), not run."""
    return RunResult(
        label=label,
        subject=subject,
        requested=Accelerator.CPU,
        ran_on=None if skipped else Accelerator.CPU,
        runtime=runtime,
        graph=graph,
        status=RunStatus.SKIPPED if skipped else RunStatus.OK,
        reason=skipped,
        load_ms=load_ms,
        tile=tile,
        image=image,
        memory=memory,
        notes=notes,
    )


def bench_host(bundle_dir: Path, options: HostBenchOptions, say: Say | None = None) -> BenchResult:
    """Verify ``bundle_dir`` and time its host graphs, the torch model and the peers (see module doc)."""
    say = say or (lambda _message: None)
    bundle_dir = Path(bundle_dir)
    check_peers(options.baselines, options.peers)  # before the timing of our runs, not after
    manifest = verify_bundle(bundle_dir)
    bench = _Bench(manifest.parsed_tile_spec(), options, say)
    load_start = _load_average()
    runs: list[RunResult] = []
    for kind, name in HOST_RUNTIME_NAMES.items():
        runtime = name.value
        try:  # every graph of this runtime is timed; pick_graph's error says why a bundle has none
            pick_graph(manifest, kind, f"bundle {bundle_dir}")
        except ToolchainError as exc:
            runs.append(_cpu_run(f"ours-{runtime}", Subject.OURS, runtime, None, skipped=str(exc)))
            continue
        for graph in (g for g in manifest.graphs if g.artifact == HOST_RUNTIMES[kind]):
            label = f"ours-{runtime}" + ("-fallback" if graph.role is GraphRole.FALLBACK else "")
            full = kind == "onnx" or options.full_litert
            notes = [f"{graph.precision.value} {graph.role.value} graph"]
            if not full:
                notes.append("image not run (seconds per tile on a CPU): computed; --full-litert runs it")
            runs.append(
                bench.ours(
                    label,
                    runtime,
                    graph.file,
                    lambda graph=graph: BundleTileRunner(bundle_dir, manifest, graph, options.threads),
                    1,
                    full,
                    tuple(notes),
                )
            )
    checkpoint = options.checkpoint or DEFAULT_CHECKPOINT
    torch_model = model_id(read_checkpoint_config(checkpoint).name)
    engine_notes = ()
    if torch_model != manifest.model_id:
        engine_notes = (f"the torch checkpoint is {torch_model}, the bundle holds {manifest.model_id}",)
    with _threads(options.threads):
        runs += _engine_runs(bench, lambda: EdgeSDSR.from_pretrained(checkpoint), engine_notes, True)
    for name in options.peers:
        runs.append(bench.peer(name, options.threads))
    runs = _with_psnr_notes(runs, bench.outputs)
    since_start = bench.memory.since_start
    notes = (
        HOST_NOTE,
        f"input: {options.image.name} as {options.size}x{options.size} (mirrored out or centre-cropped)",
        f"load average (1 min) {load_start} at the start, {_load_average()} at the end, "
        f"on {os.cpu_count()} CPUs (a load above the CPU count means other work shared the CPU)",
    )
    return BenchResult(
        schema_version=SCHEMA_VERSION,
        source=Source.HOST,
        run_id=new_run_id(Source.HOST),
        created_utc=utc_now(),
        partial=False,
        tool=toolchain_tool(),
        versions=host_versions(),
        device=host_device(),
        bundle=bundle_identity(bundle_dir, manifest),
        workload=bench.workload,
        runs=tuple(runs),
        ratios=speedups(tuple(runs)),
        notes=notes + (("peak RSS is the process's since start (cannot reset VmHWM here)",) * since_start),
    )


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def bench_engines(
    load_model: Callable[[], EdgeSDSR],
    spec: TileSpec,
    options: HostBenchOptions,
    say: Say | None = None,
    full_image: bool = True,
) -> tuple[RunResult, ...]:
    """Time ``options.engines`` on ``load_model()``'s model alone (a tile and the image, tiled by
    ``spec``), each run noting its output's PSNR against ``torch-reference`` when that engine is listed.

    ``load_model`` is called once per engine and must return the same weights each time. Without
    ``full_image`` the image latency is computed (tiles x median tile) and marked so."""
    bench = _Bench(spec, options, say or (lambda _message: None))
    with _threads(options.threads):
        runs = _engine_runs(bench, load_model, (), full_image)
    return tuple(_with_psnr_notes(runs, bench.outputs))


def _engine_runs(
    bench: _Bench, load_model: Callable[[], EdgeSDSR], notes: tuple[str, ...], full_image: bool
) -> list[RunResult]:
    """One run per engine of the options, labelled ``ours-engine-<engine>``, the CLI's batch size."""
    import torch

    cpu = torch.device("cpu")
    default = resolve_engine(Engine.AUTO, cpu)
    threads = bench.options.threads
    thread_note = (
        f"{threads} thread(s)" if threads else f"{torch.get_num_threads()} torch threads, ORT default"
    )
    runs = []
    for engine in bench.options.engines:

        def load(engine: Engine = engine) -> TileRunner:
            return open_engine(load_model(), engine, cpu, NoiseConfig(), bench.spec.tile, threads)

        inside = " (run one at a time: a batch-1 graph)" if engine is Engine.ONNXRUNTIME else ""
        engine_notes = [f"engine {engine.value}, {thread_note}, {TORCH_BATCH} tiles per call{inside}"]
        if engine is default:
            engine_notes.append(DEFAULT_NOTE)
        runtime = "onnxruntime-cpu" if engine is Engine.ONNXRUNTIME else "torch"
        label = f"ours-engine-{engine.value}"
        if not full_image:
            engine_notes.append("image not run: computed from the tile")
        runs.append(bench.ours(label, runtime, None, load, TORCH_BATCH, full_image, (*engine_notes, *notes)))
    return runs


def _with_psnr_notes(
    runs: list[RunResult], outputs: dict[str, tuple[np.ndarray, np.ndarray | None]]
) -> list[RunResult]:
    """Each of our runs with a note of its outputs' PSNR against the torch-reference engine's."""
    reference = outputs.get(f"ours-engine-{REFERENCE_ENGINE.value}")
    if reference is None:
        return runs
    noted = []
    for run in runs:
        if run.label not in outputs or run.label == f"ours-engine-{REFERENCE_ENGINE.value}":
            noted.append(run)
            continue
        tile, image = outputs[run.label]
        parts = [f"tile {output_psnr(tile, reference[0], 1.0):.1f} dB"]
        if image is not None and reference[1] is not None:
            parts.append(f"image {output_psnr(image, reference[1], 255.0):.1f} dB")
        note = f"{PSNR_NOTE} {', '.join(parts)}"
        noted.append(dataclasses.replace(run, notes=(*run.notes, note)))
    return noted


def output_psnr(output: np.ndarray, reference: np.ndarray, peak: float) -> float:
    """PSNR in dB over all values of two same-shape outputs (``inf`` when identical)."""
    mse = float(np.mean((output.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * math.log10(peak**2 / mse)


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` for the block (None: unchanged), then restored."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
