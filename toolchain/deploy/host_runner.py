"""Run a bundle's graph on the host CPU, tile by tile, exactly as the manifest describes it.

This is the host-side twin of the app: it verifies the bundle, takes the tile spec, the
I/O layout and the quantization parameters from ``manifest.json`` (nothing hard-coded)
and plugs into :func:`toolchain.upscaler.upscale_file` as a
:class:`toolchain.upscaler.TileRunner`::

    runner, spec = open_bundle_runner(Path("bundle"), "onnx")
    upscale_file(src, dst, runner, spec)

Only graphs that a CPU can execute are runnable: plain ONNX (float or QDQ, e.g. the
host reference of an NPU bundle) with ONNX Runtime's CPU provider, and plain ``.tflite``
with the LiteRT interpreter. QNN EPContext models and LiteRT AOT graphs hold NPU code
and are refused with a message naming what the bundle does offer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toolchain.deploy.bundle import verify_bundle
from toolchain.deploy.litert_log import quiet_delegate_banner
from toolchain.deploy.manifest import GraphFile, IOTensor, Manifest, QuantParams, Runtime
from toolchain.deploy.targets import Artifact, Precision
from toolchain.errors import ToolchainError
from toolchain.tiling import Tile, TilePlan, TileSpec

HOST_RUNTIMES: dict[str, Artifact] = {"onnx": Artifact.ONNX, "litert": Artifact.LITERT}
"""``--runtime`` choice -> the artifact kind it runs on the host CPU."""
HOST_RUNTIME_NAMES: dict[str, Runtime] = {"onnx": Runtime.ONNXRUNTIME_CPU, "litert": Runtime.LITERT_CPU}
"""``--runtime`` choice -> the manifest's name for that runtime (benchmark labels)."""

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(uint16)": "uint16",
    "tensor(int16)": "int16",
}


def quantize(x: np.ndarray, quant: QuantParams) -> np.ndarray:
    """Real values -> ``quant.dtype``: ``clip(round_half_even(x / scale) + zero_point)``."""
    lo, hi = quant.qrange
    q = np.rint(x.astype(np.float32) / np.float32(quant.scale)) + quant.zero_point
    return np.clip(q, lo, hi).astype(quant.dtype)


def dequantize(q: np.ndarray, quant: QuantParams) -> np.ndarray:
    """``quant.dtype`` -> real values: ``(q - zero_point) * scale`` as float32."""
    return (q.astype(np.float32) - np.float32(quant.zero_point)) * np.float32(quant.scale)


class _Codec:
    """Converts NHWC float tiles in [0, 1] to one graph tensor and back, per the manifest."""

    def __init__(self, tensor: IOTensor) -> None:
        self.tensor = tensor
        lo, hi = tensor.value_range
        self.affine = None if (lo, hi) == (0.0, 1.0) else (np.float32(lo), np.float32(hi - lo))

    def encode(self, tile_nhwc: np.ndarray) -> np.ndarray:
        x = tile_nhwc.astype(np.float32)
        if self.affine is not None:
            x = self.affine[0] + x * self.affine[1]
        if self.tensor.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        x = quantize(x, self.tensor.quant) if self.tensor.quant is not None else x.astype(self.tensor.dtype)
        return np.ascontiguousarray(x)

    def decode(self, y: np.ndarray) -> np.ndarray:
        y = dequantize(y, self.tensor.quant) if self.tensor.quant is not None else y.astype(np.float32)
        if self.tensor.layout == "NCHW":
            y = y.transpose(0, 2, 3, 1)
        if self.affine is not None:
            y = (y - self.affine[0]) / self.affine[1]
        return y


class _OnnxGraph:
    """ONNX Runtime session on the CPU provider (graph optimizations off for QDQ graphs)."""

    def __init__(self, path: Path, graph: GraphFile, where: str, threads: int | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ToolchainError(
                "onnxruntime is not installed; install it to run ONNX bundles on the host"
            ) from None
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        if graph.precision in (Precision.A8W8, Precision.A16W8):
            # ORT's fused int8 CPU kernels are not the QDQ reference; run the QDQ graph as written
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for unloadable models
            raise ToolchainError(f"{where}: ONNX Runtime cannot load the graph ({_first_line(exc)})") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        _check_io(
            where, "input", graph.inputs, [(i.name, i.shape, _ORT_TYPES.get(i.type, i.type)) for i in inputs]
        )
        _check_io(
            where,
            "output",
            graph.outputs,
            [(o.name, o.shape, _ORT_TYPES.get(o.type, o.type)) for o in outputs],
        )
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: x})[0]


class _LiteRtGraph:
    """LiteRT interpreter (CPU). Tensor names are not checked: converters rename them."""

    def __init__(self, path: Path, graph: GraphFile, where: str, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ToolchainError(
                "ai-edge-litert is not installed; install it to run LiteRT bundles"
            ) from None
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            with quiet_delegate_banner():
                self.interpreter.allocate_tensors()
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for unloadable models
            raise ToolchainError(f"{where}: LiteRT cannot load the graph ({_first_line(exc)})") from exc
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()

        # LiteRT converters rename tensors, so names are taken from the manifest, not compared
        for kind, details, tensors in (("input", inputs, graph.inputs), ("output", outputs, graph.outputs)):
            found = [
                (tensors[0].name, [int(d) for d in det["shape"]], np.dtype(det["dtype"]).name)
                for det in details
            ]
            _check_io(where, kind, tensors, found)
        for kind, det, tensor in (
            ("input", inputs[0], graph.inputs[0]),
            ("output", outputs[0], graph.outputs[0]),
        ):
            scale, zero_point = det.get("quantization", (0.0, 0))
            if tensor.quant is not None and scale:
                if (
                    not np.isclose(scale, tensor.quant.scale, rtol=1e-6)
                    or zero_point != tensor.quant.zero_point
                ):
                    raise ToolchainError(
                        f"{where}: {kind} quantization in the graph (scale {scale:g}, zero point "
                        f"{zero_point}) differs from the manifest (scale {tensor.quant.scale:g}, zero point "
                        f"{tensor.quant.zero_point}); re-export the bundle"
                    )
        self.input_index, self.output_index = inputs[0]["index"], outputs[0]["index"]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_io(
    where: str, kind: str, expected: tuple[IOTensor, ...], found: list[tuple[str, Any, str]]
) -> None:
    """The graph's actual inputs/outputs must match the manifest (one tensor each, shape, dtype, name)."""
    fix = "the manifest does not describe this graph; re-export the bundle"
    if len(found) != 1 or len(expected) != 1:
        raise ToolchainError(
            f"{where}: graph has {len(found)} {kind}(s), manifest lists {len(expected)}; "
            f"the host runner needs exactly one; re-export the bundle"
        )
    (name, shape, dtype), tensor = found[0], expected[0]
    if name != tensor.name:
        raise ToolchainError(f"{where}: graph {kind} is named {name!r}, manifest says {tensor.name!r}; {fix}")
    dims = list(shape)
    # a symbolic (dynamic) dimension matches anything; static ones must be equal
    if len(dims) != len(tensor.shape) or any(
        isinstance(d, int) and d != e for d, e in zip(dims, tensor.shape, strict=True)
    ):
        raise ToolchainError(
            f"{where}: graph {kind} {tensor.name} has shape {_shape(dims)}, manifest says "
            f"{_shape(tensor.shape)}; {fix}"
        )
    if dtype != tensor.dtype:
        raise ToolchainError(
            f"{where}: graph {kind} {tensor.name} is {dtype}, manifest says {tensor.dtype}; {fix}"
        )


def _shape(dims: Any) -> str:
    return "x".join(str(d) for d in dims)


class BundleTileRunner:
    """A :class:`toolchain.upscaler.TileRunner` over one graph of a verified bundle.

    Takes ``(N, T, T, C)`` float32 tiles in [0, 1] and returns ``(N, sT, sT, C)`` float32
    (not clipped). The graphs have static batch-1 shapes, so tiles run one at a time.
    Inputs are mapped to the manifest's value range, layout and dtype (quantized when
    the tensor has ``quant``), outputs mapped back the same way. ``threads`` caps the
    runtime's CPU threads (None: its default).
    """

    def __init__(
        self, bundle_dir: Path, manifest: Manifest, graph: GraphFile, threads: int | None = None
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.manifest = manifest
        self.graph = graph
        self.spec = manifest.parsed_tile_spec()
        where = f"bundle {self.bundle_dir}: {graph.file}"
        self._check_tile_shapes(where)
        self._input = _Codec(graph.inputs[0])
        self._output = _Codec(graph.outputs[0])
        path = self.bundle_dir / graph.file
        self._graph = (
            _OnnxGraph(path, graph, where, threads)
            if graph.artifact == Artifact.ONNX
            else _LiteRtGraph(path, graph, where, threads)
        )

    def _check_tile_shapes(self, where: str) -> None:
        tile, scale = self.spec.tile, self.spec.scale
        fix = "re-export the bundle"
        for kind, tensor, side in (
            ("input", self.graph.inputs[0], tile),
            ("output", self.graph.outputs[0], tile * scale),
        ):
            if tensor.shape[0] != 1:
                raise ToolchainError(
                    f"{where}: {kind} {tensor.name} has batch {tensor.shape[0]}; the host runner needs "
                    f"batch-1 graphs; {fix}"
                )
            if tensor.hw != (side, side):
                raise ToolchainError(
                    f"{where}: {kind} {tensor.name} is {tensor.hw[0]}x{tensor.hw[1]} but the tile spec "
                    f"(tile {tile}, scale {scale}) needs {side}x{side}; {fix}"
                )
        if self.graph.inputs[0].channels != self.graph.outputs[0].channels:
            raise ToolchainError(f"{where}: input and output channel counts differ; {fix}")

    @property
    def channels(self) -> int:
        return self.graph.inputs[0].channels

    def start_image(self, plan: TilePlan) -> None:
        """Check that the image is planned with this bundle's tile spec (the graph is deterministic)."""
        if plan.spec != self.spec:
            raise ToolchainError(
                f"bundle {self.bundle_dir}: the tile plan uses {plan.spec} but the bundle was exported for "
                f"{self.spec}; use the spec returned by open_bundle_runner"
            )

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        tile, scale, channels = self.spec.tile, self.spec.scale, self.channels
        if tiles_nhwc.ndim != 4 or tiles_nhwc.shape[1:] != (tile, tile, channels):
            raise ToolchainError(
                f"bundle {self.bundle_dir}: tiles have shape {tiles_nhwc.shape}, the graph takes "
                f"(N, {tile}, {tile}, {channels})"
            )
        out = np.empty((len(tiles_nhwc), tile * scale, tile * scale, channels), dtype=np.float32)
        for i in range(len(tiles_nhwc)):
            y = self._graph.run(self._input.encode(tiles_nhwc[i : i + 1]))
            out[i] = self._output.decode(np.asarray(y))[0]
        return out


def _offered(manifest: Manifest) -> list[str]:
    return [
        name
        for name, artifact in HOST_RUNTIMES.items()
        if any(g.artifact == artifact for g in manifest.graphs)
    ]


def pick_graph(manifest: Manifest, runtime: str, where: str, file: str | None = None) -> GraphFile:
    """The first graph (in manifest order) that ``runtime`` runs on the host CPU, or ``file``."""
    if runtime not in HOST_RUNTIMES:
        raise ToolchainError(f"unknown host runtime {runtime!r}; use one of {', '.join(HOST_RUNTIMES)}")
    offered = _offered(manifest)
    offer = (
        f"this bundle offers --runtime {', '.join(offered)}"
        if offered
        else "this bundle offers no host-runnable graph (run it on the phone)"
    )
    if file is not None:
        graph = next((g for g in manifest.graphs if g.file == file), None)
        if graph is None:
            names = ", ".join(g.file for g in manifest.graphs)
            raise ToolchainError(f"{where} has no graph {file}; its graphs are {names}")
        candidates = [graph]
    else:
        candidates = list(manifest.graphs)
    for graph in candidates:
        if graph.artifact == HOST_RUNTIMES[runtime]:
            return graph
    npu = [g for g in candidates if g.npu_only]
    if npu:
        listed = ", ".join(f"{g.file} ({g.artifact.value})" for g in npu)
        raise ToolchainError(
            f"{where}: {listed} holds NPU code and cannot run on the host CPU with --runtime {runtime}; "
            f"{offer}"
        )
    kinds = ", ".join(f"{g.file} ({g.artifact.value})" for g in candidates)
    raise ToolchainError(f"{where} has no {runtime} graph ({kinds}); {offer}")


def open_bundle_runner(
    bundle_dir: Path, runtime: str, graph_file: str | None = None
) -> tuple[BundleTileRunner, TileSpec]:
    """Verify ``bundle_dir`` and open its graph for ``runtime`` ("onnx" or "litert") on the CPU.

    ``graph_file`` picks a specific graph (its path in the bundle); by default the first
    graph of the manifest that ``runtime`` can run. Returns the runner and the bundle's
    tile spec, ready for :func:`toolchain.upscaler.upscale_file`. A tampered or
    incomplete bundle, an NPU-only graph or a graph whose I/O differs from the manifest
    is a one-line ToolchainError.
    """
    bundle_dir = Path(bundle_dir)
    manifest = verify_bundle(bundle_dir)
    graph = pick_graph(manifest, runtime, f"bundle {bundle_dir}", graph_file)
    runner = BundleTileRunner(bundle_dir, manifest, graph)
    return runner, runner.spec
