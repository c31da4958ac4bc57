"""PSNR/SSIM on Y and NIQE against hand-computed and MATLAB-reference values."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from toolchain.errors import ToolchainError
from toolchain.metrics.fidelity import psnr_y, rgb_to_y, ssim_y
from toolchain.metrics.niqe import NiqeParams, load_niqe_params, niqe


def _photo(shared_dir: Path, relative: str) -> np.ndarray:
    """An eval image as HxWx3 uint8 RGB."""
    return np.asarray(Image.open(shared_dir / "data" / "eval" / relative).convert("RGB"))


@pytest.fixture
def niqe_params(shared_dir: Path) -> NiqeParams:
    return load_niqe_params(shared_dir / "metrics" / "niqe_pris_params.npz")


def test_rgb_to_y_range_ends() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(img), [[16.0, 235.0]])
    np.testing.assert_allclose(rgb_to_y(img / 255.0), [[16.0, 235.0]])


def test_psnr_constant_offset() -> None:
    ref = np.full((16, 16, 3), 100, dtype=np.uint8)
    pred = ref + np.uint8(10)
    # Y rises by (65.481 + 128.553 + 24.966) * 10 / 255 = 2190 / 255 everywhere.
    expected = 10 * np.log10(255**2 / (2190 / 255) ** 2)
    assert psnr_y(pred, ref) == pytest.approx(expected, abs=1e-9)


def test_psnr_red_offset_float_input() -> None:
    ref = np.full((8, 8, 3), 0.5)
    pred = ref.copy()
    pred[..., 0] += 0.1
    expected = 10 * np.log10(255**2 / (65.481 * 0.1) ** 2)
    assert psnr_y(pred, ref) == pytest.approx(expected, abs=1e-9)


def test_psnr_identical_is_inf() -> None:
    img = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    assert psnr_y(img, img) == float("inf")


def test_ssim_identical_is_one() -> None:
    img = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    assert ssim_y(img, img) == 1.0


def test_ssim_lower_for_noise() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    ref = np.stack([xx * 3, yy * 3, (xx + yy) * 2], axis=-1).astype(np.uint8)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    score = ssim_y(noisy, ref)
    assert 0.0 < score < 0.9
    assert ssim_y(ref / 255.0, ref) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [psnr_y, ssim_y])
def test_shape_mismatch_raises(metric: Callable[[np.ndarray, np.ndarray], float]) -> None:
    a = np.zeros((16, 16, 3), dtype=np.uint8)
    b = np.zeros((16, 17, 3), dtype=np.uint8)
    with pytest.raises(ToolchainError, match=r"\(16, 16, 3\).*\(16, 17, 3\)"):
        metric(a, b)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("set14/HR/img_003.png", 2.512),
        ("b100/HR/img_001.png", 2.830),
        ("drealsr/HR/Canon_10_x1.png", 9.992),
    ],
)
def test_niqe_reference_values(
    shared_dir: Path, niqe_params: NiqeParams, relative: str, expected: float
) -> None:
    assert niqe(_photo(shared_dir, relative), niqe_params) == pytest.approx(expected, abs=0.05)


def test_niqe_higher_for_blur(shared_dir: Path, niqe_params: NiqeParams) -> None:
    img = _photo(shared_dir, "b100/HR/img_001.png")
    blurred = ndimage.gaussian_filter(img.astype(np.float64), sigma=(2.0, 2.0, 0.0))
    blurred = np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    assert niqe(blurred, niqe_params) > niqe(img, niqe_params) + 1.0


def test_niqe_nan_for_flat_image(niqe_params: NiqeParams) -> None:
    assert np.isnan(niqe(np.full((192, 192, 3), 128, dtype=np.uint8), niqe_params))


def test_load_niqe_params_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.npz"
    with pytest.raises(ToolchainError, match="absent.npz.*--niqe-params"):
        load_niqe_params(path)


def test_load_niqe_params_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, mu_pris_param=np.zeros((1, 36)))
    with pytest.raises(ToolchainError, match="cov_pris_param, gaussian_window"):
        load_niqe_params(path)
