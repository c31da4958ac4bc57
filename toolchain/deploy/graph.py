"""The exported unit: the static-shape tile graph with NHWC I/O.

Its input is one ``lr_tile x lr_tile`` LR tile and its output the ``hr_tile x hr_tile`` HR tile
(128 -> 512 for the shipped models); :func:`io_specs` describes both as the manifest does.

It wraps the one-step sampler (LR encoder -> z_1 -> UNet at t=1 -> decoder) with eps = 0
baked in, and takes/returns NHWC float tensors in [0, 1] (what Android bitmaps give).
"""

from __future__ import annotations

import torch
from torch import nn

from toolchain.deploy.manifest import IOTensor
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import OneStepSR

INPUT_NAME = "lr_tile"
OUTPUT_NAME = "hr_tile"


class TileGraph(nn.Module):
    """(1, T, T, 3) float32 in [0, 1] -> (1, 4T, 4T, 3) float32 in [0, 1]."""

    def __init__(self, model: EdgeSDSR) -> None:
        super().__init__()
        self.sampler = OneStepSR(model.eval())

    def forward(self, lr_tile: torch.Tensor) -> torch.Tensor:
        hr = self.sampler(lr_tile.permute(0, 3, 1, 2))
        return hr.permute(0, 2, 3, 1)


def io_specs(model: EdgeSDSR, batch: int = 1) -> tuple[IOTensor, IOTensor]:
    """The float input and output of :class:`TileGraph`, as the manifest describes them."""
    t, s = model.config.lr_tile, model.config.hr_tile
    return (
        IOTensor(INPUT_NAME, (batch, t, t, 3), "float32", "NHWC", (0.0, 1.0), None),
        IOTensor(OUTPUT_NAME, (batch, s, s, 3), "float32", "NHWC", (0.0, 1.0), None),
    )


def example_input(model: EdgeSDSR, batch: int = 1) -> torch.Tensor:
    t = model.config.lr_tile
    return torch.rand(batch, t, t, 3, generator=torch.Generator().manual_seed(0))
