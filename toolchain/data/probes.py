"""Fixed held-out probes: deterministic LR degradations that stand in for a phone camera.

The recipe's held-out set (``<run>/val``) is degraded like training: half clean bicubic, half
Real-ESRGAN's heavy second-order mix. A camera's LR is neither, and models chosen on that set
alone lost fidelity on DRealSR's real pairs (benchmarks/ablations.md, issue 10). Each probe is
one fixed degradation of the same held-out HR crops, so a candidate can be checked against the
current default on camera-like input without touching an eval set.

``REGISTRATION`` stands for the residual misalignment of real LR/HR pairs: its LR is made from
the HR moved by one HR pixel on both axes (a third of an LR pixel along the diagonal) and scored
against the HR where it was. A model that sharpens edges pays for the offset more than one that
leaves them soft, as on real pairs, where SSIM can rise while PSNR falls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toolchain.data.datasets import downscale_bicubic
from toolchain.data.degradation_kinds import PROBE_SCALE, Probe
from toolchain.data.degradations import ResizeMode, add_gaussian_noise, jpeg, quantize_8bit, resize

REGISTRATION_SHIFT = 1  # HR pixels, on both axes (down and right)
CAMERA_NOISE_SIGMA = 4.0  # 8-bit units: a phone sensor's noise after its own denoiser
CAMERA_JPEG_QUALITY = 80


def probe_lr(hr: torch.Tensor, probe: Probe, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) HR in [0, 1] -> (B, 3, H/4, W/4) LR, rounded to 8 bits.

    ``generator`` draws the camera noise (it must live on ``hr``'s device); the other probes draw nothing.
    """
    h, w = hr.shape[-2:]
    if probe is Probe.SENSOR:
        lr = resize(hr, (h // PROBE_SCALE, w // PROBE_SCALE), ResizeMode.AREA)
    elif probe is Probe.REGISTRATION:
        shift = REGISTRATION_SHIFT
        moved = F.pad(hr, (shift, 0, shift, 0), mode="replicate")[..., :h, :w]
        lr = downscale_bicubic(moved, PROBE_SCALE)
    else:
        batch = hr.shape[0]
        sigma = torch.full((batch,), CAMERA_NOISE_SIGMA)
        noisy = add_gaussian_noise(downscale_bicubic(hr, PROBE_SCALE), sigma, torch.zeros(batch), generator)
        lr = jpeg(noisy, [CAMERA_JPEG_QUALITY] * batch)
    return quantize_8bit(lr)
