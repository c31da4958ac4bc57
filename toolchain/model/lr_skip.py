"""The decoder's LR skip: a fixed upsampling of the LR image that the decoder output is added to.

With the skip, the decoder only produces the residual (high frequencies), which fights colour
shift and keeps low frequencies exact. ``bicubic`` is Keys' cubic convolution with a = -0.5
(Pillow's and MATLAB's upsampling kernel, the evaluation sets' bicubic baseline), written as a
fixed convolution with one 5x5 filter per channel and output phase followed by a pixel shuffle:
convolution, concatenation and depth-to-space lower to single ops on every NPU, unlike a
bicubic resize, which LiteRT has no builtin for. Edges are replicated (as PyTorch's bicubic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolchain.model.config import LRSkip

CUBIC_A = -0.5  # Keys' parameter used by Pillow and MATLAB (PyTorch uses -0.75)
TAPS = 5  # taps -2..2 around the nearest LR pixel cover every phase of a support-2 kernel


def cubic(x: torch.Tensor, a: float = CUBIC_A) -> torch.Tensor:
    """Keys' cubic convolution kernel."""
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return torch.where(x <= 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def bicubic_phase_filters(scale: int) -> torch.Tensor:
    """(scale * scale, TAPS, TAPS) float64: the filter of each output phase (dy * scale + dx).

    Output pixel ``o = h * scale + p`` samples the LR image at ``h + (p + 0.5) / scale - 0.5``
    (half-pixel centres, ``align_corners=False``).
    """
    offsets = (torch.arange(scale, dtype=torch.float64) + 0.5) / scale - 0.5
    taps = torch.arange(TAPS, dtype=torch.float64) - TAPS // 2
    one_d = cubic(taps[None, :] - offsets[:, None])  # (scale, TAPS); each row sums to 1
    return (one_d[:, None, :, None] * one_d[None, :, None, :]).reshape(scale * scale, TAPS, TAPS)


class BicubicUpsample(nn.Module):
    """(B, C, H, W) -> (B, C, H * scale, W * scale), bicubic a = -0.5; no trainable weights."""

    def __init__(self, scale: int, channels: int = 3) -> None:
        super().__init__()
        self.scale = scale
        phases = bicubic_phase_filters(scale).float()  # (scale^2, TAPS, TAPS)
        # A dense convolution with block-diagonal weights (channel c's phases read only channel c):
        # the grouped form lowers to DEPTHWISE_CONV_2D with a depth multiplier, which the
        # SM8650 HTP compiler leaves on the CPU; this costs 3x its MACs (~0.8 % of nano's).
        weight = torch.zeros(channels * scale * scale, channels, TAPS, TAPS)
        for c in range(channels):
            weight[c * scale * scale : (c + 1) * scale * scale, c] = phases
        self.register_buffer("weight", weight, persistent=False)  # not in checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = TAPS // 2
        x = torch.cat([x[..., :1]] * r + [x] + [x[..., -1:]] * r, dim=-1)  # replicate edges
        x = torch.cat([x[..., :1, :]] * r + [x] + [x[..., -1:, :]] * r, dim=-2)
        return F.pixel_shuffle(F.conv2d(x, self.weight), self.scale)


class LRSkipUpsample(nn.Module):
    """The skip named by ``ModelConfig.lr_skip`` (not NONE); LR in [0, 1] -> image in [-1, 1]."""

    def __init__(self, kind: LRSkip, scale: int) -> None:
        super().__init__()
        if kind is LRSkip.NONE:
            raise ValueError("LRSkipUpsample needs a skip kind, not 'none'")
        self.scale = scale
        self.bicubic = BicubicUpsample(scale) if kind is LRSkip.BICUBIC else None

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if self.bicubic is not None:
            up = self.bicubic(lr)
        else:
            up = F.interpolate(lr, scale_factor=float(self.scale), mode="bilinear", align_corners=False)
        return up * 2.0 - 1.0
