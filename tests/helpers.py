"""Small helpers shared by the deploy tests (import as `from helpers import ...`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from toolchain.deploy.graph import TileGraph
from toolchain.model.config import LRSkip, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR


def random_tiles(seed: int, count: int, side: int) -> list[np.ndarray]:
    """``count`` NHWC float32 tiles (1, side, side, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    return [rng.random((1, side, side, 3), dtype=np.float32) for _ in range(count)]


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two arrays in [0, 1] (all channels)."""
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def seeded_tiny_graph() -> TileGraph:
    """The tiny preset with the bicubic LR skip, weights from seed 0 (global RNG left untouched).

    The skip's zero-initialised residual output layer gets random weights too, so every part of
    the graph (skip and latent path) shapes the output the deploy tests compare.
    """
    config = dataclasses.replace(load_preset("tiny"), lr_skip=LRSkip.BICUBIC)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = EdgeSDSR(config)
        torch.nn.init.normal_(model.decoder.output_layer.weight, std=0.05)
    return TileGraph(model)
