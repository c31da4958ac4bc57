"""Benchmark results: ONE versioned, strictly validated JSON schema for every source.

Who writes a :class:`BenchResult`:

- ``source: "device"``: the app's headless ``BenchmarkActivity`` on a phone (Kotlin writer
  ``ai.edgesdsr.core.bench``), pulled and checked by ``toolchain bench device``;
- ``source: "aihub"``: ``toolchain bench aihub`` from a Qualcomm AI Hub profile;
- ``source: "host"``: ``toolchain bench host`` on this machine, the peers included.

``toolchain bench report`` reads any mix of them. An example that the Kotlin writer must
reproduce key for key is ``tests/golden/bench/device_result.json``::

    {
      "schema_version": "1.0", "source": "device", "run_id": "...", "created_utc": "...",
      "partial": false,
      "tool": {"name", "version", "git_commit"},
      "versions": [{"name", "version"}, ...],          runtimes the numbers depend on
      "device": {"name", "manufacturer", "soc", "os", "android_sdk", "cpu_cores", "qnn_libs"},
      "bundle": {"name", "manifest_sha256", "schema_version", "target", "soc", "model_id"},
      "workload": {"tile", "overlap", "scale", "image_width", "image_height", "image_tiles"},
      "runs": [{
        "label", "subject", "requested", "ran_on", "runtime", "graph", "status", "reason",
        "load_ms",
        "tile": {"warmup", "runs_ms"} | null,           one LR tile -> one HR tile
        "image": {"method", "warmup", "runs_ms"} | null, the workload image, blending included
        "memory": {"kind", "peak_bytes"} | null,
        "notes": [...]
      }, ...],
      "ratios": [{"ours", "peer", "per", "speedup"}, ...],
      "notes": [...]
    }

Rules (checked whenever a result is built, so they hold for every result read or written):

- every key is required (``null`` where the type allows it), unknown keys and wrong types are
  one-line errors naming the key path (``result.runs[1].tile.runs_ms[3]``);
- ``schema_version`` is ``major.minor``; readers refuse an unknown major version;
- ``workload.image_tiles`` is the tile count of :func:`toolchain.tiling.plan_tiles` for that
  image and spec, never a constant;
- a run whose ``ran_on`` differs from ``requested``, or whose status is not ``ok``, says why in
  ``reason``; an ``ok`` run has tile timings; a ``failed`` or ``skipped`` one has none;
- ``image.method: "computed"`` means "not run: ``image_tiles`` x the median tile latency": exactly
  one value, which must equal that product; ``"measured"`` means the full image was run;
- ``ratios`` are ``speedup = peer median / ours median`` (> 1: ours is faster), recomputed here;
- memory is PSS on a device, RSS on the host, AI Hub's estimate for AI Hub.

Statistics (:func:`median_ms`, :func:`p90_ms`) live here too, so the CLI, the report and the
tests agree on them: p90 is linear interpolation between closest ranks (numpy's default).
"""

from __future__ import annotations

import enum
import json
import math
import re
import secrets
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolchain.atomic import write_text_atomic
from toolchain.configio import from_dict, to_dict
from toolchain.deploy.manifest import MANIFEST_NAME, Manifest
from toolchain.errors import ToolchainError
from toolchain.hashing import sha256_file
from toolchain.tiling import PadMode, TileSpec, plan_tiles, spec_problem

SCHEMA_VERSION = "1.0"
"""``major.minor``; bump the minor for additions, the major for changes old readers misread."""

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COMPUTED_RTOL = 1e-6

HOST_NOTE = "host numbers are not phone numbers"
PARTIAL_NOTE = "partial: not every requested accelerator finished"


class Source(enum.StrEnum):
    DEVICE = "device"
    AIHUB = "aihub"
    HOST = "host"


class Accelerator(enum.StrEnum):
    NPU = "npu"
    GPU = "gpu"
    CPU = "cpu"


class Subject(enum.StrEnum):
    """Whose numbers a run holds: our model (a bundle graph or torch) or a peer model."""

    OURS = "ours"
    PEER = "peer"


class RunStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # tried and could not load or run
    SKIPPED = "skipped"  # not tried (no graph for it, SoC mismatch, cancelled)


class ImageMethod(enum.StrEnum):
    MEASURED = "measured"  # the whole image was run, blending included
    COMPUTED = "computed"  # image_tiles x median tile latency, not run


class MemoryKind(enum.StrEnum):
    PSS = "pss"  # Android proportional set size of the app process
    RSS = "rss"  # host resident set size of the benchmark process
    AIHUB_ESTIMATE = "aihub-estimate"  # AI Hub's estimated inference peak memory


class RatioBasis(enum.StrEnum):
    TILE = "tile"
    IMAGE = "image"


_MEMORY_KIND = {
    Source.DEVICE: MemoryKind.PSS,
    Source.HOST: MemoryKind.RSS,
    Source.AIHUB: MemoryKind.AIHUB_ESTIMATE,
}


def _check_text(value: str, name: str) -> None:
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


def _check_ms(values: tuple[float, ...], name: str) -> None:
    for i, v in enumerate(values):
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name}[{i}] must be a finite number of milliseconds > 0, got {v!r}")


def median_ms(values: tuple[float, ...] | list[float]) -> float:
    """Median of raw timings (ms)."""
    if not values:
        raise ValueError("no timings")
    return float(statistics.median(values))


def p90_ms(values: tuple[float, ...] | list[float]) -> float:
    """90th percentile of raw timings (ms), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no timings")
    ordered = sorted(values)
    rank = 0.9 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass(frozen=True)
class Tool:
    """What wrote the result: ``toolchain`` or the app (``edge-sdsr-gallery``), version, commit."""

    name: str
    version: str
    git_commit: str | None

    def __post_init__(self) -> None:
        _check_text(self.name, "tool.name")
        _check_text(self.version, "tool.version")


@dataclass(frozen=True)
class Version:
    """One runtime the numbers depend on, e.g. ``onnxruntime`` ``1.32.0``, ``qnn`` ``2.51``."""

    name: str
    version: str

    def __post_init__(self) -> None:
        _check_text(self.name, "versions.name")
        _check_text(self.version, f"version of {self.name}")


@dataclass(frozen=True)
class DeviceInfo:
    """Where it ran.

    ``name``: the phone model (``ro.product.model``), the AI Hub device name, or ``host``.
    ``soc``: ``ro.soc.model`` (e.g. ``SM8650``), the AI Hub chipset, or the host CPU model.
    ``os``: e.g. ``Android 14``, ``Linux 6.1.0 x86_64``. ``android_sdk``: API level (phones only).
    ``qnn_libs``: QNN-capable vendor libraries found (``libQnnHtp*.so``, ``libcdsprpc.so``).
    """

    name: str
    manufacturer: str | None
    soc: str | None
    os: str
    android_sdk: int | None
    cpu_cores: int | None
    qnn_libs: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_text(self.name, "device.name")
        if self.android_sdk is not None and self.android_sdk < 1:
            raise ValueError(f"device.android_sdk must be >= 1, got {self.android_sdk}")
        if self.cpu_cores is not None and self.cpu_cores < 1:
            raise ValueError(f"device.cpu_cores must be >= 1, got {self.cpu_cores}")


@dataclass(frozen=True)
class BundleInfo:
    """The bundle measured: its folder name and the identity of its manifest."""

    name: str
    manifest_sha256: str
    schema_version: str
    target: str
    soc: str
    model_id: str

    def __post_init__(self) -> None:
        _check_text(self.name, "bundle.name")
        if not _SHA256_RE.match(self.manifest_sha256):
            raise ValueError(
                f"bundle.manifest_sha256 must be 64 lowercase hex digits, got {self.manifest_sha256!r}"
            )
        if not _VERSION_RE.match(self.schema_version):
            raise ValueError(f"bundle.schema_version must be 'major.minor', got {self.schema_version!r}")


@dataclass(frozen=True)
class Workload:
    """The tile and the image the timings refer to (normally 128 -> 512 tiles, 512 -> 2048 images)."""

    tile: int
    overlap: int
    scale: int
    image_width: int
    image_height: int
    image_tiles: int

    def __post_init__(self) -> None:
        if self.image_width < 1 or self.image_height < 1:
            raise ValueError(
                f"workload image must be at least 1x1, got {self.image_width}x{self.image_height}"
            )
        expected = plan_tiles(self.image_height, self.image_width, self.spec).num_tiles
        if self.image_tiles != expected:
            raise ValueError(
                f"workload.image_tiles is {self.image_tiles} but the tile plan of a "
                f"{self.image_width}x{self.image_height} image has {expected} tiles"
            )

    @property
    def spec(self) -> TileSpec:
        """The tile spec (padding does not change counts or cost)."""
        problem = spec_problem(self.tile, self.overlap, self.scale, PadMode.REPLICATE)
        if problem is not None:  # what failed; the reader of the result file says what to do
            raise ValueError(f"workload: tile spec: {problem[0]}")
        return TileSpec(tile=self.tile, overlap=self.overlap, scale=self.scale)

    @classmethod
    def for_image(cls, spec: TileSpec, width: int, height: int) -> Workload:
        """The workload of a ``width x height`` LR image under ``spec`` (tile count from the plan)."""
        tiles = plan_tiles(height, width, spec).num_tiles
        return cls(spec.tile, spec.overlap, spec.scale, width, height, tiles)


class _TimedRuns:
    """What :class:`Timing` and :class:`ImageTiming` share: the checks of ``warmup`` and the raw
    ``runs_ms``, and their statistics (a plain base: it adds no schema field)."""

    warmup: int
    runs_ms: tuple[float, ...]

    def _check_runs(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not self.runs_ms:
            raise ValueError("runs_ms must hold at least one timed run")
        _check_ms(self.runs_ms, "runs_ms")

    @property
    def median_ms(self) -> float:
        return median_ms(self.runs_ms)

    @property
    def p90_ms(self) -> float:
        return p90_ms(self.runs_ms)


@dataclass(frozen=True)
class Timing(_TimedRuns):
    """``warmup`` untimed runs, then the raw timed runs in order (milliseconds)."""

    warmup: int
    runs_ms: tuple[float, ...]

    def __post_init__(self) -> None:
        self._check_runs()


@dataclass(frozen=True)
class ImageTiming(_TimedRuns):
    """Per-image latency: measured runs, or one value computed as image_tiles x median tile."""

    method: ImageMethod
    warmup: int
    runs_ms: tuple[float, ...]

    def __post_init__(self) -> None:
        self._check_runs()
        if self.method is ImageMethod.COMPUTED and (self.warmup != 0 or len(self.runs_ms) != 1):
            raise ValueError("a computed image latency is one value with warmup 0")


@dataclass(frozen=True)
class Memory:
    kind: MemoryKind
    peak_bytes: int

    def __post_init__(self) -> None:
        if self.peak_bytes < 1:
            raise ValueError(f"memory.peak_bytes must be >= 1, got {self.peak_bytes}")


@dataclass(frozen=True)
class RunResult:
    """One accelerator (device, AI Hub) or one model/runtime (host, peers included).

    ``label`` is unique within a result (e.g. ``npu``, ``onnxruntime-cpu``, ``realesrgan-general-x4v3``).
    ``requested`` is the accelerator asked for, ``ran_on`` the one that actually ran (``None``:
    nothing ran), ``runtime`` what executed it (``onnxruntime-qnn``, ``litert-gpu``, ``torch``, ...),
    ``graph`` the bundle file (``None`` for torch and peers). ``load_ms``: session or model load and
    compile time.
    """

    label: str
    subject: Subject
    requested: Accelerator
    ran_on: Accelerator | None
    runtime: str | None
    graph: str | None
    status: RunStatus
    reason: str | None
    load_ms: float | None
    tile: Timing | None
    image: ImageTiming | None
    memory: Memory | None
    notes: tuple[str, ...]

    def __post_init__(self) -> None:
        where = f"run {self.label!r}"
        _check_text(self.label, "label")
        if self.reason is not None:
            _check_text(self.reason, f"{where} reason")
        if self.load_ms is not None and (not math.isfinite(self.load_ms) or self.load_ms < 0):
            raise ValueError(f"{where}: load_ms must be a finite number >= 0, got {self.load_ms!r}")
        if self.status is RunStatus.OK:
            if self.ran_on is None or self.runtime is None:
                raise ValueError(f"{where}: status ok needs ran_on and runtime")
            if self.tile is None:
                raise ValueError(f"{where}: status ok needs tile timings")
            if self.ran_on is not self.requested and self.reason is None:
                raise ValueError(
                    f"{where}: ran on {self.ran_on.value}, not the requested {self.requested.value}, "
                    "so reason must say why"
                )
        else:
            if self.ran_on is not None or self.tile is not None or self.image is not None:
                raise ValueError(f"{where}: a {self.status.value} run has no ran_on, tile or image timings")
            if self.reason is None:
                raise ValueError(f"{where}: a {self.status.value} run needs a reason")
        if self.image is not None and self.image.method is ImageMethod.COMPUTED and self.tile is None:
            raise ValueError(f"{where}: a computed image latency needs tile timings")


@dataclass(frozen=True)
class Ratio:
    """``speedup = median(peer) / median(ours)`` per tile or per image (> 1: ours is faster)."""

    ours: str
    peer: str
    per: RatioBasis
    speedup: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.speedup) or self.speedup <= 0:
            raise ValueError(f"ratio speedup must be a finite number > 0, got {self.speedup!r}")


@dataclass(frozen=True)
class BenchResult:
    """One benchmark run from one source (see the module docstring)."""

    schema_version: str
    source: Source
    run_id: str
    created_utc: str
    partial: bool
    tool: Tool
    versions: tuple[Version, ...]
    device: DeviceInfo
    bundle: BundleInfo
    workload: Workload
    runs: tuple[RunResult, ...]
    ratios: tuple[Ratio, ...]
    notes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _VERSION_RE.match(self.schema_version):
            raise ValueError(f"schema_version must be 'major.minor', got {self.schema_version!r}")
        if not _RUN_ID_RE.match(self.run_id):
            raise ValueError(
                f"run_id must be 1-128 letters, digits, '.', '_' or '-' (it names a file), "
                f"got {self.run_id!r}"
            )
        try:
            datetime.fromisoformat(self.created_utc)
        except (TypeError, ValueError):
            raise ValueError(f"created_utc must be an ISO 8601 time, got {self.created_utc!r}") from None
        if not self.runs:
            raise ValueError("runs must list at least one run")
        labels = [r.label for r in self.runs]
        duplicate = next((label for label in labels if labels.count(label) > 1), None)
        if duplicate is not None:
            raise ValueError(f"run label {duplicate!r} is used twice")
        by_label = {r.label: r for r in self.runs}
        kind = _MEMORY_KIND[self.source]
        for run in self.runs:
            if run.memory is not None and run.memory.kind is not kind:
                raise ValueError(
                    f"run {run.label!r}: memory kind {run.memory.kind.value} in a {self.source.value} result "
                    f"(expected {kind.value})"
                )
            image = run.image
            if image is not None and image.method is ImageMethod.COMPUTED and run.tile is not None:
                expected = self.workload.image_tiles * run.tile.median_ms
                if not math.isclose(image.runs_ms[0], expected, rel_tol=_COMPUTED_RTOL):
                    raise ValueError(
                        f"run {run.label!r}: computed image latency {image.runs_ms[0]:g} ms is not "
                        f"image_tiles x median tile = {self.workload.image_tiles} x {run.tile.median_ms:g} ms"
                    )
        for ratio in self.ratios:
            for role, label, subject in (
                ("ours", ratio.ours, Subject.OURS),
                ("peer", ratio.peer, Subject.PEER),
            ):
                if label not in by_label:
                    raise ValueError(f"ratio {role} {label!r} is not a run label")
                if by_label[label].subject is not subject:
                    raise ValueError(f"ratio {role} {label!r} is not a run of subject {subject.value}")
            expected = _speedup(by_label[ratio.ours], by_label[ratio.peer], ratio.per)
            if expected is None or not math.isclose(ratio.speedup, expected, rel_tol=_COMPUTED_RTOL):
                raise ValueError(
                    f"ratio {ratio.ours} vs {ratio.peer} per {ratio.per.value}: speedup {ratio.speedup:g} "
                    f"does not match the runs' medians ({expected})"
                )

    @property
    def schema_major(self) -> int:
        return int(self.schema_version.split(".")[0])


def _timing(run: RunResult, per: RatioBasis) -> Timing | ImageTiming | None:
    return run.tile if per is RatioBasis.TILE else run.image


def _speedup(ours: RunResult, peer: RunResult, per: RatioBasis) -> float | None:
    mine, theirs = _timing(ours, per), _timing(peer, per)
    if mine is None or theirs is None:
        return None
    return theirs.median_ms / mine.median_ms


def speedups(runs: tuple[RunResult, ...]) -> tuple[Ratio, ...]:
    """Every ours-vs-peer speedup, per tile and per image, that both runs have timings for."""
    ratios = []
    for ours in (r for r in runs if r.subject is Subject.OURS):
        for peer in (r for r in runs if r.subject is Subject.PEER):
            for per in RatioBasis:
                value = _speedup(ours, peer, per)
                if value is not None:
                    ratios.append(Ratio(ours.label, peer.label, per, value))
    return tuple(ratios)


def bundle_identity(bundle_dir: Path, manifest: Manifest) -> BundleInfo:
    """The :class:`BundleInfo` of a (verified) bundle folder: its name and its manifest's hash."""
    bundle_dir = Path(bundle_dir)
    return BundleInfo(
        name=bundle_dir.absolute().name,
        manifest_sha256=sha256_file(bundle_dir / MANIFEST_NAME),
        schema_version=manifest.schema_version,
        target=manifest.target,
        soc=manifest.soc,
        model_id=manifest.model_id,
    )


def computed_image(tile: Timing, workload: Workload) -> ImageTiming:
    """The per-image latency of a run whose image was not run: image_tiles x median tile."""
    return ImageTiming(ImageMethod.COMPUTED, 0, (workload.image_tiles * tile.median_ms,))


def new_run_id(source: Source) -> str:
    """A file-name-safe, unique run id: ``<source>-YYYYmmdd-HHMMSS-<4 hex digits>``."""
    return f"{source.value}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def result_from_dict(data: Any, where: str = "result") -> BenchResult:
    """Strictly parse a result JSON object (any error is a one-line ToolchainError with the key path)."""
    return from_dict(BenchResult, data, where)


def result_to_json(result: BenchResult) -> str:
    """Strict JSON of ``result`` (2-space indent, no NaN/Infinity), newline-terminated."""
    return json.dumps(to_dict(result), indent=2, allow_nan=False) + "\n"


def write_result(path: Path, result: BenchResult, hint: str = "") -> Path:
    """Write ``result`` to ``path`` atomically (temp file + rename); returns the path.

    A failure is one line naming ``path``, plus ``hint`` (what to do)."""
    write_text_atomic(Path(path), result_to_json(result), hint)
    return Path(path)


RESULT_FIX = "pass a JSON written by `toolchain bench`"
"""What to do about a file that is not a readable result (``toolchain bench report``)."""


def parse_result_text(text: str, where: str, fix: str = RESULT_FIX) -> BenchResult:
    """Parse and validate result JSON text; ``where`` names the file and ``fix`` ends every error."""
    if not text.strip():
        raise ToolchainError(f"{where} is empty (a run cut short?); {fix}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolchainError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg}); {fix}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    match = _VERSION_RE.match(version) if isinstance(version, str) else None
    if match is None:
        raise ToolchainError(
            f"{where} is not a benchmark result: no valid schema_version "
            f"(got {version!r}, expected 'major.minor'); {fix}"
        )
    ours_major, ours_minor = (int(p) for p in SCHEMA_VERSION.split("."))
    major, minor = int(match.group(1)), int(match.group(2))
    if major != ours_major:
        raise ToolchainError(
            f"{where}: result schema version {version} is not supported (this toolchain reads "
            f"{ours_major}.x); update the toolchain or the app so both use the same schema"
        )
    try:
        return result_from_dict(data)
    except ToolchainError as exc:
        newer = f" (written for a newer schema {version}; this toolchain reads {SCHEMA_VERSION})"
        raise ToolchainError(f"{where}: {exc}{newer if minor > ours_minor else ''}; {fix}") from None


def read_result(path: Path) -> BenchResult:
    """Read and strictly validate one result file; every failure is one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ToolchainError(f"result {path} is a folder; pass the result files in it ({path / '*.json'})")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolchainError(f"result {path} does not exist; {RESULT_FIX}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ToolchainError(f"cannot read result {path} ({reason}); {RESULT_FIX}") from None
    return parse_result_text(text, f"result {path}")
