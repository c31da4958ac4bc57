"""Real-ESRGAN-style degradations: shapes, ranges, determinism, each component, config checks."""

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
