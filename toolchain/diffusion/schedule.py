"""The noise schedule over continuous t in [0, 1], and how training samples and weights t.

Variance preserving: alpha_t^2 + sigma_t^2 = 1, alpha_0 = 1, and alpha_1 = 0 exactly
(zero terminal SNR), so that at t = 1 the bidirectional z_1 depends only on the LR
latent: that is the one-step operating point.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch


class ScheduleKind(enum.StrEnum):
    COSINE = "cosine"  # alpha_t = cos(pi t / 2)
    SCALED_LINEAR = "scaled_linear"  # SD v1.5 betas, rescaled to zero terminal SNR (Lin et al. 2024)


class TimestepSampling(enum.StrEnum):
    UNIFORM = "uniform"  # t ~ U[0, 1], the textbook choice
    BIASED = "biased"  # CHOSEN "modified noise sampling schedule": mass near t = 1


@dataclass(frozen=True)
class ScheduleConfig:
    kind: ScheduleKind = ScheduleKind.COSINE
    sampling: TimestepSampling = TimestepSampling.BIASED
    one_prob: float = 0.25  # BIASED: probability of drawing exactly t = 1
    beta_a: float = 3.0  # BIASED: otherwise t ~ Beta(beta_a, 1), density a t^(a-1)
    snr_weight_min: float = 1.0  # loss weight = clamp(SNR_t, min, max) (x0-prediction)
    snr_weight_max: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.one_prob <= 1.0:
            raise ValueError(f"one_prob must be in [0, 1], got {self.one_prob}")
        if self.beta_a <= 0:
            raise ValueError(f"beta_a must be > 0, got {self.beta_a}")
        if not 0 <= self.snr_weight_min <= self.snr_weight_max:
            raise ValueError(
                f"need 0 <= snr_weight_min <= snr_weight_max, got "
                f"{self.snr_weight_min}, {self.snr_weight_max}"
            )


def _sd_sqrt_alphas_cumprod_zsnr() -> torch.Tensor:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    sqrt_ac = torch.cumprod(1.0 - betas, 0).sqrt()
    first, last = sqrt_ac[0].clone(), sqrt_ac[-1].clone()
    rescaled = (sqrt_ac - last) * first / (first - last)
    return torch.cat([torch.ones(1, dtype=torch.float64), rescaled])  # t = 0 is the clean latent


_SD_SQRT_AC = _sd_sqrt_alphas_cumprod_zsnr()


def alpha_sigma(t: torch.Tensor, cfg: ScheduleConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha_t, sigma_t) for t in [0, 1], same shape and dtype as ``t``."""
    t = t.clamp(0.0, 1.0)
    if cfg.kind is ScheduleKind.COSINE:
        alpha = torch.cos(0.5 * math.pi * t)
    else:
        table = _SD_SQRT_AC.to(device=t.device)
        pos = t.double() * (len(table) - 1)
        lo = pos.floor().long().clamp(max=len(table) - 2)
        frac = pos - lo
        alpha = (table[lo] * (1 - frac) + table[lo + 1] * frac).to(t.dtype)
    alpha = torch.where(t >= 1.0, torch.zeros_like(alpha), alpha)  # exact 0 (float cos(pi/2) is not)
    sigma = torch.sqrt((1.0 - alpha**2).clamp(min=0.0))
    return alpha, sigma


def snr(t: torch.Tensor, cfg: ScheduleConfig) -> torch.Tensor:
    alpha, sigma = alpha_sigma(t, cfg)
    return alpha**2 / sigma.clamp(min=1e-12) ** 2


def loss_weight(t: torch.Tensor, cfg: ScheduleConfig) -> torch.Tensor:
    """omega(lambda_t) for the x0-prediction MSE: SNR clamped to [min, max]."""
    return snr(t, cfg).clamp(cfg.snr_weight_min, cfg.snr_weight_max)


def sample_t(
    n: int, cfg: ScheduleConfig, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Draw n training timesteps in [0, 1] from the configured distribution."""
    u = torch.rand(n, generator=generator, dtype=torch.float32)
    if cfg.sampling is TimestepSampling.UNIFORM:
        return u.to(device)
    t = u ** (1.0 / cfg.beta_a)  # inverse CDF of Beta(a, 1)
    one = torch.rand(n, generator=generator) < cfg.one_prob
    return torch.where(one, torch.ones_like(t), t).to(device)
