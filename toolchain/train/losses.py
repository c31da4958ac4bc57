"""Training losses, one per stage. Images are (B, 3, H, W) in [0, 1]; lr is hr degraded x4.

Every random draw goes through the passed generator (CPU) and is moved to the batch's
device, so a run is reproducible and resumable bit for bit on CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from toolchain.diffusion.forward import noisy_latent, unet_input
from toolchain.diffusion.sampler import predict_latent
from toolchain.diffusion.schedule import ScheduleConfig, loss_weight, sample_t
from toolchain.model.edge_sdsr import EdgeSDSR

Stats = dict[str, float]
LossFn = Callable[[EdgeSDSR, torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, Stats]]


def autoencoder_loss(
    model: EdgeSDSR, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator, latent_reg: float
) -> tuple[torch.Tensor, Stats]:
    """L1 reconstruction through HR encoder + decoder, plus a small latent L2 pull."""
    z = model.encode_hr(hr * 2 - 1)
    l1 = F.l1_loss(model.decode(z, lr), hr * 2 - 1)
    return l1 + latent_reg * z.pow(2).mean(), {"l1": l1.item(), "z_std": z.std().item()}


def joint_loss(
    model: EdgeSDSR, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator, schedule: ScheduleConfig
) -> tuple[torch.Tensor, Stats]:
    """omega(lambda_t) * ||Z_theta(z_t, t) - z_h||^2; gradients reach the LR encoder through z_t."""
    cond = model.config.conditioning
    with torch.no_grad():
        z_h = model.encode_hr(hr * 2 - 1)
    z_l_mu, z_l_sigma = model.encode_lr(lr * 2 - 1)
    t = sample_t(hr.shape[0], schedule, gen, device=hr.device)
    eps = torch.randn(z_h.shape, generator=gen).to(hr.device)
    z_t = noisy_latent(z_h, z_l_mu, z_l_sigma, t, eps, schedule, cond)
    pred = model.denoise(unet_input(z_t, z_l_mu, cond), t)
    per_sample = (pred.float() - z_h.float()).pow(2).mean(dim=(1, 2, 3))
    loss = (loss_weight(t, schedule) * per_sample).mean()
    floor = model.config.lr_encoder.sigma_floor
    stats = {
        "mse": per_sample.mean().item(),
        "sigma_mean": z_l_sigma.mean().item(),
        "sigma_min": z_l_sigma.min().item(),
        "sigma_at_floor": (z_l_sigma < floor + 1e-3).float().mean().item(),
    }
    return loss, stats


def decoder_loss(
    model: EdgeSDSR, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, Stats]:
    """L1 between the decoded one-step latent and the HR image (UNet, LR encoder frozen)."""
    with torch.no_grad():
        z_h = predict_latent(model, lr)
    l1 = F.l1_loss(model.decode(z_h, lr), hr * 2 - 1)
    return l1, {"l1": l1.item()}
