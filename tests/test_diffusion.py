"""Noise schedule, timestep sampling, the forward process and the one-step sampler."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from toolchain.configio import from_dict
from toolchain.diffusion.forward import Conditioning, noisy_latent, terminal_latent, unet_input
from toolchain.diffusion.schedule import (
    ScheduleConfig,
    ScheduleKind,
    TimestepSampling,
    alpha_sigma,
    loss_weight,
    sample_t,
    snr,
)
from toolchain.errors import ToolchainError
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import OneStepSR, predict_latent

KINDS = list(ScheduleKind)
CONDITIONINGS = list(Conditioning)


def _cfg(kind: ScheduleKind = ScheduleKind.COSINE, **kwargs) -> ScheduleConfig:
    return ScheduleConfig(kind=kind, **kwargs)


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_schedule_endpoints_are_exact(kind: ScheduleKind, dtype: torch.dtype) -> None:
    alpha, sigma = alpha_sigma(torch.tensor([0.0, 1.0], dtype=dtype), _cfg(kind))
    assert alpha.dtype == dtype and sigma.dtype == dtype
    assert alpha[0].item() == 1.0
    assert sigma[0].item() == 0.0
    assert alpha[1].item() == 0.0
    assert sigma[1].item() == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_is_variance_preserving_and_monotone(kind: ScheduleKind) -> None:
    t = torch.linspace(0.0, 1.0, 1001)
    alpha, sigma = alpha_sigma(t, _cfg(kind))
    assert alpha.shape == t.shape
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(t), atol=1e-6)
    assert (alpha >= 0).all() and (alpha <= 1).all()
    assert (alpha[1:] < alpha[:-1]).all(), "alpha must be strictly decreasing"
    assert (sigma[1:] > sigma[:-1]).all(), "sigma must be strictly increasing"


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_keeps_shape_and_clamps_t(kind: ScheduleKind) -> None:
    t = torch.tensor([[-0.5, 0.0], [1.0, 1.5]])
    alpha, sigma = alpha_sigma(t, _cfg(kind))
    assert alpha.shape == (2, 2) and sigma.shape == (2, 2)
    assert alpha[0, 0].item() == 1.0 and alpha[1, 1].item() == 0.0
    assert sigma[1, 1].item() == 1.0


def test_schedule_kinds_differ_in_the_interior() -> None:
    t = torch.tensor([0.25, 0.5, 0.75])
    cosine, _ = alpha_sigma(t, _cfg(ScheduleKind.COSINE))
    linear, _ = alpha_sigma(t, _cfg(ScheduleKind.SCALED_LINEAR))
    assert torch.allclose(cosine, torch.cos(0.5 * torch.pi * t))
    assert not torch.allclose(cosine, linear, atol=1e-2)
    # SD's scaled-linear schedule loses signal faster than the cosine one
    assert (linear < cosine).all()


@pytest.mark.parametrize("kind", KINDS)
def test_snr(kind: ScheduleKind) -> None:
    cfg = _cfg(kind)
    t = torch.linspace(0.0, 1.0, 101)
    values = snr(t, cfg)
    assert torch.isfinite(values).all(), "sigma_0 = 0 must not give inf"
    assert values[-1].item() == 0.0
    assert values[0] > 1e6
    assert (values[1:] <= values[:-1]).all()
    alpha, sigma = alpha_sigma(t[1:-1], cfg)
    assert torch.allclose(values[1:-1], alpha**2 / sigma**2, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_weight_is_clamped_snr(kind: ScheduleKind) -> None:
    cfg = _cfg(kind, snr_weight_min=0.5, snr_weight_max=3.0)
    t = torch.linspace(0.0, 1.0, 201)
    weights = loss_weight(t, cfg)
    values = snr(t, cfg)
    assert weights.min().item() == 0.5 and weights.max().item() == 3.0
    assert weights[0].item() == 3.0  # t = 0: huge SNR, clamped to the max
    assert weights[-1].item() == 0.5  # t = 1: SNR 0, clamped to the min
    inside = (values > 0.5) & (values < 3.0)
    assert inside.any()
    assert torch.equal(weights[inside], values[inside])


def test_loss_weight_defaults() -> None:
    cfg = ScheduleConfig()
    weights = loss_weight(torch.tensor([0.0, 0.5, 1.0]), cfg)
    assert weights.tolist() == pytest.approx([5.0, 1.0, 1.0])  # cosine: SNR(0.5) = 1


# --------------------------------------------------------------------------- timestep sampling


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("sampling", list(TimestepSampling))
def test_sample_t_is_deterministic_per_seed(sampling: TimestepSampling) -> None:
    cfg = ScheduleConfig(sampling=sampling)
    a = sample_t(256, cfg, _gen(1))
    b = sample_t(256, cfg, _gen(1))
    c = sample_t(256, cfg, _gen(2))
    assert a.shape == (256,) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert (a >= 0).all() and (a <= 1).all()


@pytest.mark.parametrize("sampling", list(TimestepSampling))
def test_sample_t_does_not_touch_the_global_rng(sampling: TimestepSampling) -> None:
    state = torch.random.get_rng_state()
    sample_t(64, ScheduleConfig(sampling=sampling), _gen(3))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_sample_t_uniform() -> None:
    t = sample_t(20000, ScheduleConfig(sampling=TimestepSampling.UNIFORM), _gen(0))
    assert t.mean().item() == pytest.approx(0.5, abs=0.01)
    assert (t == 1.0).float().mean().item() < 1e-3
    assert torch.histc(t, bins=4, min=0.0, max=1.0).min().item() > 0.23 * len(t)


def test_sample_t_biased() -> None:
    cfg = ScheduleConfig(sampling=TimestepSampling.BIASED, one_prob=0.3, beta_a=3.0)
    t = sample_t(20000, cfg, _gen(0))
    uniform = sample_t(20000, ScheduleConfig(sampling=TimestepSampling.UNIFORM), _gen(0))
    assert (t == 1.0).float().mean().item() == pytest.approx(0.3, abs=0.015)
    # mean of 0.3 * 1 + 0.7 * Beta(3, 1) = 0.3 + 0.7 * 3/4
    assert t.mean().item() == pytest.approx(0.825, abs=0.01)
    assert t.mean() > uniform.mean() + 0.2
    assert (t >= 0).all() and (t <= 1).all()


@pytest.mark.parametrize(("one_prob", "expected"), [(0.0, 0.0), (1.0, 1.0)])
def test_sample_t_biased_extremes(one_prob: float, expected: float) -> None:
    cfg = ScheduleConfig(sampling=TimestepSampling.BIASED, one_prob=one_prob)
    t = sample_t(2000, cfg, _gen(0))
    assert (t == 1.0).float().mean().item() == pytest.approx(expected, abs=1e-3)


def test_sample_t_biased_with_beta_one_is_uniform_apart_from_the_ones() -> None:
    cfg = ScheduleConfig(sampling=TimestepSampling.BIASED, one_prob=0.0, beta_a=1.0)
    t = sample_t(20000, cfg, _gen(0))
    assert t.mean().item() == pytest.approx(0.5, abs=0.01)


# --------------------------------------------------------------------------- schedule config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"one_prob": -0.1},
        {"one_prob": 1.5},
        {"beta_a": 0.0},
        {"beta_a": -1.0},
        {"snr_weight_min": -1.0},
        {"snr_weight_min": 6.0, "snr_weight_max": 5.0},
    ],
)
def test_schedule_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ScheduleConfig(**kwargs)
    with pytest.raises(ToolchainError) as exc:
        from_dict(ScheduleConfig, kwargs, where="schedule")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("schedule")


def test_schedule_config_from_dict() -> None:
    assert from_dict(ScheduleConfig, {}) == ScheduleConfig()
    cfg = from_dict(ScheduleConfig, {"kind": "scaled_linear", "sampling": "uniform", "beta_a": 2})
    assert cfg.kind is ScheduleKind.SCALED_LINEAR
    assert cfg.sampling is TimestepSampling.UNIFORM
    assert cfg.beta_a == 2.0
    for bad, fragment in [
        ({"kind": "linear"}, "schedule.kind"),
        ({"sampling": "logit_normal"}, "schedule.sampling"),
        ({"one_prob": "0.5"}, "expected a number"),
        ({"warmup": 1}, "unknown key 'warmup'"),
    ]:
        with pytest.raises(ToolchainError, match=fragment):
            from_dict(ScheduleConfig, bad, where="schedule")


# --------------------------------------------------------------------------- forward process


def _latents(b: int = 3, c: int = 4, s: int = 8) -> tuple[torch.Tensor, ...]:
    z_h = torch.randn(b, c, s, s)
    z_l_mu = torch.randn(b, c, s, s)
    z_l_sigma = torch.rand(b, c, s, s) + 0.1
    eps = torch.randn(b, c, s, s)
    return z_h, z_l_mu, z_l_sigma, eps


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_terminal_latent_ignores_z_h(kind: ScheduleKind) -> None:
    cfg = _cfg(kind)
    z_h, mu, sigma, eps = _latents()
    t = torch.ones(3)
    bi = Conditioning.BIDIRECTIONAL
    z_1 = noisy_latent(z_h, mu, sigma, t, eps, cfg, bi)
    assert torch.equal(z_1, noisy_latent(z_h * 100 + 7, mu, sigma, t, eps, cfg, bi))
    assert torch.equal(z_1, noisy_latent(torch.zeros_like(z_h), mu, sigma, t, eps, cfg, bi))
    assert torch.equal(z_1, terminal_latent(mu, sigma, eps, bi))
    assert torch.allclose(z_1, mu + sigma * eps)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("kind", KINDS)
def test_noisy_latent_at_t0_is_z_h(kind: ScheduleKind, conditioning: Conditioning) -> None:
    z_h, mu, sigma, eps = _latents()
    z_0 = noisy_latent(z_h, mu, sigma, torch.zeros(3), eps, _cfg(kind), conditioning)
    assert torch.equal(z_0, z_h)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_noisy_latent_uses_each_samples_t(conditioning: Conditioning) -> None:
    cfg = ScheduleConfig()
    z_h, mu, sigma, eps = _latents()
    t = torch.tensor([0.0, 0.4, 1.0])
    z_t = noisy_latent(z_h, mu, sigma, t, eps, cfg, conditioning)
    noise = mu + sigma * eps if conditioning is Conditioning.BIDIRECTIONAL else eps
    alpha, sig = alpha_sigma(t, cfg)
    for i in range(3):
        assert torch.allclose(z_t[i], alpha[i] * z_h[i] + sig[i] * noise[i], atol=1e-6)
    assert torch.equal(z_t[0], z_h[0])
    assert torch.equal(z_t[2], noise[2])


def test_bidirectional_gradients_reach_the_lr_latent() -> None:
    cfg = ScheduleConfig()
    z_h, mu, sigma, eps = _latents()
    mu.requires_grad_(True)
    sigma.requires_grad_(True)
    t = torch.tensor([0.3, 0.7, 1.0])
    noisy_latent(z_h, mu, sigma, t, eps, cfg, Conditioning.BIDIRECTIONAL).sum().backward()
    assert mu.grad is not None and sigma.grad is not None
    assert (mu.grad != 0).all()
    assert (sigma.grad != 0).all()
    _, sig = alpha_sigma(t, cfg)
    # d z_t / d mu = sigma_t, d z_t / d z_l_sigma = sigma_t * eps
    assert torch.allclose(mu.grad, sig[:, None, None, None].expand_as(mu))
    assert torch.allclose(sigma.grad, sig[:, None, None, None] * eps)


def test_bidirectional_joint_training_reaches_the_lr_encoder() -> None:
    model = EdgeSDSR(load_preset("tiny"))
    lr = torch.rand(1, 3, 16, 16) * 2 - 1
    mu, sigma = model.encode_lr(lr)
    z_h = torch.randn_like(mu)
    eps = torch.randn_like(mu)
    z_t = noisy_latent(z_h, mu, sigma, torch.ones(1), eps, ScheduleConfig(), Conditioning.BIDIRECTIONAL)
    pred = model.denoise(unet_input(z_t, mu, Conditioning.BIDIRECTIONAL), torch.ones(1))
    (pred - z_h).pow(2).mean().backward()
    grads = [p.grad for p in model.lr_encoder.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert model.lr_encoder.conv_in.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_unidirectional_terminal_latent_is_eps(kind: ScheduleKind) -> None:
    z_h, mu, sigma, eps = _latents()
    mu.requires_grad_(True)
    sigma.requires_grad_(True)
    uni = Conditioning.UNIDIRECTIONAL
    z_1 = noisy_latent(z_h, mu, sigma, torch.ones(3), eps, _cfg(kind), uni)
    assert torch.equal(z_1, eps)
    assert torch.equal(terminal_latent(mu, sigma, eps, uni), eps)
    assert torch.equal(z_1, noisy_latent(z_h + 3, mu * 2, sigma * 2, torch.ones(3), eps, _cfg(kind), uni))
    assert not z_1.requires_grad  # the LR latent does not enter the unidirectional forward process


def test_unet_input() -> None:
    z_t = torch.randn(2, 4, 8, 8)
    mu = torch.randn(2, 4, 8, 8)
    assert unet_input(z_t, mu, Conditioning.BIDIRECTIONAL) is z_t
    both = unet_input(z_t, mu, Conditioning.UNIDIRECTIONAL)
    assert both.shape == (2, 8, 8, 8)
    assert torch.equal(both[:, :4], z_t)
    assert torch.equal(both[:, 4:], mu)


# --------------------------------------------------------------------------- one-step sampler


@pytest.fixture(params=CONDITIONINGS, ids=lambda c: c.value)
def tiny_model(request: pytest.FixtureRequest) -> EdgeSDSR:
    config = dataclasses.replace(load_preset("tiny"), conditioning=request.param)
    return EdgeSDSR(config).eval()


@torch.no_grad()
def test_predict_latent_default_eps_is_zero(tiny_model: EdgeSDSR) -> None:
    lr = torch.rand(2, 3, 16, 16)
    pred = predict_latent(tiny_model, lr)
    assert pred.shape == (2, 4, 8, 8)
    assert torch.equal(pred, predict_latent(tiny_model, lr, torch.zeros(2, 4, 8, 8)))


@torch.no_grad()
def test_predict_latent_is_the_unet_at_t1(tiny_model: EdgeSDSR) -> None:
    lr = torch.rand(1, 3, 16, 16)
    eps = torch.randn(1, 4, 8, 8)
    conditioning = tiny_model.config.conditioning
    mu, sigma = tiny_model.encode_lr(lr * 2 - 1)
    z_1 = terminal_latent(mu, sigma, eps, conditioning)
    expected = tiny_model.denoise(unet_input(z_1, mu, conditioning), torch.ones(1))
    assert torch.allclose(predict_latent(tiny_model, lr, eps), expected, atol=1e-6)


@torch.no_grad()
def test_one_step_sr_noise(tiny_model: EdgeSDSR) -> None:
    lr = torch.rand(1, 3, 16, 16)
    eps = torch.randn(1, 4, 8, 8)
    deterministic = OneStepSR(tiny_model)(lr)
    noisy = OneStepSR(tiny_model, noise_scale=0.5)
    out = noisy(lr, eps)
    assert out.shape == (1, 3, 64, 64)
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, deterministic)
    assert torch.equal(out, noisy(lr, eps.clone()))
    assert torch.equal(noisy(lr), deterministic)  # no eps: eps = 0
    assert torch.equal(OneStepSR(tiny_model, noise_scale=0.0)(lr, eps), deterministic)
    # the sampler scales eps by noise_scale before the LR encoder's z_1
    expected = tiny_model.decode(predict_latent(tiny_model, lr, eps * 0.5))
    assert torch.allclose(out, ((expected + 1) * 0.5).clamp(0, 1), atol=1e-6)
