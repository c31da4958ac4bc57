"""Overshoot: how far an output leaves the HR's local range, the signature of halos and ringing.

A GAN-trained SR model sharpens edges the cheap way: it overshoots them. Beside a dark stroke on
light paper it draws a rim lighter than the paper, inside the stroke a line darker than the
stroke; colour channels overshoot by different amounts and leave a coloured fringe. Restored
texture is different: grass or fabric stays inside the range of values the HR has around it.

So the measure is zero wherever each output channel lies between the minimum and the maximum of
the same HR channel over a ``kernel`` x ``kernel`` window, and grows linearly with the distance
outside it. It counts only pixels near an edge: within ``EDGE_REACH // 2`` pixels of a place where
the HR's range reaches ``EDGE_LEVELS`` 8-bit levels. Away from edges the HR's range is a few levels
wide, any small error leaves it, and on 15 held-out photos that error was half of the unmasked
sum even before the adversarial stage; near edges the same stage raised the measure four- to
twenty-fold (benchmarks/ablations.md, issue 24). It charges a halo and leaves alone texture within
the HR's own contrast, which L1 or PSNR charge alike. Two uses, one definition:

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
EDGE_LEVELS = 32  # 8-bit range (max over channels) of an HR window that makes it an edge
EDGE_REACH = 9  # HR pixels: a halo up to 4 pixels from the edge is counted


def local_range(hr: torch.Tensor, kernel: int = DEFAULT_KERNEL) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (min, max) of (B, C, H, W) ``hr`` over each ``kernel`` window (edges replicated)."""
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"overshoot: kernel must be odd and >= 1, got {kernel}")
    pad = kernel // 2
    padded = F.pad(hr, (pad, pad, pad, pad), mode="replicate")
    return -F.max_pool2d(-padded, kernel, stride=1), F.max_pool2d(padded, kernel, stride=1)


def near_edges(hr: torch.Tensor, min_range: float, reach: int = EDGE_REACH) -> torch.Tensor:
    """(B, 1, H, W) 1.0 where ``hr``'s range over a ``reach`` window (any channel) is >= ``min_range``."""
    low, high = local_range(hr, reach)
    return ((high - low).amax(1, keepdim=True) >= min_range).to(hr.dtype)


def overshoot_loss(
    hr: torch.Tensor, output: torch.Tensor, min_range: float, kernel: int = DEFAULT_KERNEL
) -> torch.Tensor:
    """Mean distance of (B, C, H, W) ``output`` outside the HR's local per-channel range, near edges.

    ``min_range`` is ``EDGE_LEVELS`` in the tensors' units (2 * 32 / 255 on [-1, 1]); the mean is
    over every pixel, so pixels away from edges count as zero.
    """
    with torch.no_grad():
        low, high = local_range(hr, kernel)
        mask = near_edges(hr, min_range)
    return ((F.relu(output - high) + F.relu(low - output)) * mask).mean()


def overshoot(pred: np.ndarray, hr: np.ndarray, kernel: int = DEFAULT_KERNEL) -> float:
    """Mean 8-bit distance of uint8 HxWx3 ``pred`` outside ``hr``'s local range near edges (0: no halo)."""
    return float(overshoot_loss(_as_batch(hr), _as_batch(pred), EDGE_LEVELS, kernel))


def _as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
