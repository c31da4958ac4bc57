"""The export bundle manifest: a versioned, strict JSON description of a bundle folder.

A bundle is a folder written by ``toolchain export``::

    <bundle>/
      manifest.json        this schema (:class:`Manifest`), written last and atomically
      report.md            human-readable export report (not hashed, optional)
      graphs/...           every other file, each listed in ``files`` with its sha256

The manifest carries every number the phone needs and must not hard-code: the graph
I/O (name, shape, dtype, layout, value range, quantization), the tile spec and an
example 512x512 tile plan to replay, the target SoC, and the tool versions the graphs
were compiled with (the app must ship a QNN runtime at least as new as the compiler).

Versioning: ``schema_version`` is ``"major.minor"``. Readers (this module and the
Kotlin ``BundleManifest``) refuse an unknown *major* version. Parsing is strict at every
version: unknown keys, missing keys (every key is required, ``null`` included) and wrong
types are one-line errors naming the key path (``manifest.graphs[0].inputs[0].quant``),
so a field is only ever added together with a reader that knows it.

Cross-field rules (every graph file and context binary is listed in ``files`` with the
same hash, the tile spec parses, the example plan matches it) are checked when a
:class:`Manifest` is built, so they hold for every manifest that was read or written.

This module is the schema and its parser, nothing else: writing, hashing, verifying and
replacing bundle folders live in :mod:`toolchain.deploy.bundle`, provenance (git commit,
time) in :mod:`toolchain.provenance`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from toolchain.configio import from_dict
from toolchain.deploy.qnn_pairing import parse_qnn_version
from toolchain.deploy.targets import Artifact, Precision
from toolchain.errors import ToolchainError
from toolchain.tiling import TileSpec, plan_tiles

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.md"
SCHEMA_VERSION = "1.1"
"""``major.minor``; bump the minor for additions, the major for changes old readers misread."""

EXAMPLE_PLAN_SIZE = 512
"""LR image side of :attr:`Manifest.example_plan_512`."""

REEXPORT = "re-export with `toolchain export`"

UNHASHED = (MANIFEST_NAME, REPORT_NAME)
"""Files of a bundle that ``files`` does not list."""
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_QUANT_RANGES = {
    "uint8": (0, 255),
    "int8": (-128, 127),
    "uint16": (0, 65535),
    "int16": (-32768, 32767),
}
IO_DTYPES = ("float32", "float16", *_QUANT_RANGES)
LAYOUTS = ("NHWC", "NCHW")


class Runtime(enum.StrEnum):
    """Which runtime executes a graph (and on which compute unit)."""

    ONNXRUNTIME_QNN = "onnxruntime-qnn"
    LITERT_NPU = "litert-npu"
    LITERT_GPU = "litert-gpu"
    LITERT_CPU = "litert-cpu"
    ONNXRUNTIME_CPU = "onnxruntime-cpu"


class GraphRole(enum.StrEnum):
    """What a graph is for: the NPU graph, a fallback the app may try, or a host reference."""

    NPU = "npu"
    FALLBACK = "fallback"
    HOST_REFERENCE = "host-reference"


def _check_relative(value: Any, name: str) -> None:
    """``value`` must be a relative POSIX path inside the bundle (no ``..``, no backslash)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty relative path, got {value!r}")
    path = PurePosixPath(value)
    if "\\" in value or path.is_absolute() or ".." in path.parts or str(path) != value:
        raise ValueError(f"{name} must be a normalised relative path inside the bundle, got {value!r}")


def _check_sha256(value: Any, name: str) -> None:
    if not isinstance(value, str) or not _SHA256_RE.match(value):
        raise ValueError(f"{name} must be 64 lowercase hex digits, got {value!r}")


def _check_finite(value: Any, name: str) -> None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _coerce(obj: Any, name: str, kind: type[enum.Enum]) -> None:
    """Store enum field ``name`` as ``kind`` so plain strings (JSON, callers) are accepted."""
    value = getattr(obj, name)
    try:
        object.__setattr__(obj, name, kind(value))
    except ValueError:
        valid = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"{name} {value!r} is not one of {valid}") from None


def _as_tuple(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, list):
            object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a graph input/output: ``real = (q - zero_point) * scale``."""

    scale: float
    zero_point: int
    dtype: str  # uint8 | int8 | uint16 | int16

    def __post_init__(self) -> None:
        if self.dtype not in _QUANT_RANGES:
            raise ValueError(f"quant dtype {self.dtype!r} is not one of {', '.join(_QUANT_RANGES)}")
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"quant scale must be a finite number > 0, got {self.scale!r}")
        lo, hi = _QUANT_RANGES[self.dtype]
        if not lo <= self.zero_point <= hi:
            raise ValueError(
                f"quant zero_point {self.zero_point} is outside the {self.dtype} range [{lo}, {hi}]"
            )

    @property
    def qrange(self) -> tuple[int, int]:
        """Smallest and largest integer of :attr:`dtype`."""
        return _QUANT_RANGES[self.dtype]


@dataclass(frozen=True)
class IOTensor:
    """One graph input or output as the app must feed/read it.

    ``dtype`` is the tensor's element type in the graph; when it is an integer type,
    ``quant`` says how it maps to real values (``quant.dtype == dtype``). ``value_range``
    is the real-valued ``(low, high)`` range, e.g. ``(0.0, 1.0)`` for RGB pixels.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str  # NHWC | NCHW
    value_range: tuple[float, ...]
    quant: QuantParams | None

    def __post_init__(self) -> None:
        _as_tuple(self, "shape", "value_range")
        if not self.name:
            raise ValueError("tensor name must not be empty")
        if len(self.shape) != 4 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in self.shape
        ):
            raise ValueError(f"tensor {self.name} shape must be 4 positive integers, got {self.shape}")
        if self.dtype not in IO_DTYPES:
            raise ValueError(f"tensor {self.name} dtype {self.dtype!r} is not one of {', '.join(IO_DTYPES)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"tensor {self.name} layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"tensor {self.name} value_range must be [low, high] with low < high")
        _check_finite(self.value_range[0], "value_range[0]")
        _check_finite(self.value_range[1], "value_range[1]")
        quantized = self.dtype in _QUANT_RANGES
        if quantized and self.quant is None:
            raise ValueError(f"tensor {self.name} has integer dtype {self.dtype} but no quant parameters")
        if not quantized and self.quant is not None:
            raise ValueError(f"tensor {self.name} has float dtype {self.dtype} but quant parameters")
        if self.quant is not None and self.quant.dtype != self.dtype:
            raise ValueError(
                f"tensor {self.name} quant dtype {self.quant.dtype} differs from dtype {self.dtype}"
            )

    @property
    def hw(self) -> tuple[int, int]:
        """Spatial size ``(height, width)`` according to :attr:`layout`."""
        return (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])

    @property
    def channels(self) -> int:
        return self.shape[3] if self.layout == "NHWC" else self.shape[1]


@dataclass(frozen=True)
class FileEntry:
    """A file of the bundle (path relative to the bundle folder) with its size and sha256."""

    file: str
    sha256: str
    size_bytes: int

    def __post_init__(self) -> None:
        _check_relative(self.file, "file")
        if self.file in UNHASHED:
            raise ValueError(f"{self.file} must not be listed in files")
        _check_sha256(self.sha256, f"sha256 of {self.file}")
        if self.size_bytes < 0:
            raise ValueError(f"size_bytes of {self.file} must be >= 0, got {self.size_bytes}")


@dataclass(frozen=True)
class GraphFile:
    """One graph of the bundle: which file, what kind, which runtime, its I/O and accuracy.

    ``context_binary`` is the separate QNN context binary of an EPContext model
    (``embed_mode=0``); it is listed in :attr:`Manifest.files` too. ``accuracy_psnr_y_db``
    is the graph's PSNR (Y channel) against the float torch model, measured as described
    by ``accuracy_method``; both are ``None`` when verification was skipped.
    ``qnn_sdk_version`` (schema 1.1) is the QNN SDK that compiled an NPU graph (``None`` for the
    others): the phone's QNN runtime must be at least as new. A 1.0 manifest has only
    ``compiler.qnn_sdk_version``; its NPU graphs are read with that version.
    """

    file: str
    sha256: str
    size_bytes: int
    artifact: Artifact
    precision: Precision
    runtime: Runtime
    role: GraphRole
    inputs: tuple[IOTensor, ...]
    outputs: tuple[IOTensor, ...]
    context_binary: str | None
    accuracy_psnr_y_db: float | None
    accuracy_method: str | None
    qnn_sdk_version: str | None

    def __post_init__(self) -> None:
        _check_relative(self.file, "file")
        _check_sha256(self.sha256, f"sha256 of {self.file}")
        if self.size_bytes < 0:
            raise ValueError(f"size_bytes of {self.file} must be >= 0, got {self.size_bytes}")
        _coerce(self, "artifact", Artifact)
        _coerce(self, "precision", Precision)
        _coerce(self, "runtime", Runtime)
        _coerce(self, "role", GraphRole)
        _as_tuple(self, "inputs", "outputs")
        if not self.inputs or not self.outputs:
            raise ValueError(f"graph {self.file} needs at least one input and one output")
        if self.context_binary is not None:
            _check_relative(self.context_binary, "context_binary")
        _check_finite(self.accuracy_psnr_y_db, "accuracy_psnr_y_db")
        if self.qnn_sdk_version is not None:
            parse_qnn_version(self.qnn_sdk_version)  # ValueError names the bad value
        if self.artifact is Artifact.QNN_EPCONTEXT and self.qnn_sdk_version is None:
            raise ValueError(
                f"graph {self.file} is a QNN context: qnn_sdk_version must name the QNN that built it"
            )

    @property
    def npu_only(self) -> bool:
        """True for graphs that only a phone's NPU can run (QNN EPContext, LiteRT AOT)."""
        return self.artifact in (Artifact.QNN_EPCONTEXT, Artifact.LITERT_AOT)


@dataclass(frozen=True)
class Toolchain:
    """The toolchain that wrote the bundle: package version and git commit (None outside git)."""

    version: str
    git_commit: str | None


@dataclass(frozen=True)
class Compiler:
    """Versions of the tools that produced the graphs; ``None`` when a tool was not used."""

    qnn_sdk_version: str | None
    litert_version: str | None
    onnxruntime_version: str | None
    min_runtime_note: str


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of an export bundle (see the module docstring)."""

    schema_version: str
    model_id: str
    preset: str
    scale: int
    target: str
    soc: str
    htp_arch: str | None
    npu_soc_models: tuple[str, ...]  # schema 1.1: Build.SOC_MODEL values the NPU graphs run on
    note: str
    tile_spec: dict[str, Any]  # TileSpec.to_json_dict()
    example_plan_512: dict[str, Any]  # plan_tiles(512, 512, spec).to_json_dict()
    graphs: tuple[GraphFile, ...]
    files: tuple[FileEntry, ...]
    verify_skipped: bool
    accuracy_threshold_db: float
    toolchain: Toolchain
    compiler: Compiler
    created_utc: str

    def __post_init__(self) -> None:
        _as_tuple(self, "graphs", "files", "npu_soc_models")
        if not _VERSION_RE.match(str(self.schema_version)):
            raise ValueError(f"schema_version must be 'major.minor', got {self.schema_version!r}")
        spec = self.parsed_tile_spec()
        if self.scale != spec.scale:
            raise ValueError(f"scale {self.scale} differs from tile_spec scale {spec.scale}")
        expected_plan = example_plan(spec)
        if self.example_plan_512 != expected_plan:
            raise ValueError(
                "example_plan_512 does not match tile_spec (it must be plan_tiles(512, 512, spec))"
            )
        _check_finite(self.accuracy_threshold_db, "accuracy_threshold_db")
        try:
            datetime.fromisoformat(self.created_utc)
        except (TypeError, ValueError):
            raise ValueError(f"created_utc must be an ISO 8601 time, got {self.created_utc!r}") from None
        if not self.graphs:
            raise ValueError("graphs must list at least one graph")
        listed: dict[str, FileEntry] = {}
        for entry in self.files:
            if entry.file in listed:
                raise ValueError(f"files lists {entry.file} twice")
            listed[entry.file] = entry
        for graph in self.graphs:
            entry = listed.get(graph.file)
            if entry is None:
                raise ValueError(f"graph {graph.file} is not listed in files")
            if (entry.sha256, entry.size_bytes) != (graph.sha256, graph.size_bytes):
                raise ValueError(f"graph {graph.file} sha256/size differ from its files entry")
            if graph.context_binary is not None and graph.context_binary not in listed:
                raise ValueError(
                    f"context binary {graph.context_binary} of {graph.file} is not listed in files"
                )

    def parsed_tile_spec(self) -> TileSpec:
        """:attr:`tile_spec` as a :class:`TileSpec` (raises ValueError if it does not parse)."""
        try:
            return TileSpec.from_json_dict(self.tile_spec)
        except ToolchainError as exc:
            raise ValueError(f"tile_spec: {exc}") from None

    @property
    def schema_major(self) -> int:
        return int(self.schema_version.split(".")[0])


_DICT_FIELDS = tuple(
    name for name, tp in typing.get_type_hints(Manifest).items() if typing.get_origin(tp) is dict
)
# configio handles dataclasses, enums, tuples and scalars; the free-form JSON objects
# (tile_spec, example_plan_512) are checked by Manifest itself, so parse the rest first.
_ManifestBody = dataclasses.make_dataclass(
    "Manifest",
    [(name, tp) for name, tp in typing.get_type_hints(Manifest).items() if name not in _DICT_FIELDS],
)


def example_plan(spec: TileSpec) -> dict[str, Any]:
    """The tile plan of a 512x512 LR image under ``spec``, as stored in the manifest."""
    return plan_tiles(EXAMPLE_PLAN_SIZE, EXAMPLE_PLAN_SIZE, spec).to_json_dict()


def manifest_from_dict(data: Any, where: str = "manifest") -> Manifest:
    """Strictly parse a manifest JSON object (any error is a one-line ToolchainError)."""
    if not isinstance(data, dict):
        raise ToolchainError(f"{where}: expected an object, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(Manifest)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ToolchainError(f"{where}: unknown key '{unknown[0]}' (valid keys: {', '.join(sorted(names))})")
    for name in _DICT_FIELDS:
        if name not in data:
            raise ToolchainError(f"{where}: missing key '{name}'")
        if not isinstance(data[name], dict):
            raise ToolchainError(f"{where}.{name}: expected an object, got {type(data[name]).__name__}")
    body = from_dict(_ManifestBody, {k: v for k, v in data.items() if k not in _DICT_FIELDS}, where)
    values = {f.name: getattr(body, f.name) for f in dataclasses.fields(body)}
    try:
        return Manifest(**values, **{name: data[name] for name in _DICT_FIELDS})
    except (TypeError, ValueError) as exc:
        raise ToolchainError(f"{where}: {exc}") from None


def _upgrade_1_0(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.0 manifest in the 1.1 schema: each NPU graph's ``qnn_sdk_version`` is the top-level one (the
    others None), and ``npu_soc_models`` is empty (1.0 did not name the SoC, so no phone takes its NPU
    graphs). Malformed parts are left as they are for the strict parser to name."""
    upgraded = {"npu_soc_models": [], **data}
    compiler = data.get("compiler")
    version = compiler.get("qnn_sdk_version") if isinstance(compiler, dict) else None
    npu = {a.value for a in (Artifact.QNN_EPCONTEXT, Artifact.LITERT_AOT)}
    graphs = data.get("graphs")
    if isinstance(graphs, list):
        upgraded["graphs"] = [
            {**g, "qnn_sdk_version": version if g.get("artifact") in npu else None}
            if isinstance(g, dict) and "qnn_sdk_version" not in g
            else g
            for g in graphs
        ]
    return upgraded


def read_manifest(bundle_dir: Path) -> Manifest:
    """Read and strictly validate ``bundle_dir/manifest.json``; every failure is one line."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        what = "is not a folder" if bundle_dir.exists() else "does not exist"
        raise ToolchainError(f"bundle {bundle_dir} {what}; pass the folder written by `toolchain export`")
    path = bundle_dir / MANIFEST_NAME
    if path.is_symlink() or (path.exists() and not path.is_file()):  # a FIFO would block the read
        state = "a link" if path.is_symlink() else "not a regular file"
        raise ToolchainError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} is {state}; a bundle is made of regular files, {REEXPORT}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolchainError(
            f"bundle {bundle_dir} has no {MANIFEST_NAME} (not a bundle, or an interrupted export); {REEXPORT}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolchainError(
            f"bundle {bundle_dir}: cannot read {MANIFEST_NAME} ({exc}); {REEXPORT}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ToolchainError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} is not valid JSON "
            f"(line {exc.lineno}: {exc.msg}); {REEXPORT}"
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    match = _VERSION_RE.match(version) if isinstance(version, str) else None
    if match is None:
        raise ToolchainError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} has no valid schema_version "
            f"(got {version!r}, expected 'major.minor'); {REEXPORT}"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    ours_major, ours_minor = (int(p) for p in SCHEMA_VERSION.split("."))
    if major != ours_major:
        raise ToolchainError(
            f"bundle {bundle_dir}: manifest schema version {version} is not supported "
            f"(this toolchain reads {ours_major}.x); use a matching toolchain or {REEXPORT}"
        )
    if minor == 0:
        data = _upgrade_1_0(data)
    try:
        return manifest_from_dict(data)
    except ToolchainError as exc:
        newer = f" (written by a newer toolchain: schema {version}, this one reads {SCHEMA_VERSION})"
        hint = newer if minor > ours_minor else ""
        raise ToolchainError(f"bundle {bundle_dir}: {exc}{hint}; {REEXPORT}") from None
