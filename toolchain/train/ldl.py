"""LDL: locally discriminative learning, an artifact map that penalises GAN artifacts, not texture.

Liang et al., "Details or Artifacts" (CVPR 2022). A GAN-trained SR model restores texture and,
in the same regions, invents blotches and ringing. Real texture is stable across training steps;
artifacts flicker. So the residual against the HR is compared between the model being trained and
its exponential moving average (train/ema.py):

- the pixel weight is the local variance (``kernel`` x ``kernel`` window) of the output's residual
  ``|HR - output|``, summed over colour: high where the error is patchy (an artifact), low where
  it is uniform (flat areas, small consistent errors);
- it is scaled per image by the fifth root of that residual's global variance;
- it is set to 0 where the output is closer to the HR than the EMA is (the update helped there).

The extra loss is L1 between the weighted output and the weighted HR; the map carries no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_KERNEL = 7  # the paper's window


def local_variance(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Variance of (B, 1, H, W) ``x`` over each ``kernel`` x ``kernel`` window (reflect-padded), same size.

    The unbiased variance of the window, as the paper's unfold-based implementation computes it.
    """
    pad = kernel // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    mean = F.avg_pool2d(padded, kernel, stride=1)
    mean_sq = F.avg_pool2d(padded * padded, kernel, stride=1)
    n = kernel * kernel
    return ((mean_sq - mean * mean) * n / (n - 1)).clamp_min(0)


def artifact_map(
    hr: torch.Tensor, output: torch.Tensor, ema_output: torch.Tensor, kernel: int = DEFAULT_KERNEL
) -> torch.Tensor:
    """The (B, 1, H, W) artifact weight of ``output`` given the EMA model's ``ema_output`` (no gradient)."""
    with torch.no_grad():
        residual = (hr - output).abs().sum(1, keepdim=True)
        residual_ema = (hr - ema_output).abs().sum(1, keepdim=True)
        image_weight = residual.var(dim=(1, 2, 3), keepdim=True) ** 0.2
        weight = image_weight * local_variance(residual, kernel)
        return torch.where(residual < residual_ema, torch.zeros_like(weight), weight)


def artifact_loss(
    hr: torch.Tensor, output: torch.Tensor, ema_output: torch.Tensor, kernel: int = DEFAULT_KERNEL
) -> torch.Tensor:
    """L1 between the artifact-weighted output and HR: the LDL term."""
    weight = artifact_map(hr, output, ema_output, kernel)
    return F.l1_loss(weight * output, weight * hr)
