"""Training losses, one per stage. Images are (B, 3, H, W) in [0, 1]; lr is hr degraded x4.

Every random draw goes through the passed generator (CPU) and is moved to the batch's
device, so a run is reproducible and resumable bit for bit on CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from toolchain.diffusion.forward import noisy_latent, unet_input
from toolchain.diffusion.schedule import ScheduleConfig, loss_weight, sample_t
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import predict_latent
from toolchain.train.sharpen import usm_sharpen

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
    model: EdgeSDSR, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator, sharpen: float = 0.0
) -> tuple[torch.Tensor, Stats]:
    """L1 between the decoded one-step latent and the HR image (UNet, LR encoder frozen).

    ``sharpen`` > 0: the target is the USM-sharpened HR image (train/sharpen.py).
    """
    with torch.no_grad():
        z_h = predict_latent(model, lr)
    l1 = F.l1_loss(model.decode(z_h, lr), usm_sharpen(hr, sharpen) * 2 - 1)
    return l1, {"l1": l1.item()}


def distill_loss(
    student: EdgeSDSR,
    hr: torch.Tensor,
    lr: torch.Tensor,
    gen: torch.Generator,
    teacher: EdgeSDSR,
    schedule: ScheduleConfig,
    teacher_lr: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
) -> tuple[torch.Tensor, Stats]:
    """YONOS scale distillation: omega(lambda_t) ||Z_student(z_t, t) - Z_teacher(z_t', t)||^2.

    Both see the same z_h, t and eps. The teacher's noisy latent z_t' is formed with its OWN
    x2 LR encoder (z_t' = alpha z_h + sigma (z_l'_mu + z_l'_sigma eps)), because under
    bidirectional conditioning the LR latent is part of z_t: the student's z_t would be out of
    distribution for the teacher. The target therefore carries x2 information that adapts
    to the noise level, which is easier to match than raw z_h at t near 1.
    """
    cond = student.config.conditioning
    with torch.no_grad():
        z_h = student.encode_hr(hr * 2 - 1)
        t = sample_t(hr.shape[0], schedule, gen, device=hr.device)
        eps = torch.randn(z_h.shape, generator=gen).to(hr.device)
        lr2 = teacher_lr(hr.cpu(), gen).to(hr.device)
        mu_t, sigma_t = teacher.encode_lr(lr2 * 2 - 1)
        z_t_teacher = noisy_latent(z_h, mu_t, sigma_t, t, eps, schedule, teacher.config.conditioning)
        target = teacher.denoise(unet_input(z_t_teacher, mu_t, teacher.config.conditioning), t)
    z_l_mu, z_l_sigma = student.encode_lr(lr * 2 - 1)
    z_t = noisy_latent(z_h, z_l_mu, z_l_sigma, t, eps, schedule, cond)
    pred = student.denoise(unet_input(z_t, z_l_mu, cond), t)
    per_sample = (pred.float() - target.float()).pow(2).mean(dim=(1, 2, 3))
    loss = (loss_weight(t, schedule) * per_sample).mean()
    return loss, {
        "mse_to_teacher": per_sample.mean().item(),
        "teacher_mse_to_z_h": (target - z_h).pow(2).mean().item(),
    }
