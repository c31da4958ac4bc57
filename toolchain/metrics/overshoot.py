"""Overshoot: how far an output leaves the HR's local range, the signature of halos and ringing.

A GAN-trained SR model sharpens edges the cheap way: it overshoots them. Beside a dark stroke on
light paper it draws a rim lighter than the paper, inside the stroke a line darker than the
stroke; colour channels overshoot by different amounts and leave a coloured fringe. Restored
texture is different: grass or fabric stays inside the range of values the HR has around it.

So the measure is zero wherever each output channel lies between the minimum and the maximum of
the same HR channel over a ``kernel`` x ``kernel`` window, and grows linearly with the distance
outside it. It charges a halo and leaves alone texture within the HR's own contrast, which L1 or
PSNR charge alike. Two uses, one definition:

- the adversarial stage's ``overshoot_weight`` term (toolchain/train/adversarial.py), on [-1, 1]
  tensors, where the model learns where the range holds (clamping the output into the LR's range
  at inference instead flattened texture: benchmarks/ablations.md, issue 10);
- a score beside PSNR-Y, SSIM-Y and NIQE (toolchain/evaluate.py), in 8-bit units. On real pairs,
  misregistration raises every method's score alike; compare methods on the same set.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_KERNEL = 5  # HR pixels: the pixel next to an edge sees both sides of it


def local_range(hr: torch.Tensor, kernel: int = DEFAULT_KERNEL) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (min, max) of (B, C, H, W) ``hr`` over each ``kernel`` window (edges replicated)."""
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"overshoot: kernel must be odd and >= 1, got {kernel}")
    pad = kernel // 2
    padded = F.pad(hr, (pad, pad, pad, pad), mode="replicate")
    return -F.max_pool2d(-padded, kernel, stride=1), F.max_pool2d(padded, kernel, stride=1)


def overshoot_loss(hr: torch.Tensor, output: torch.Tensor, kernel: int = DEFAULT_KERNEL) -> torch.Tensor:
    """Mean distance of (B, C, H, W) ``output`` outside the HR's local per-channel range (0 inside it)."""
    with torch.no_grad():
        low, high = local_range(hr, kernel)
    return (F.relu(output - high) + F.relu(low - output)).mean()


def overshoot(pred: np.ndarray, hr: np.ndarray, kernel: int = DEFAULT_KERNEL) -> float:
    """Mean 8-bit distance of uint8 HxWx3 ``pred`` outside ``hr``'s local range (0: no halo anywhere)."""
    return float(overshoot_loss(_as_batch(hr), _as_batch(pred), kernel))


def _as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
