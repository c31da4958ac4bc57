"""The host engines that run a torch checkpoint tile by tile (``toolchain upscale --engine``).

Every engine is a :class:`toolchain.upscaler.TileRunner` over the same one-step graph
(:class:`toolchain.pipeline.OneStepSR`) and the same tile plan (:mod:`toolchain.tiling`), so they
differ only in float rounding (tested: >= 50 dB PSNR against ``torch-reference``):

- ``onnxruntime``: the checkpoint's float graph, exported in memory at start-up
  (:func:`toolchain.cpu_graph.export_float_onnx`, the exporter of the bundles' CPU fallback graph)
  and run by ONNX Runtime's CPU provider with all graph optimizations (conv + activation fusion, NCHWc
  layouts). One static-shape tile per call. CPU only. The fastest on CPU (see
  ``benchmarks/results/speed.md``).
- ``torch``: PyTorch eager, weights and activations channels-last (oneDNN's fast layout).
- ``torch-reference``: PyTorch eager NCHW, the reference path the others are checked against
  (``toolchain eval`` and training's validation run it).

``auto`` is ``onnxruntime`` on the CPU and ``torch`` on a GPU. The names and that choice live in
:mod:`toolchain.engine_options`, which the CLI reads before torch loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from toolchain.cpu_graph import export_float_onnx
from toolchain.engine_options import Engine, NoiseConfig, resolve_engine
from toolchain.errors import ToolchainError
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.tiling import Tile, TilePlan, TileSpec, default_overlap
from toolchain.upscaler import LatentNoise, TileRunner, TorchTileRunner, check_x4


def open_engine(
    model: EdgeSDSR,
    engine: Engine,
    device: torch.device,
    noise: NoiseConfig,
    lr_tile: int,
    threads: int | None = None,
) -> TileRunner:
    """A tile runner for ``model`` on ``device``; ``threads`` caps ONNX Runtime's threads (None: all cores).

    The torch engines use torch's global thread setting (``torch.set_num_threads``).
    """
    engine = resolve_engine(engine, device)
    if engine is Engine.ONNXRUNTIME:
        return OnnxTileRunner(model, noise, lr_tile, threads)
    return TorchTileRunner(model, device, noise, channels_last=engine is Engine.TORCH)


def open_checkpoint(
    checkpoint: Path,
    engine: Engine,
    device: torch.device,
    noise: NoiseConfig,
    tile: int | None = None,
    overlap: int | None = None,
) -> tuple[TileRunner, TileSpec]:
    """Load ``checkpoint`` and open it on ``engine``: the runner and tile spec of an upscale batch.

    ``tile`` / ``overlap`` override the model's own tiling (:meth:`TileSpec.for_model`); an
    ``overlap`` left out is a quarter of the tile.
    """
    model = EdgeSDSR.from_pretrained(checkpoint)
    spec = TileSpec.for_model(model.config)
    if tile is not None or overlap is not None:
        side = spec.tile if tile is None else tile
        spec = TileSpec(side, default_overlap(side) if overlap is None else overlap, spec.scale)
    return open_engine(model, engine, device, noise, spec.tile), spec


class OnnxTileRunner:
    """The checkpoint's float one-step graph on ONNX Runtime CPU, one ``lr_tile`` tile per call.

    With noise enabled the graph takes eps as a second input, cut from the same per-image field
    as the torch engines (:class:`toolchain.upscaler.LatentNoise`).
    """

    def __init__(self, model: EdgeSDSR, noise: NoiseConfig, lr_tile: int, threads: int | None = None) -> None:
        check_x4(model)
        try:
            import onnxruntime as ort
        except ImportError:
            raise ToolchainError(
                "onnxruntime is not installed; `pip install onnxruntime` or use --engine torch"
            ) from None
        self.lr_tile = lr_tile
        self.noise = LatentNoise(noise, model.config.latent_channels)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        graph = export_float_onnx(model, lr_tile, noise.scale)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def start_image(self, plan: TilePlan) -> None:
        self.noise.start_image(plan)

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        n, t = len(tiles_nhwc), self.lr_tile
        if tiles_nhwc.shape[1:3] != (t, t):
            raise ToolchainError(
                f"the onnxruntime engine was built for {t} px tiles, got {tiles_nhwc.shape[1]} px"
            )
        eps = self.noise.for_tiles(tiles, t)
        out = np.empty((n, 4 * t, 4 * t, tiles_nhwc.shape[3]), dtype=np.float32)
        for i in range(n):
            lr = tiles_nhwc[i : i + 1].transpose(0, 3, 1, 2)
            feeds = {"lr": np.ascontiguousarray(lr, dtype=np.float32)}
            if eps is not None:
                feeds["eps"] = eps[i : i + 1].numpy()
            out[i] = self.session.run(None, feeds)[0][0].transpose(1, 2, 0)
        return out
