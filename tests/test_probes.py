"""Camera probes: fixed, reproducible LR degradations of held-out HR crops."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from toolchain.data.datasets import downscale_bicubic
from toolchain.data.probes import CAMERA_NOISE_SIGMA, Probe, probe_lr
from toolchain.data.synthetic_pairs import make_pairs


def _hr(size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    noise = torch.rand(1, 3, size, size, generator=g)
    return F.avg_pool2d(noise, 5, stride=1, padding=2, count_include_pad=False)


def test_sensor_probe_is_the_box_average_of_each_4x4_block() -> None:
    hr = _hr()
    lr = probe_lr(hr, Probe.SENSOR, torch.Generator().manual_seed(0))
    assert lr.shape == (1, 3, 16, 16)
    box = hr.reshape(1, 3, 16, 4, 16, 4).mean(dim=(3, 5))
    assert torch.allclose(lr, (box * 255).round() / 255, atol=1e-6)


def test_camera_noise_probe_adds_the_stated_noise_to_bicubic_and_is_reproducible() -> None:
    ramp = torch.linspace(0.2, 0.8, 256)
    hr = (ramp[None, :] * 0.5 + ramp[:, None] * 0.5).expand(1, 3, 256, 256).contiguous()  # JPEG keeps it
    first = probe_lr(hr, Probe.CAMERA_NOISE, torch.Generator().manual_seed(0))
    again = probe_lr(hr, Probe.CAMERA_NOISE, torch.Generator().manual_seed(0))
    other = probe_lr(hr, Probe.CAMERA_NOISE, torch.Generator().manual_seed(1))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first, (first * 255).round() / 255)
    residual_std = float((first - downscale_bicubic(hr, 4)).std() * 255)
    # on a smooth ramp JPEG 80 quantizes about half of the noise away (measured: 1.76 of 4)
    assert 0.3 * CAMERA_NOISE_SIGMA < residual_std < 0.7 * CAMERA_NOISE_SIGMA
    assert float((probe_lr(hr, Probe.SENSOR, torch.Generator()) - downscale_bicubic(hr, 4)).std() * 255) < 0.5


def test_make_pairs_writes_probe_pairs(tmp_path: Path) -> None:
    hr_dir = tmp_path / "HR"
    hr_dir.mkdir()
    pixels = (_hr(64)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(hr_dir / "a.png")
    for probe in Probe:
        written, skipped = make_pairs(hr_dir, tmp_path / probe.value, probe, seed=0)
        assert (written, skipped) == (1, [])
        lr = np.asarray(Image.open(tmp_path / probe.value / "LR" / "a.png"))
        assert lr.shape == (16, 16, 3)


def test_registration_probe_is_the_bicubic_lr_of_the_hr_moved_by_one_pixel() -> None:
    hr = _hr(64)
    lr = probe_lr(hr, Probe.REGISTRATION, torch.Generator())
    moved = torch.zeros_like(hr)
    moved[..., 1:, 1:] = hr[..., :-1, :-1]
    moved[..., 0, 1:], moved[..., 1:, 0], moved[..., 0, 0] = hr[..., 0, :-1], hr[..., :-1, 0], hr[..., 0, 0]
    assert torch.equal(lr, (downscale_bicubic(moved, 4) * 255).round() / 255)
    assert not torch.equal(lr, probe_lr(hr, Probe.SENSOR, torch.Generator()))
