"""PSNR and SSIM on the BT.601 luma channel, as reported by OSEDiff.

Follows BasicSR's ``calculate_psnr`` / ``calculate_ssim`` with ``test_y_channel=True`` and
``crop_border=0``: Y in [16, 235] (not quantized), data range 255, SSIM with an 11x11 Gaussian
window (sigma 1.5) evaluated only where the window fits ('valid').
"""

import numpy as np
from scipy import ndimage

from toolchain.errors import ToolchainError

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5
_DATA_RANGE = 255.0
_C1 = (0.01 * _DATA_RANGE) ** 2
_C2 = (0.03 * _DATA_RANGE) ** 2


def _to_unit(img: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [0, 1] image -> float64 in [0, 1], same shape."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    return img.astype(np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image, as BasicSR ``rgb2ycbcr(img, y_only=True)``.

    Args:
        img: HxWx3 RGB, uint8 in [0, 255] or float in [0, 1].

    Returns:
        HxW float64 Y in [16, 235].
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ToolchainError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    return _to_unit(img) @ _Y_WEIGHTS + 16.0


def _check_pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both HxWx3 images -> their Y channels (HxW float64, [16, 235])."""
    if pred.shape != ref.shape:
        raise ToolchainError(
            f"image shapes differ: pred {pred.shape} vs ref {ref.shape}; compare images of equal size"
        )
    return rgb_to_y(pred), rgb_to_y(ref)


def psnr_y(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR in dB on Y (data range 255, no border shave); ``inf`` for identical images.

    Args:
        pred, ref: HxWx3 RGB of the same shape, uint8 or float in [0, 1].
    """
    y_pred, y_ref = _check_pair(pred, ref)
    mse = float(np.mean((y_pred - y_ref) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(_DATA_RANGE**2 / mse))


def _gaussian_kernel() -> np.ndarray:
    """1-D normalized Gaussian of length 11, sigma 1.5 (as cv2.getGaussianKernel(11, 1.5))."""
    x = np.arange(_SSIM_SIZE) - (_SSIM_SIZE - 1) / 2
    g = np.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of HxW ``img``, keeping the (H-10)x(W-10) fully covered pixels."""
    out = ndimage.correlate1d(img, kernel, axis=0)
    out = ndimage.correlate1d(out, kernel, axis=1)
    r = _SSIM_SIZE // 2
    return out[r:-r, r:-r]


def ssim_y(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM on Y (BasicSR ``_ssim``): Gaussian 11x11 window, K1=0.01, K2=0.03, 'valid' map.

    Args:
        pred, ref: HxWx3 RGB of the same shape (H, W >= 11), uint8 or float in [0, 1].
    """
    y_pred, y_ref = _check_pair(pred, ref)
    if min(y_pred.shape) < _SSIM_SIZE:
        raise ToolchainError(f"SSIM needs images at least {_SSIM_SIZE}x{_SSIM_SIZE}, got {pred.shape}")
    kernel = _gaussian_kernel()
    mu1 = _filter_valid(y_pred, kernel)
    mu2 = _filter_valid(y_ref, kernel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1**2, mu2**2, mu1 * mu2
    sigma1_sq = _filter_valid(y_pred**2, kernel) - mu1_sq
    sigma2_sq = _filter_valid(y_ref**2, kernel) - mu2_sq
    sigma12 = _filter_valid(y_pred * y_ref, kernel) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + _C1) * (2 * sigma12 + _C2)) / (
        (mu1_sq + mu2_sq + _C1) * (sigma1_sq + sigma2_sq + _C2)
    )
    return float(ssim_map.mean())
