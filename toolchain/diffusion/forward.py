"""The forward (noising) process, bidirectional or unidirectional (PAPER.md, CHOSEN).

Symbols follow the paper: z_h is the scaled HR latent, z_l = <z_l_mu, z_l_sigma> the
LR latent, eps ~ N(0, I).

  bidirectional:   z_t = alpha_t z_h + sigma_t (z_l_mu + z_l_sigma * eps); UNet input z_t
  unidirectional:  z_t = alpha_t z_h + sigma_t eps;  UNet input concat[z_t, z_l_mu]
"""

from __future__ import annotations

import enum

import torch

from toolchain.diffusion.schedule import ScheduleConfig, alpha_sigma


class Conditioning(enum.StrEnum):
    """How the LR latent conditions the diffusion (PAPER.md, CHOSEN formulation)."""

    BIDIRECTIONAL = "bidirectional"  # LR latent enters the forward process; UNet sees z_t only
    UNIDIRECTIONAL = "unidirectional"  # classic SD-SR: UNet sees concat[z_t, z_l_mu]


def noisy_latent(
    z_h: torch.Tensor,
    z_l_mu: torch.Tensor,
    z_l_sigma: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    schedule: ScheduleConfig,
    conditioning: Conditioning,
) -> torch.Tensor:
    """z_t for a batch; t has shape (B,). Gradients reach the LR encoder (joint training)."""
    alpha, sigma = (v[:, None, None, None] for v in alpha_sigma(t, schedule))
    return alpha * z_h + sigma * _noise(z_l_mu, z_l_sigma, eps, conditioning)


def terminal_latent(
    z_l_mu: torch.Tensor, z_l_sigma: torch.Tensor, eps: torch.Tensor, conditioning: Conditioning
) -> torch.Tensor:
    """z_1, the one-step starting point: alpha_1 = 0 and sigma_1 = 1, so z_h drops out."""
    return _noise(z_l_mu, z_l_sigma, eps, conditioning)


def unet_input(z_t: torch.Tensor, z_l_mu: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
    """What the UNet sees: z_t alone (bidirectional) or concat[z_t, z_l_mu]."""
    if conditioning is Conditioning.BIDIRECTIONAL:
        return z_t
    return torch.cat([z_t, z_l_mu], dim=1)


def _noise(
    z_l_mu: torch.Tensor, z_l_sigma: torch.Tensor, eps: torch.Tensor, conditioning: Conditioning
) -> torch.Tensor:
    if conditioning is Conditioning.BIDIRECTIONAL:
        return z_l_mu + z_l_sigma * eps
    return eps
