"""Real-ESRGAN-style degradations: shapes, ranges, determinism, each component, config checks."""

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from toolchain.configio import from_dict, to_dict
from toolchain.data import degradations as deg
from toolchain.data.datasets import downscale_bicubic
from toolchain.errors import ToolchainError


def _hr(batch: int = 2, size: int = 64) -> torch.Tensor:
    """Smooth-ish random RGB crops in [0, 1] (a fixed generator, not the global RNG)."""
    g = torch.Generator().manual_seed(1234)
    noise = torch.rand(batch, 3, size, size, generator=g)
    return F.avg_pool2d(noise, 5, stride=1, padding=2, count_include_pad=False)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


CFG = deg.DegradationConfig.realesrgan_stablesr()


# ----------------------------------------------------------------------------- degrade


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_degrade_shape_range_and_8bit(seed: int) -> None:
    lr = deg.degrade(_hr(), CFG, _gen(seed))
    assert lr.shape == (2, 3, 16, 16)
    assert lr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1
    assert torch.equal(lr, (lr * 255).round() / 255)


def test_clean_prob_mixes_in_the_bicubic_downscale_per_sample() -> None:
    import dataclasses

    hr = _hr(batch=16)
    clean = deg.quantize_8bit(downscale_bicubic(hr, 4))
    is_clean = lambda lr: [torch.equal(lr[i], clean[i]) for i in range(16)]  # noqa: E731
    assert not any(is_clean(deg.degrade(hr, CFG, _gen(3))))
    assert all(is_clean(deg.degrade(hr, dataclasses.replace(CFG, clean_prob=1.0), _gen(3))))
    mixed = is_clean(deg.degrade(hr, dataclasses.replace(CFG, clean_prob=0.5), _gen(3)))
    assert 0 < sum(mixed) < 16
    with pytest.raises(ValueError, match="clean_prob"):
        dataclasses.replace(CFG, clean_prob=1.5)


def test_degrade_is_deterministic_per_seed() -> None:
    hr = _hr()
    a = deg.degrade(hr, CFG, _gen(7))
    b = deg.degrade(hr, CFG, _gen(7))
    c = deg.degrade(hr, CFG, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_degrade_ignores_global_rng() -> None:
    hr = _hr()
    torch.manual_seed(1)
    np.random.seed(1)
    a = deg.degrade(hr, CFG, _gen(3))
    torch.manual_seed(2)
    np.random.seed(2)
    b = deg.degrade(hr, CFG, _gen(3))
    assert torch.equal(a, b)


def test_degrade_requires_a_generator() -> None:
    with pytest.raises(TypeError, match="Generator"):
        deg.degrade(_hr(), CFG, None)  # type: ignore[arg-type]


def test_bicubic_kind_is_downscale_bicubic() -> None:
    hr = _hr()
    lr = deg.degrade(hr, deg.DegradationConfig.bicubic(), _gen(0))
    assert torch.equal(lr, downscale_bicubic(hr, 4))


def test_scale_is_passed_to_degrade_not_written_into_the_config() -> None:
    """Training passes the trained model's scale (x2 for the teacher) without copying the config."""
    hr = _hr()
    assert torch.equal(deg.degrade(hr, deg.DegradationConfig.bicubic(), _gen(0), 2), downscale_bicubic(hr, 2))
    x2 = deg.degrade(hr, CFG, _gen(5), 2)
    assert x2.shape == (2, 3, 32, 32) and CFG.scale == 4
    assert torch.equal(deg.degrade(hr, CFG, _gen(5), 4), deg.degrade(hr, CFG, _gen(5)))
    with pytest.raises(ValueError, match="scale must be >= 1"):
        deg.degrade(hr, CFG, _gen(5), 0)


# ----------------------------------------------------------------------------- components


def test_blur_changes_image_per_sample_and_identity_is_exact() -> None:
    hr = _hr()
    kernels = torch.stack([deg.identity_kernel(9), deg.gaussian_kernel(9, 1.5)])
    out = deg.blur(hr, kernels)
    assert out.shape == hr.shape
    assert torch.equal(out[0], hr[0])
    assert (out[1] - hr[1]).abs().max() > 1e-3
    # A constant image stays constant (kernel sums to 1, reflect padding).
    flat = torch.full((1, 3, 16, 16), 0.25)
    assert torch.allclose(deg.blur(flat, deg.sinc_kernel(21, 1.0)), flat, atol=1e-6)
    # Images smaller than the kernel radius still work (replicate padding).
    assert deg.blur(torch.rand(1, 3, 4, 4, generator=_gen(0)), deg.gaussian_kernel(21, 2.0)).shape == (
        1,
        3,
        4,
        4,
    )


def test_resize_changes_size() -> None:
    hr = _hr()
    for mode in deg.ResizeMode:
        assert deg.resize(hr, 0.5, mode).shape == (2, 3, 32, 32)
        assert deg.resize(hr, (20, 24), mode).shape == (2, 3, 20, 24)
    cfg = deg.ResizeConfig(probs=(0.0, 1.0, 0.0), scale_range=(0.5, 1.0))
    out = deg.random_resize(hr, cfg, _gen(0), base_size=(16, 16))
    assert out.shape[-1] < 16


def test_gaussian_noise_changes_image_and_gray_is_shared() -> None:
    img = torch.full((2, 3, 16, 16), 0.5)
    out = deg.add_gaussian_noise(img, torch.tensor([5.0, 5.0]), torch.tensor([False, True]), _gen(0))
    noise = out - img
    assert noise.abs().max() > 0 and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(noise[0, 0], noise[0, 1])
    assert torch.equal(noise[1, 0], noise[1, 1]) and torch.equal(noise[1, 0], noise[1, 2])


def test_poisson_noise_changes_image_and_gray_is_shared() -> None:
    img = _hr() * 0.5 + 0.25
    out = deg.add_poisson_noise(img, torch.tensor([1.0, 1.0]), torch.tensor([False, True]), _gen(0))
    noise = out - img
    assert noise.abs().max() > 1e-3 and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(noise[0, 0], noise[0, 1])
    assert torch.allclose(noise[1, 0], noise[1, 1], atol=1e-6)
    zero = deg.add_poisson_noise(img, torch.zeros(2), torch.tensor([False, True]), _gen(0))
    assert torch.equal(zero, img)


def test_random_noise_is_seeded() -> None:
    img = _hr()
    cfg = CFG.stage1.noise
    a = deg.random_noise(img, cfg, _gen(4))
    assert torch.equal(a, deg.random_noise(img, cfg, _gen(4)))
    assert not torch.equal(a, img)


def test_jpeg_changes_image_and_checks_quality() -> None:
    hr = _hr(size=32)
    out = deg.jpeg(hr, torch.tensor([30, 90]))
    assert out.shape == hr.shape and out.dtype == hr.dtype
    assert (out - hr).abs().mean() > 1e-3
    assert torch.equal(out, (out * 255).round() / 255)
    with pytest.raises(ValueError, match="quality"):
        deg.jpeg(hr, [50])


def test_quantize_8bit() -> None:
    x = torch.tensor([-0.1, 0.5, 0.50196, 1.2])
    assert torch.equal(deg.quantize_8bit(x), torch.tensor([0.0, 128 / 255, 128 / 255, 1.0]))


# ----------------------------------------------------------------------------- kernels


def _sym_iso(k: torch.Tensor) -> bool:
    return all(torch.allclose(k, t, atol=1e-7) for t in (k.T, k.flip(0), k.flip(1)))


def _sym_point(k: torch.Tensor) -> bool:
    return torch.allclose(k, k.flip(0).flip(1), atol=1e-7)


def test_kernel_builders_sum_to_one_and_are_symmetric() -> None:
    iso = [
        deg.gaussian_kernel(21, 2.0),
        deg.generalized_gaussian_kernel(21, 2.0, beta=0.7),
        deg.plateau_kernel(21, 2.0, beta=1.3),
        deg.sinc_kernel(13, math.pi / 4),
        deg.sinc_kernel(7, math.pi / 2, pad_to=21),
    ]
    aniso = [
        deg.gaussian_kernel(21, 3.0, 0.8, 0.6),
        deg.generalized_gaussian_kernel(21, 3.0, 0.8, 0.6, beta=1.8),
        deg.plateau_kernel(21, 3.0, 0.8, 0.6, beta=1.2),
    ]
    for k in iso + aniso:
        assert k.dtype == torch.float32
        assert abs(float(k.sum()) - 1.0) < 1e-5
    assert all(_sym_iso(k) for k in iso)
    assert all(_sym_point(k) and not _sym_iso(k) for k in aniso)
    assert iso[4].shape == (21, 21) and iso[4][:7].abs().sum() == 0
    assert torch.allclose(deg.generalized_gaussian_kernel(11, 1.2, beta=1.0), deg.gaussian_kernel(11, 1.2))


def test_sampled_kernels_sum_to_one() -> None:
    blur = CFG.stage1.blur
    kernels = deg.sample_blur_kernels(blur, 12, _gen(0))
    assert kernels.shape == (12, 21, 21)
    assert torch.allclose(kernels.sum((1, 2)), torch.ones(12), atol=1e-5)
    assert all(_sym_point(k) for k in kernels)
    assert torch.equal(kernels, deg.sample_blur_kernels(blur, 12, _gen(0)))
    sinc = deg.sample_sinc_kernels(6, 1.0, 7, 21, _gen(0))
    assert torch.allclose(sinc.sum((1, 2)), torch.ones(6), atol=1e-5)
    assert all(_sym_iso(k) for k in sinc)
    skipped = deg.sample_blur_kernels(blur, 3, _gen(0), apply_prob=0.0)
    assert torch.equal(skipped, deg.identity_kernel(21).expand(3, 21, 21))


# ----------------------------------------------------------------------------- config


def test_config_validation_names_field_and_value() -> None:
    blur = CFG.stage1.blur
    with pytest.raises(ValueError, match="kernel_size.*20"):
        deg.BlurConfig(20, blur.kernel_list, blur.kernel_probs, (0.2, 1.5), (0.5, 2.0), (1.0, 1.5), 0.1)
    with pytest.raises(ValueError, match="kernel_probs"):
        deg.BlurConfig(21, blur.kernel_list, (0.5, 0.5), (0.2, 1.5), (0.5, 2.0), (1.0, 1.5), 0.1)
    with pytest.raises(ValueError, match=r"gray_prob.*1\.5"):
        deg.RandomNoiseConfig(0.5, (1.0, 15.0), 1.5, (0.05, 2.0))
    with pytest.raises(ValueError, match="scale_range"):
        deg.ResizeConfig((0.2, 0.7, 0.1), (1.2, 1.5))
    with pytest.raises(ValueError, match="quality_range"):
        deg.JpegConfig((95, 60))
    with pytest.raises(ValueError, match="stage1"):
        deg.DegradationConfig(kind=deg.DegradationKind.REALESRGAN)


def test_config_round_trips_through_json_dicts() -> None:
    for cfg in (CFG, deg.DegradationConfig.bicubic()):
        assert from_dict(deg.DegradationConfig, to_dict(cfg)) == cfg
    data = to_dict(CFG)
    data["stage2"]["noise"]["gray_prob"] = 2.0
    with pytest.raises(ToolchainError, match="stage2.noise.*gray_prob"):
        from_dict(deg.DegradationConfig, data)


# ----------------------------------------------------------------------------- the device path
# apply_plan (parameters drawn on the host, pixels on the training device, torch JPEG) against
# degrade (today's CPU pipeline, Pillow JPEG): bit-exact where the step is deterministic, in
# distribution where a different generator draws the pixel noise.

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _photo_like(batch: int, size: int, seed: int) -> torch.Tensor:
    """Smooth structure plus fine texture in [0, 1], so every JPEG quality has work to do."""
    g = _gen(seed)
    smooth = F.interpolate(torch.rand(batch, 3, 6, 6, generator=g), size=(size, size), mode="bicubic")
    return (smooth + 0.08 * torch.randn(batch, 3, size, size, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("height", "width"),  # whole MCUs; odd sizes; an even size in a partial MCU; chroma 1-2 wide
    [(64, 64), (37, 45), (8, 24), (24, 8), (40, 40), (3, 5), (40, 2), (9, 4)],
)
def test_torch_jpeg_equals_pillow_bit_for_bit(device: str, height: int, width: int) -> None:
    img = _photo_like(12, max(height, width), height * width)[..., :height, :width]
    quality = torch.tensor([0, 1, 10, 25, 50, 60, 75, 85, 90, 95, 99, 100])
    pillow = deg.jpeg(img, quality)
    torch_jpeg = deg.jpeg(img.to(device), quality, deg.JpegCodec.TORCH)
    assert torch_jpeg.device.type == device
    assert torch.equal(torch_jpeg.cpu(), pillow)


def test_jpeg_quantization_by_division_equals_libjpegs_reciprocal() -> None:
    """torch_jpeg divides; libjpeg-turbo multiplies by a reciprocal (jcdctmgr.c compute_reciprocal).
    Equal for every 8-bit ISLOW coefficient magnitude and every baseline table entry."""
    from toolchain.data.torch_jpeg import _quantize

    coef = torch.arange(1 << 15, dtype=torch.int64)[:, None]
    divisor = torch.arange(1, 256, dtype=torch.int64)[None, :] * 8
    bits = torch.floor(torch.log2(divisor.double())).long()
    r = 16 + bits
    fq, fr = (1 << r) // divisor, (1 << r) % divisor
    small = fr <= divisor // 2
    corr = divisor // 2 + ((fr != 0) & small).long()
    fq = torch.where(fr == 0, fq >> 1, torch.where(small, fq, fq + 1))
    r = torch.where(fr == 0, r - 1, r)
    assert torch.equal(_quantize(coef, divisor // 8), ((coef + corr) * fq) >> r)


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_steps_match_the_cpu_on_the_device(device: str) -> None:
    """Blur with given kernels and resize: bit-exact on the CPU; on CUDA within float32 rounding
    (another summation order, TF32 convolutions: 1e-3 is ~1/4 of an 8-bit level)."""
    hr = _photo_like(6, 48, 1)
    kernels = deg.sample_blur_kernels(CFG.stage1.blur, 6, _gen(2))
    atol = 0.0 if device == "cpu" else 1e-3
    on_device = deg.blur(hr.to(device), kernels)
    torch.testing.assert_close(on_device.cpu(), deg.blur(hr, kernels), atol=atol, rtol=0)
    for mode in deg.ResizeMode:
        for size in (0.6, 1.3, (12, 12)):
            torch.testing.assert_close(
                deg.resize(hr.to(device), size, mode).cpu(), deg.resize(hr, size, mode), atol=atol, rtol=0
            )


def test_the_codec_is_the_only_difference_between_the_host_and_device_pipelines() -> None:
    hr = _photo_like(8, 64, 3)
    plan = deg.draw_plan(CFG, 8, (64, 64), _gen(4), 4)
    pillow = deg.apply_plan(hr, plan, _gen(5), deg.JpegCodec.PILLOW)
    assert torch.equal(deg.apply_plan(hr, plan, _gen(5), deg.JpegCodec.TORCH), pillow)
    assert not torch.equal(deg.apply_plan(hr, plan, _gen(6), deg.JpegCodec.TORCH), pillow)  # noise


def _mean_and_spread(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-sample statistics and the standard error of that mean."""
    return values.mean().item(), values.std().item() / values.numel() ** 0.5


def _same_distribution(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Two independent sets of per-sample statistics agree in their means within 4.5 standard
    errors of the difference: a false alarm for a correct implementation has probability ~1e-5,
    while a missing or doubled step (no JPEG, no blur, noise twice as strong) moves the mean of the
    error by far more (the negative controls below check that)."""
    (ma, sa), (mb, sb) = _mean_and_spread(a), _mean_and_spread(b)
    return abs(ma - mb) <= 4.5 * (sa**2 + sb**2) ** 0.5


@pytest.mark.parametrize("device", DEVICES)
def test_device_noise_matches_the_cpus_in_distribution(device: str) -> None:
    """Gaussian and Poisson noise from a generator on the device: per sample, the mean and the
    variance of the added noise, compared with today's CPU draws over 256 samples."""
    img = (_photo_like(256, 24, 7) * 0.8 + 0.1).to(device)  # away from the clamp at 0 and 1
    gen = torch.Generator(device=device).manual_seed(8)
    for gaussian in (True, False):
        draw = deg.draw_noise(CFG.stage1.noise, 256, _gen(9))
        draw = deg.NoiseDraw(torch.full((256,), gaussian), draw.sigma, draw.gray, draw.poisson_scale)
        cpu = draw.apply(img.cpu(), _gen(10)) - img.cpu()
        dev = (draw.apply(img, gen) - img).cpu()
        for stat in (lambda x: x.mean((1, 2, 3)), lambda x: x.var((1, 2, 3))):
            assert _same_distribution(stat(dev), stat(cpu))
        assert not _same_distribution(dev.var((1, 2, 3)), (2 * cpu).var((1, 2, 3)))  # control


def _louder(plan: deg.DegradationPlan, factor: float) -> deg.DegradationPlan:
    def stage(draw: deg.StageDraw) -> deg.StageDraw:
        noise = draw.noise
        noise = dataclasses.replace(
            noise, sigma=noise.sigma * factor, poisson_scale=noise.poisson_scale * factor
        )
        return dataclasses.replace(draw, noise=noise)

    return dataclasses.replace(plan, stage1=stage(plan.stage1), stage2=stage(plan.stage2))


def _without_jpeg(plan: deg.DegradationPlan) -> deg.DegradationPlan:
    final = dataclasses.replace(plan.final, quality=torch.full_like(plan.final.quality, 100))
    return dataclasses.replace(plan, quality1=torch.full_like(plan.quality1, 100), final=final)


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_pipeline_matches_the_cpus_in_distribution(device: str) -> None:
    """The whole degradation with the same drawn parameters: on the device (torch JPEG, noise from
    a device generator) against the CPU (Pillow JPEG, CPU generator), 64 samples in 16 batches.

    Per sample the mean and the variance of the LR error (LR minus the bicubic downscale of the
    HR); the paired differences must average to 0 within 4.5 standard errors (a false alarm for
    a correct implementation: ~1e-5). Controls: noise 1.5x as strong, or no JPEG, are caught.
    """
    hr = _photo_like(64, 48, 11)
    reference = downscale_bicubic(hr, 4)
    plans = [deg.draw_plan(CFG, 4, (48, 48), _gen(500 + i), 4) for i in range(16)]

    def run(plans: list[deg.DegradationPlan], on: str, codec: deg.JpegCodec, seed: int = 2) -> torch.Tensor:
        gen = torch.Generator(device=on).manual_seed(seed)
        x = hr.to(on)
        return torch.cat(
            [deg.apply_plan(x[4 * i : 4 * i + 4], p, gen, codec).cpu() for i, p in enumerate(plans)]
        )

    def z_scores(lr: torch.Tensor, cpu: torch.Tensor) -> list[float]:
        out = []
        for stat in (lambda x: (x - reference).mean((1, 2, 3)), lambda x: (x - reference).var((1, 2, 3))):
            diff = stat(lr) - stat(cpu)
            out.append(abs(diff.mean().item()) / (diff.std().item() / diff.numel() ** 0.5))
        return out

    cpu = run(plans, "cpu", deg.JpegCodec.PILLOW, seed=1)
    assert max(z_scores(run(plans, device, deg.JpegCodec.TORCH), cpu)) <= 4.5
    assert z_scores(run([_louder(p, 1.5) for p in plans], device, deg.JpegCodec.TORCH), cpu)[1] > 4.5
    assert z_scores(run([_without_jpeg(p) for p in plans], device, deg.JpegCodec.TORCH), cpu)[1] > 4.5
