"""ONNX Runtime QNN route to the Snapdragon NPU: ONNX export -> QDQ -> EPContext (QNN context binary).

Steps (all offline, x86):

1. :func:`export_onnx`: the static-shape NHWC tile graph as one ONNX file (opset 21).
2. :func:`quantize_qdq`: A16W8 or A8W8 QDQ model calibrated on LR tiles; returns the I/O
   quantization parameters for the bundle manifest. FP16 has no QDQ step: the float model is
   compiled with ``fp16=True``.
3. :func:`compile_qnn_context`: ahead-of-time compilation for one SoC into an EPContext ONNX
   model plus a separate QNN context binary, refusing graphs that are not fully on the NPU.
4. :func:`run_epcontext`: run that exact binary in the x86 HTP emulator (bit-accurate, slow);
   :func:`run_onnx_cpu` is the plain CPU reference for float and QDQ models.

Opset 21, not 20: at opset 20 the exporter lowers GroupNorm to Reshape -> InstanceNormalization
-> Reshape, and QNN 2.51's HTP (checked in the x86 emulator) computes that pattern wrongly when a
SiLU and a Conv follow: the tiny preset's A16W8 emulator output was 19 dB PSNR away from the same
QDQ model on CPU (A8W8 likewise). Opset 21 keeps one GroupNormalization node, which QNN maps to its
own GroupNorm op (65 dB). The quantizer's pre-processing would expand it again, so it runs with
``skip_optimization=True``.

Partition counts come from ONNX Runtime's own record of which execution provider got each node
(``session.record_ep_graph_assignment_info``), taken while compiling. The graph's float I/O is
quantized on the NPU (``offload_graph_io_quantization=0``), so a fully offloaded model is one
EPContext node; by default ORT would leave the input Q and output DQ to the CPU.
"""

from __future__ import annotations

import mmap
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize
from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config
from onnxruntime.quantization.shape_inference import quant_pre_process

from toolchain.deploy.graph import INPUT_NAME, OUTPUT_NAME
from toolchain.deploy.targets import Precision
from toolchain.errors import ToolchainError

ONNX_OPSET = 21
QNN_EP = "QNNExecutionProvider"

_ACTIVATION_TYPES = {Precision.A16W8: QuantType.QUInt16, Precision.A8W8: QuantType.QUInt8}
# Ops that only move data: the quantizer puts the graph-input Q after them (lr_tile -> Transpose -> Q).
_LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten"})
_TARGET_RE = re.compile(rb"soc_type=(\w+);arch=(\w+)")


@dataclass(frozen=True)
class QnnCompileResult:
    """What :func:`compile_qnn_context` produced.

    ``qnn_nodes``/``cpu_nodes`` count the nodes of the (ORT-transformed) input graph that ONNX
    Runtime assigned to the QNN EP and to any other EP. ``soc`` is the SoC named inside the
    context binary; ``qnn_sdk_version`` is the QNN SDK that compiled it (the phone needs a QNN
    runtime at least this new).
    """

    epcontext_path: Path
    context_binary_path: Path
    qnn_nodes: int
    cpu_nodes: int
    seconds: float
    soc: str
    qnn_sdk_version: str


def export_onnx(graph: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export ``graph`` (eval mode, one NHWC input, one output) as a single static-shape ONNX file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            graph.eval(),
            (example,),
            path,
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    for kind, values, name in (
        ("input", model.graph.input, INPUT_NAME),
        ("output", model.graph.output, OUTPUT_NAME),
    ):
        if [v.name for v in values] != [name]:
            raise ToolchainError(
                f"exported {path} has {kind}s {[v.name for v in values]}, expected ['{name}']"
            )
        dims = values[0].type.tensor_type.shape.dim
        if not dims or any(d.dim_value <= 0 for d in dims):
            raise ToolchainError(
                f"exported {path} has a dynamic {kind} shape; export with a fixed-size example"
            )


class _TileReader(CalibrationDataReader):
    """Feeds NHWC float tiles in [0, 1] to the calibrator, one per call."""

    def __init__(self, tiles: Sequence[np.ndarray], shape: tuple[int, ...]) -> None:
        checked = []
        for i, tile in enumerate(tiles):
            arr = np.asarray(tile, dtype=np.float32)
            arr = arr[None] if arr.ndim == len(shape) - 1 else arr
            if arr.shape != shape:
                raise ToolchainError(
                    f"calibration tile {i} has shape {np.shape(tile)}, the model takes {shape}"
                )
            if arr.min() < 0.0 or arr.max() > 1.0:
                raise ToolchainError(
                    f"calibration tile {i} is outside [0, 1]; pass float tiles scaled to [0, 1]"
                )
            checked.append(np.ascontiguousarray(arr))
        self._tiles = iter(checked)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tile = next(self._tiles, None)
        return None if tile is None else {INPUT_NAME: tile}


def _own_initializer_per_use(model: onnx.ModelProto) -> None:
    """Give every extra use of a shared float initializer its own copy (the quantizer rejects sharing)."""
    floats = {t.name: t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    names = {t.name for t in model.graph.initializer}
    used: set[str] = set()
    for node in model.graph.node:
        for k, name in enumerate(node.input):
            if name not in floats:
                continue
            if name in used:
                copy = onnx.TensorProto()
                copy.CopyFrom(floats[name])
                n = 1
                while f"{name}_use{n}" in names:
                    n += 1
                copy.name = f"{name}_use{n}"
                names.add(copy.name)
                model.graph.initializer.append(copy)
                node.input[k] = copy.name
            used.add(name)


def _static_shape(model: onnx.ModelProto) -> tuple[int, ...]:
    return tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)


def quantize_qdq(
    float_path: Path, out_path: Path, calibration: list[np.ndarray], precision: Precision
) -> dict[str, dict]:
    """Quantize a float ONNX model to a QNN-ready QDQ model; return the I/O quantization parameters.

    A16W8: uint16 activations, per-channel int8 weights (the NPU default); A8W8: uint8/int8.
    ``calibration`` holds NHWC float tiles in [0, 1] with the model's input shape.
    """
    if precision not in _ACTIVATION_TYPES:
        raise ToolchainError(
            f"precision {precision.value} has no QDQ form; compile the float model with "
            "compile_qnn_context(..., fp16=True) instead"
        )
    if not calibration:
        raise ToolchainError("quantize_qdq needs at least one calibration tile")
    with tempfile.TemporaryDirectory() as tmp:
        pre_path = Path(tmp) / "pre.onnx"
        quant_pre_process(float_path, pre_path, skip_optimization=True)
        model = onnx.load(pre_path)
        _own_initializer_per_use(model)
        # ORT's QNN tooling fails on the pre-processing marker (TypeError in qnn_preprocess_model);
        # without it the quantizer only warns "consider pre-processing", which is already done.
        del model.metadata_props[:]
        onnx.save(model, pre_path)
        config = get_qnn_qdq_config(
            pre_path,
            _TileReader(calibration, _static_shape(model)),
            activation_type=_ACTIVATION_TYPES[precision],
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        quantize(pre_path, out_path, config)
    return qdq_io_params(out_path)


def qdq_io_params(path: Path) -> dict[str, dict]:
    """Scale, zero point and integer dtype of the Q after the graph input and the DQ before the output.

    Layout-only ops (Transpose, Reshape, ...) between the graph I/O and its Q/DQ node are skipped.
    """
    model = onnx.load(path)
    graph = model.graph
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in graph.node for out in node.output}

    def params(node: onnx.NodeProto | None, tensor: str) -> dict:
        if node is None or len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise ToolchainError(
                f"{path}: no quantize/dequantize node at graph tensor '{tensor}'; is it a QDQ model?"
            )
        scale, zero = inits[node.input[1]], inits[node.input[2]]
        if scale.size != 1:
            raise ToolchainError(f"{path}: '{tensor}' is quantized per channel; expected one scale")
        return {"scale": float(scale.item()), "zero_point": int(zero.item()), "dtype": str(zero.dtype)}

    def quantize_after(name: str) -> onnx.NodeProto | None:
        nodes = consumers.get(name, [])
        while len(nodes) == 1 and nodes[0].op_type in _LAYOUT_OPS:
            nodes = consumers.get(nodes[0].output[0], [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == "QuantizeLinear" else None

    def dequantize_before(name: str) -> onnx.NodeProto | None:
        node = producers.get(name)
        while node is not None and node.op_type in _LAYOUT_OPS:
            node = producers.get(node.input[0])
        return node if node is not None and node.op_type == "DequantizeLinear" else None

    first_in, first_out = graph.input[0].name, graph.output[0].name
    return {
        first_in: params(quantize_after(first_in), first_in),
        first_out: params(dequantize_before(first_out), first_out),
    }


def _qnn_module() -> ModuleType:
    try:
        import onnxruntime_qnn
    except ImportError as exc:
        raise ToolchainError("onnxruntime-qnn is not installed; pip install -e '.[deploy]'") from exc
    return onnxruntime_qnn


def _qnn_session_options(soc_model: str, htp_arch: str, extra: dict[str, str]) -> ort.SessionOptions:
    """Session options with the QNN EP (HTP backend) registered once per process and added for one device."""
    qnn = _qnn_module()
    if not any(d.ep_name == QNN_EP for d in ort.get_ep_devices()):
        ort.register_execution_provider_library(QNN_EP, qnn.get_library_path())
    devices = [d for d in ort.get_ep_devices() if d.ep_name == QNN_EP]
    if not devices:
        raise ToolchainError(f"onnxruntime-qnn at {qnn.get_library_path()} offers no device; reinstall it")
    npus = [d for d in devices if d.device.type == ort.OrtHardwareDeviceType.NPU]
    options = {"backend_path": qnn.get_qnn_htp_path(), "soc_model": soc_model, "htp_arch": htp_arch, **extra}
    so = ort.SessionOptions()
    so.log_severity_level = 3  # QNN EP warnings are noise here; partial offload is checked explicitly
    so.add_provider_for_devices((npus or devices)[:1], options)
    return so


def _assigned_node_counts(session: ort.InferenceSession) -> tuple[int, int]:
    """(nodes on QNN, nodes elsewhere) from ORT's record of the EP assignment."""
    qnn = other = 0
    for subgraph in session.get_provider_graph_assignment_info():
        count = len(subgraph.get_nodes())
        if subgraph.ep_name == QNN_EP:
            qnn += count
        else:
            other += count
    return qnn, other


def _read_target(path: Path) -> tuple[str, str] | None:
    """(soc_type, arch) from the QNN context binary's compiler-option strings, or None."""
    if path.stat().st_size == 0:
        return None
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        match = _TARGET_RE.search(data)
        return None if match is None else (match[1].decode(), match[2].decode())


def context_binary_soc(path: Path) -> str | None:
    """The SoC a QNN context binary was compiled for (e.g. ``"SM8650"``), or None if it names none."""
    target = _read_target(path)
    return None if target is None else target[0]


def _main_context(epcontext_path: Path) -> tuple[Path, str]:
    """(context binary path, QNN SDK version) from the main EPContext node of an EPContext model."""
    for node in onnx.load(epcontext_path).graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "EPContext" and attrs.get("main_context", 1) == 1:
            if attrs.get("embed_mode") != 0:
                raise ToolchainError(f"{epcontext_path} embeds its context binary; expected a separate file")
            return epcontext_path.parent / attrs["ep_cache_context"].decode(), attrs[
                "ep_sdk_version"
            ].decode()
    raise ToolchainError(f"{epcontext_path} has no EPContext node; nothing was compiled for the NPU")


def _portable_wrapper(epcontext_path: Path, source_path: Path) -> None:
    """Rewrite the EPContext model with the source model's IR version and only the opsets it uses.

    ORT writes the wrapper at its own newest IR version (14 for ONNX Runtime 1.32) and imports every
    domain it knows. Older runtimes, such as the phone's ONNX Runtime for Android or the JVM's 1.29,
    refuse an IR version newer than theirs, although the wrapper holds one EPContext node.
    """
    model = onnx.load(epcontext_path)
    source = onnx.load(source_path, load_external_data=False)
    used = {node.domain for node in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    model.ir_version = min(model.ir_version, source.ir_version)
    onnx.checker.check_model(model)
    onnx.save(model, epcontext_path)


def compile_qnn_context(
    model_path: Path,
    out_dir: Path,
    soc_model: str,
    htp_arch: str,
    fp16: bool = False,
    allow_partial: bool = False,
) -> QnnCompileResult:
    """Compile an ONNX model (QDQ, or float with ``fp16=True``) for one Snapdragon HTP.

    Writes ``<stem>_ctx.onnx`` (the EPContext model the app loads) and its context binary into
    ``out_dir``, replacing earlier ones. Raises :class:`ToolchainError` when any node would run on
    the CPU, unless ``allow_partial``, and when the binary does not name the requested HTP arch.
    The graph I/O stays float: the NPU graph quantizes its input and dequantizes its output.
    """
    so = _qnn_session_options(
        soc_model,
        htp_arch,
        {
            "enable_htp_fp16_precision": "1" if fp16 else "0",
            "offload_graph_io_quantization": "0",
            "enable_htp_prepare_only": "1",
        },
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    epcontext_path = out_dir / f"{model_path.stem}_ctx.onnx"
    for stale in (epcontext_path, out_dir / f"{epcontext_path.stem}_qnn.bin"):
        stale.unlink(missing_ok=True)  # ORT refuses to overwrite an EPContext model
    so.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    so.add_session_config_entry("ep.context_enable", "1")
    so.add_session_config_entry("ep.context_file_path", str(epcontext_path))
    so.add_session_config_entry("ep.context_embed_mode", "0")
    start = time.perf_counter()
    try:
        session = ort.InferenceSession(str(model_path), so)
    except OrtFail as exc:
        raise ToolchainError(f"QNN compilation of {model_path} failed: {str(exc).splitlines()[0]}") from exc
    seconds = time.perf_counter() - start
    qnn_nodes, cpu_nodes = _assigned_node_counts(session)
    if qnn_nodes == 0:
        raise ToolchainError(f"QNN took no node of {model_path}; check the model's ops and precision")
    if cpu_nodes and not allow_partial:
        raise ToolchainError(
            f"{cpu_nodes} of {qnn_nodes + cpu_nodes} nodes of {model_path} would run on the CPU, "
            "not the NPU; replace the unsupported ops or pass allow_partial=True"
        )
    _portable_wrapper(epcontext_path, model_path)
    binary_path, sdk_version = _main_context(epcontext_path)
    target = _read_target(binary_path)
    if target is None or target[1] != htp_arch:
        found = f"SoC {target[0]} arch {target[1]}" if target else "no SoC"
        raise ToolchainError(
            f"context binary {binary_path} targets {found}, not htp_arch {htp_arch}; "
            "check that soc_model and htp_arch name the same chip"
        )
    return QnnCompileResult(
        epcontext_path, binary_path, qnn_nodes, cpu_nodes, seconds, target[0], sdk_version
    )


def _run(session: ort.InferenceSession, lr_tile_nhwc: np.ndarray) -> np.ndarray:
    spec = session.get_inputs()[0]
    tile = np.ascontiguousarray(lr_tile_nhwc, dtype=np.float32)
    if list(tile.shape) != list(spec.shape):
        raise ToolchainError(f"tile has shape {tile.shape}, the model takes {tuple(spec.shape)} (NHWC)")
    return session.run(None, {spec.name: tile})[0]


def run_epcontext(
    epcontext_path: Path, lr_tile_nhwc: np.ndarray, soc_model: str, htp_arch: str
) -> np.ndarray:
    """Run a compiled EPContext model in the x86 HTP emulator (bit-accurate, slow: use one tile)."""
    session = ort.InferenceSession(str(epcontext_path), _qnn_session_options(soc_model, htp_arch, {}))
    if session.get_providers()[0] != QNN_EP:
        raise ToolchainError(
            f"{epcontext_path} would run on {session.get_providers()[0]}, not {QNN_EP}; "
            "the QNN EP library did not load"
        )
    return _run(session, lr_tile_nhwc)


def run_onnx_cpu(path: Path, lr_tile_nhwc: np.ndarray) -> np.ndarray:
    """Reference run on ORT's CPU EP with graph optimizations off.

    Off because ORT's fused int8 CPU kernels would not compute what the QDQ graph says (~3 dB off).
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return _run(session, lr_tile_nhwc)
