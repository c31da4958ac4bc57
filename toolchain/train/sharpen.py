"""Unsharp-masked (USM) HR targets for the regression terms of the pixel-space stages.

Real-ESRGAN trains its L1 and perceptual terms against a USM-sharpened ground truth (and its
GAN term against the plain one): an L1-trained one-step model predicts the mean of the
plausible HR tiles, and a sharper target moves that mean towards crisper edges without
inventing texture. The filter follows Real-ESRGAN's ``USMSharp``: a wide Gaussian (51 px,
sigma 8), a 10/255 threshold on the residual whose mask is blurred by the same Gaussian so the
sharpening fades out softly on flat areas, and the result clipped to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS = 25  # a 51 px kernel
SIGMA = 8.0  # OpenCV's sigma for a 51 px kernel with sigma 0, as Real-ESRGAN uses
THRESHOLD = 10 / 255


def _gaussian_blur(img: torch.Tensor) -> torch.Tensor:
    x = torch.arange(-RADIUS, RADIUS + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-(x**2) / (2 * SIGMA**2))
    k = k / k.sum()
    c = img.shape[1]
    padded = F.pad(img, (RADIUS, RADIUS, RADIUS, RADIUS), mode="reflect")
    out = F.conv2d(padded, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def usm_sharpen(img: torch.Tensor, amount: float) -> torch.Tensor:
    """USM-sharpen (B, 3, H, W) images in [0, 1] by ``amount`` (0 returns ``img``; Real-ESRGAN: 0.5).

    H and W must exceed 25 px (reflect padding of the 51 px kernel).
    """
    if amount == 0:
        return img
    residual = img - _gaussian_blur(img)
    mask = _gaussian_blur((residual.abs() > THRESHOLD).to(img.dtype))
    sharp = (img + amount * residual).clamp(0, 1)
    return mask * sharp + (1 - mask) * img
