"""The LiteRT route: tile graph -> ``.tflite`` -> quantized ``.tflite`` -> Qualcomm AOT ``.tflite``.

* :func:`export_tflite`: PyTorch -> float32 ``.tflite`` (litert-torch). The tile graph is
  already NHWC: litert-torch folds its I/O permutes away (the graph starts and ends with
  NHWC ops); the remaining TRANSPOSE ops come from GroupNorm's NCHW reshapes.
* :func:`quantize_tflite`: ai-edge-quantizer. A8W8 / A16W8 are static (calibrated) int8
  weights with int8 / int16 activations; FP16 stores conv / matmul weights as float16 behind
  DEQUANTIZE ops (TFLite's "float16 quantization" layout: the GPU delegate reads the
  float16 weights directly and runs in fp16 unless told to keep fp32; the CPU expands
  them to float32 once, at load).
  Graph inputs and outputs stay float32 for every precision: the quantized graph starts
  with a QUANTIZE op and ends in float, so the app feeds the same tensor everywhere.
* :func:`aot_compile`: LiteRT's Qualcomm compiler plugin turns the graph into one
  DISPATCH_OP whose QNN context binary is appended to the flatbuffer.
* :func:`run_tflite` and :func:`op_names`: host checks.

Qualcomm host libraries (:func:`ensure_litert_qnn_sdk`): the compiler plugin links
``libQnnHtp/System/Ir/Saver/Lpai.so`` and finds them through ``LD_LIBRARY_PATH``, which
LiteRT builds from the ``ai-edge-litert-sdk-qualcomm`` package *and the caller's own
value*. That package downloads the QAIRT SDK at install time and installs empty offline,
so instead the x86 QNN libraries of an ``onnxruntime-qnn`` wheel are unpacked into a cache
folder, with an empty stub for ``libQnnLpai.so`` (the LPAI backend, which the wheel lacks
and HTP compilation never calls), and that folder is put on ``LD_LIBRARY_PATH`` for the
compile only. The wheel is not the installed plugin: the plugin's QNN (2.49) is too old for
LiteRT's compiler, so this route has its own (toolchain/deploy/qnn_pairing.py). Nothing is
written into site-packages and the SDK package is not needed.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from toolchain.atomic import atomic_dir, atomic_path
from toolchain.deploy.litert_log import quiet_delegate_banner
from toolchain.deploy.manifest import QuantParams
from toolchain.deploy.qnn_pairing import LITERT_QNN_SDK, LITERT_QNN_WHEEL_VERSION, packaged_qnn_version
from toolchain.deploy.targets import Precision
from toolchain.errors import ToolchainError

DISPATCH_OP = "DISPATCH_OP"
"""The custom op that holds an NPU partition in an AOT-compiled ``.tflite``."""

INSTALL_HINT = "pip install -e '.[deploy]'"
QNN_HOST_LIBS = ("libQnnHtp.so", "libQnnSystem.so", "libQnnIr.so", "libQnnSaver.so", "libHtpPrepare.so")
"""x86 QNN libraries of the onnxruntime-qnn wheel that the Qualcomm compiler plugin loads."""
QNN_STUB_LIB = "libQnnLpai.so"
"""Linked by the compiler plugin, absent from the wheel, never called for HTP: an empty stub."""
QNN_WHEEL_ENV = "EDGE_SDSR_QNN_WHEEL"
"""A local onnxruntime-qnn wheel for the LiteRT route's QNN libraries (machines without PyPI)."""
_WHEEL_PACKAGE = "onnxruntime_qnn"
_WHEEL_HINT = (
    f"a downloaded onnxruntime-qnn {LITERT_QNN_WHEEL_VERSION} .whl "
    f"(pip download --no-deps onnxruntime-qnn=={LITERT_QNN_WHEEL_VERSION})"
)
_VERSION_FILE = "QNN_VERSION"

_CALIBRATION_HINT = "pass NHWC float32 tiles in [0, 1] with the graph's input shape"
_QNN_BUILD_RE = re.compile(rb"v(\d+\.\d+\.\d+)\.\d{12}")  # "v2.51.0.260929181845" in the context binary
_POT_LOG2_TOLERANCE = 2e-3  # TFLite's CheckedLog2 accepts 1e-3; keep a margin
_POT_NUDGE = 1.01


def _import(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ToolchainError(f"{package} is not installed; run {INSTALL_HINT}") from None


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise ToolchainError(f"{what} {path} does not exist; export it first")


def export_tflite(graph: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Convert ``graph`` (put in eval mode) traced at ``example`` to a float32 ``.tflite`` at ``path``."""
    litert_torch = _import("litert_torch", "litert-torch")
    from litert_torch import progress  # its step log goes to stdout, which is ours

    path = Path(path)
    quiet, progress.console.quiet = progress.console.quiet, True
    try:
        with torch.inference_mode():
            edge_model = litert_torch.convert(graph.eval(), (example,))
        with atomic_path(path) as tmp:
            edge_model.export(str(tmp))
    finally:
        progress.console.quiet = quiet


def quantize_tflite(
    float_path: Path, out_path: Path, calibration: Sequence[np.ndarray], precision: Precision
) -> tuple[QuantParams | None, QuantParams | None]:
    """Quantize the float ``.tflite`` at ``float_path`` to ``precision``; write it to ``out_path``.

    A8W8 and A16W8 are calibrated on ``calibration`` (NHWC float32 tiles in [0, 1], each
    with the graph's input shape); FP16 needs none. Returns the (input, output)
    quantization, ``None`` for a float tensor; this function keeps both float.
    """
    if precision is Precision.FP32:
        raise ToolchainError("fp32 needs no quantization; ship the float .tflite from export_tflite")
    quantizer = _import("ai_edge_quantizer.quantizer", "ai-edge-quantizer")
    recipe = _import("ai_edge_quantizer.recipe", "ai-edge-quantizer")
    qtyping = _import("ai_edge_quantizer.qtyping", "ai-edge-quantizer")
    float_path, out_path = Path(float_path), Path(out_path)
    _require_file(float_path, "float graph")
    ops = qtyping.TFLOperationName
    if precision is Precision.FP16:
        q = quantizer.Quantizer(str(float_path))
        fp16 = recipe.AlgorithmName.FLOAT_CASTING
        q.add_weight_only_config(".*", ops.ALL_SUPPORTED, 16, algorithm_key=fp16)
        calibration_result = None
    else:
        static = recipe.static_wi8_ai16() if precision is Precision.A16W8 else recipe.static_wi8_ai8()
        q = quantizer.Quantizer(str(float_path), static)
        for io in (ops.INPUT, ops.OUTPUT):  # keep float I/O: a QUANTIZE op starts the graph
            q.update_quantization_recipe(".*", io, algorithm_key=recipe.AlgorithmName.NO_QUANTIZE)
        feed = _calibration_feed(float_path, calibration)
        with quiet_delegate_banner():  # the quantizer's calibration interpreter applies XNNPACK
            calibration_result = q.calibrate(feed, num_threads=os.cpu_count() or 1)
        if precision is Precision.A16W8:
            _move_off_powers_of_two(calibration_result)
    try:
        result = q.quantize(calibration_result, enable_progress_bar=False, enable_progress_report=False)
    except ValueError as exc:  # ai-edge-quantizer reports unsupported tensors this way
        detail = " ".join(str(exc).split())[-300:]
        raise ToolchainError(
            f"ai-edge-quantizer could not quantize {float_path.name} to {precision.value}: {detail}; "
            "export the ONNX/QNN graph only with --graphs qnn"
        ) from None
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(bytes(result.quantized_model))
    return io_quantization(out_path)


def _calibration_feed(float_path: Path, calibration: Sequence[np.ndarray]) -> dict[str, list[dict]]:
    """``calibration`` as ai-edge-quantizer wants it: {signature: [{input name: tile}, ...]}."""
    interpreter_mod = _import("ai_edge_litert.interpreter", "ai-edge-litert")
    interpreter = interpreter_mod.Interpreter(model_path=str(float_path))
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1 or len(next(iter(signatures.values()))["inputs"]) != 1:
        raise ToolchainError(f"{float_path} must have one signature with one input, found {signatures}")
    key, signature = next(iter(signatures.items()))
    shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"])
    if not calibration:
        raise ToolchainError(f"no calibration tiles for static quantization; {_CALIBRATION_HINT}")
    tiles = [np.asarray(tile, dtype=np.float32) for tile in calibration]
    for i, tile in enumerate(tiles):
        if tile.shape != shape:
            raise ToolchainError(
                f"calibration tile {i} has shape {tile.shape}, the graph takes {shape}; {_CALIBRATION_HINT}"
            )
    return {key: [{signature["inputs"][0]: tile} for tile in tiles]}


def _move_off_powers_of_two(calibration_result: dict[str, dict[str, np.ndarray]]) -> None:
    """Widen by 1 % every calibrated range whose int16 scale would be a power of two.

    TFLite's CPU int16 ADD/SUB kernels switch to a fixed-point path (meant for LSTMs) when
    the scales of both inputs and the output are all powers of two, and that path cannot
    rescale an input coarser than the output: ``data->input1_shift <= 0 was not true``.
    Exact ranges such as the input normalisation [0, 1] -> [0, 2] -> [-1, 1] hit it. The
    NPU does not care; 1 % costs 0.014 bit of a 16-bit range.
    """
    for qsv in calibration_result.values():
        if not qsv:
            continue
        peak = max(abs(float(np.min(qsv["min"]))), abs(float(np.max(qsv["max"]))))
        if peak > 0 and abs(math.log2(peak) - round(math.log2(peak))) < _POT_LOG2_TOLERANCE:
            qsv["min"] = qsv["min"] * _POT_NUDGE
            qsv["max"] = qsv["max"] * _POT_NUDGE


def _read_model(path: Path) -> Any:
    """The ``.tflite`` at ``path`` as LiteRT's flatbuffer object tree (``schema_py_generated.ModelT``)."""
    flatbuffer_utils = _import("ai_edge_litert.tools.flatbuffer_utils", "ai-edge-litert")
    path = Path(path)
    _require_file(path, "LiteRT graph")
    try:
        return flatbuffer_utils.read_model(str(path))
    except Exception as exc:  # flatbuffers raises assorted errors on a corrupt file
        raise ToolchainError(
            f"{path} is not a readable .tflite ({type(exc).__name__}); export it again"
        ) from exc


def op_names(path: Path) -> list[str]:
    """Operator names of every subgraph of a ``.tflite`` in execution order (custom ops by their code).

    Uses LiteRT's own flatbuffer reader: the ``tflite`` PyPI parser reads only the
    deprecated opcode field and reports DISPATCH_OP as ADD.
    """
    schema = _import("ai_edge_litert.schema_py_generated", "ai-edge-litert")
    model = _read_model(path)
    builtin = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    names = []
    for code in model.operatorCodes:
        op = max(code.builtinCode, code.deprecatedBuiltinCode)
        is_custom = op == schema.BuiltinOperator.CUSTOM and code.customCode
        names.append(code.customCode.decode() if is_custom else builtin.get(op, f"BUILTIN_{op}"))
    return [names[op.opcodeIndex] for subgraph in model.subgraphs for op in subgraph.operators]


def io_quantization(path: Path) -> tuple[QuantParams | None, QuantParams | None]:
    """(input, output) quantization of a single-input, single-output ``.tflite``; ``None`` if float."""
    schema = _import("ai_edge_litert.schema_py_generated", "ai-edge-litert")
    model = _read_model(path)
    subgraph = model.subgraphs[0]
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ToolchainError(f"{path} must have one input and one output")
    types = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}

    def quant(index: int) -> QuantParams | None:
        tensor = subgraph.tensors[index]
        q = tensor.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        return QuantParams(float(q.scale[0]), int(q.zeroPoint[0]), types[tensor.type])

    return quant(subgraph.inputs[0]), quant(subgraph.outputs[0])


def run_tflite(path: Path, lr_tile_nhwc: np.ndarray) -> np.ndarray:
    """Run a host-runnable ``.tflite`` on the CPU: NHWC float tile in [0, 1] -> float32 output.

    Quantized I/O, if any, is quantized and dequantized here.
    """
    interpreter_mod = _import("ai_edge_litert.interpreter", "ai-edge-litert")
    path = Path(path)
    _require_file(path, "LiteRT graph")
    try:
        interpreter = interpreter_mod.Interpreter(model_path=str(path))
        with quiet_delegate_banner():
            interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        if DISPATCH_OP in op_names(path):
            raise ToolchainError(
                f"{path} is compiled for an NPU ({DISPATCH_OP}); run the .tflite it was compiled from"
            ) from None
        raise ToolchainError(f"LiteRT cannot load {path}: {str(exc).strip().splitlines()[0]}") from exc
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    x = np.asarray(lr_tile_nhwc, dtype=np.float32)
    shape = tuple(int(d) for d in inp["shape"])
    if x.shape != shape:
        raise ToolchainError(f"{path} takes a tile of shape {shape}, got {x.shape}")
    in_quant, out_quant = (_quant_of(d) for d in (inp, out))
    if in_quant is not None:
        lo, hi = in_quant.qrange
        x = np.clip(np.rint(x / in_quant.scale) + in_quant.zero_point, lo, hi)
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    if out_quant is not None:
        return (y.astype(np.float32) - out_quant.zero_point) * np.float32(out_quant.scale)
    return y.astype(np.float32)


def _quant_of(details: dict) -> QuantParams | None:
    scale, zero_point = details["quantization"]
    return QuantParams(float(scale), int(zero_point), np.dtype(details["dtype"]).name) if scale else None


def _qnn_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edge-sdsr" / "qnn"


def ensure_litert_qnn_sdk() -> Path:
    """Set up, once, the QNN host libraries for LiteRT's Qualcomm compiler plugin; returns their folder.

    The folder (under ``$XDG_CACHE_HOME`` or ``~/.cache``: ``edge-sdsr/qnn/litert-qnn-<QNN>/lib``)
    holds the x86 QNN libraries of the onnxruntime-qnn wheel that toolchain/deploy/qnn_pairing.py
    names for this route (QNN >= 2.50, which the plugin requires), unpacked from the wheel with
    its libc++ folder beside ``lib``, plus an empty ``libQnnLpai.so`` built with gcc.
    :func:`aot_compile` puts it on ``LD_LIBRARY_PATH``. The wheel is ``$EDGE_SDSR_QNN_WHEEL`` when
    set (offline machines), otherwise downloaded from PyPI with pip; nothing is installed.
    Idempotent and safe to run concurrently: an incomplete or stale folder is rebuilt.
    """
    root = _qnn_cache_dir() / f"litert-qnn-{LITERT_QNN_SDK}"
    if _qnn_dir_complete(root):
        return root / "lib"
    compiler = shutil.which("gcc")
    if compiler is None:
        raise ToolchainError(
            f"gcc not found: it builds the empty {QNN_STUB_LIB} stub the Qualcomm compiler plugin links; "
            "install gcc (e.g. apt-get install gcc)"
        )
    # an incomplete or stale cache folder is replaced
    with (
        atomic_dir(root, " (the QNN host library cache); delete it and retry") as staging,
        tempfile.TemporaryDirectory(prefix="qnn-wheel-") as download,
    ):
        _unpack_qnn_libs(_litert_qnn_wheel(Path(download)), staging)
        _build_stub(staging / "lib", compiler)
    if not _qnn_dir_complete(root):
        raise ToolchainError(f"could not set up the QNN host libraries in {root}; delete it and retry")
    return root / "lib"


def _litert_qnn_wheel(download_dir: Path) -> Path:
    """This route's onnxruntime-qnn wheel: ``$EDGE_SDSR_QNN_WHEEL``, else pip-downloaded here."""
    local = os.environ.get(QNN_WHEEL_ENV)
    if local:
        wheel = Path(local)
        if not wheel.is_file():
            raise ToolchainError(f"{QNN_WHEEL_ENV}={local} is not a file; point it at {_WHEEL_HINT}")
        return wheel
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    cmd += [f"onnxruntime-qnn=={LITERT_QNN_WHEEL_VERSION}", "--dest", str(download_dir)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        done = None
    wheels = sorted(download_dir.glob("onnxruntime_qnn-*.whl"))
    if done is None or done.returncode or not wheels:
        detail = "timed out" if done is None else (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ToolchainError(
            f"could not download onnxruntime-qnn {LITERT_QNN_WHEEL_VERSION} (QNN {LITERT_QNN_SDK}, whose x86 "
            f"libraries LiteRT's Qualcomm compiler loads): {detail}; without PyPI, set {QNN_WHEEL_ENV} to "
            f"{_WHEEL_HINT}"
        )
    return wheels[0]


def _unpack_qnn_libs(wheel: Path, root: Path) -> None:
    """Unpack the QNN libraries and their libc++ folder from ``wheel`` into ``root/lib`` and beside it."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            info = archive.read(f"{_WHEEL_PACKAGE}/build_and_package_info.py").decode()
            got = packaged_qnn_version(info)
            if got != LITERT_QNN_SDK:
                raise ToolchainError(
                    f"{wheel} holds {got or 'an unknown QNN'}, not QNN {LITERT_QNN_SDK}; "
                    f"point {QNN_WHEEL_ENV} at {_WHEEL_HINT}"
                )
            members = [f"{_WHEEL_PACKAGE}/{name}" for name in QNN_HOST_LIBS]
            members += sorted(
                n for n in names if n.startswith(f"{_WHEEL_PACKAGE}.libs/") and not n.endswith("/")
            )
            missing = [m for m in members if m not in names]
            if missing:
                raise ToolchainError(
                    f"{wheel} lacks {', '.join(missing)}; point {QNN_WHEEL_ENV} at {_WHEEL_HINT}"
                )
            for member in members:
                folder, name = member.split("/", 1)
                dest = root / ("lib" if folder == _WHEEL_PACKAGE else folder) / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
                dest.chmod(0o755)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ToolchainError(
            f"cannot unpack {wheel} ({exc}); point {QNN_WHEEL_ENV} at {_WHEEL_HINT}"
        ) from None
    (root / _VERSION_FILE).write_text(LITERT_QNN_SDK, encoding="utf-8")


def _qnn_dir_complete(root: Path) -> bool:
    lib = root / "lib"
    version = root / _VERSION_FILE
    return (
        version.is_file()
        and version.read_text(encoding="utf-8") == LITERT_QNN_SDK
        and all((lib / name).is_file() for name in (*QNN_HOST_LIBS, QNN_STUB_LIB))
    )


def _build_stub(lib: Path, compiler: str) -> None:
    cmd = [compiler, "-shared", "-fPIC", "-x", "c", "-", "-o", str(lib / QNN_STUB_LIB)]
    done = subprocess.run(cmd, input="", capture_output=True, text=True, check=False)
    if done.returncode:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"gcc could not build the {QNN_STUB_LIB} stub: {detail}")


@contextlib.contextmanager
def _ld_library_path(folder: Path) -> Iterator[None]:
    """Prepend ``folder`` to ``LD_LIBRARY_PATH`` for the block (LiteRT's plugin runner inherits it)."""
    old = os.environ.get("LD_LIBRARY_PATH")
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(folder), old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = old


@dataclass(frozen=True)
class AotResult:
    """One AOT-compiled ``.tflite``."""

    path: Path
    soc: str  # ai_edge_litert SocModel name, e.g. "SM8650"
    seconds: float
    ops: tuple[str, ...]  # op_names of the result: only DISPATCH_OP when fully offloaded
    qnn_version: str | None  # QNN SDK that built the context binary, e.g. "2.51.0"


def aot_compile(tflite_path: Path, out_path: Path, soc: str, allow_partial: bool = False) -> AotResult:
    """Compile ``tflite_path`` for the Qualcomm ``soc`` NPU with LiteRT; write it atomically to ``out_path``.

    LiteRT reports failures in its result instead of raising: any failed backend is a
    :class:`ToolchainError`, and so is a graph left partly on the CPU unless
    ``allow_partial`` (a graph with nothing offloaded always is).
    """
    qnn_lib = ensure_litert_qnn_sdk()
    aot = _import("ai_edge_litert.aot.aot_compile", "ai-edge-litert")
    qualcomm = _import("ai_edge_litert.aot.vendors.qualcomm.target", "ai-edge-litert")
    try:
        target = qualcomm.Target(qualcomm.SocModel(soc))
    except ValueError:
        known = ", ".join(m.value for m in qualcomm.SocModel if m.value != "ALL")
        raise ToolchainError(f"LiteRT knows no Qualcomm SoC '{soc}'; use one of {known}") from None
    tflite_path, out_path = Path(tflite_path), Path(out_path)
    _require_file(tflite_path, "LiteRT graph")
    with tempfile.TemporaryDirectory(prefix="litert-aot-") as work, _ld_library_path(qnn_lib):
        start = time.perf_counter()
        result = aot.aot_compile(str(tflite_path), output_dir=work, target=target)
        seconds = time.perf_counter() - start
        if result.failed_backends or len(result.models) != 1:
            errors = "; ".join(_failure_detail(error) for _, error in result.failed_backends)
            raise ToolchainError(
                f"LiteRT AOT compile of {tflite_path} for {soc} failed: {errors or 'no output'}"
            )
        compiled = Path(result.models[0].path)
        ops = tuple(op_names(compiled))
        data = compiled.read_bytes()
    on_cpu = sorted({op for op in ops if op != DISPATCH_OP})
    if DISPATCH_OP not in ops or (on_cpu and not allow_partial):
        offloaded = sum(op == DISPATCH_OP for op in ops)
        raise ToolchainError(
            f"LiteRT AOT for {soc} offloaded {offloaded} partition(s) and left {len(ops) - offloaded} ops "
            f"({', '.join(on_cpu)}) on the CPU; change the graph or pass allow_partial=True"
        )
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(data)
    match = _QNN_BUILD_RE.search(data)
    return AotResult(out_path, soc, seconds, ops, match.group(1).decode() if match else None)


def _failure_detail(error: str) -> str:
    """LiteRT's error, plus the most telling line of the plugin log it points to."""
    log = re.search(r"See (\S+\.error) for details", error)
    if log is None or not Path(log.group(1)).is_file():
        return error
    lines = Path(log.group(1)).read_text(errors="replace").splitlines()
    telling = [line.strip() for line in lines if "cannot open shared object" in line or "ERROR" in line]
    return f"{telling[-1]} (log: {log.group(1)})" if telling else error
