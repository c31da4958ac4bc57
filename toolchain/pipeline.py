"""The one-step pipeline: the single inference path (CLI, benchmarks and export wrap it).

LR tile -> LR encoder -> z_1 -> UNet at t = 1 -> predicted z_h -> decoder -> HR tile.
By default eps = 0 (deterministic); a noise scale > 0 uses the caller's eps.

Layers point one way, as diffusers splits model / scheduler / pipeline:
:mod:`toolchain.diffusion` (schedule and forward process, no networks) <- :mod:`toolchain.model`
(networks and their config) <- this module <- upscaler, deploy, train and the budget.
"""

from __future__ import annotations

import torch
from torch import nn

from toolchain.diffusion.forward import terminal_latent, unet_input
from toolchain.model.edge_sdsr import EdgeSDSR


class OneStepSR(nn.Module):
    """LR tile in [0, 1], (B, 3, H, W) -> HR tile in [0, 1], (B, 3, 4H, 4W).

    ``eps`` (B, C, H/2, W/2) is the latent noise, scaled by ``noise_scale``; None
    means eps = 0. This module is exactly the graph that gets exported.
    """

    def __init__(self, model: EdgeSDSR, noise_scale: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.noise_scale = noise_scale

    def forward(self, lr: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        eps = eps * self.noise_scale if eps is not None and self.noise_scale else None
        hr = self.model.decode(predict_latent(self.model, lr, eps), lr)
        return ((hr + 1.0) * 0.5).clamp(0.0, 1.0)


def predict_latent(model: EdgeSDSR, lr: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """One step at t = 1: LR in [0, 1] -> predicted z_h (scaled latent).

    ``eps`` is the already scaled latent noise; None means eps = 0.
    """
    conditioning = model.config.conditioning
    z_l_mu, z_l_sigma = model.encode_lr(lr * 2.0 - 1.0)
    if eps is None:
        eps = torch.zeros_like(z_l_mu)
    z_1 = terminal_latent(z_l_mu, z_l_sigma, eps, conditioning)
    t = torch.ones(lr.shape[0], device=lr.device, dtype=lr.dtype)
    return model.denoise(unet_input(z_1, z_l_mu, conditioning), t)
