"""Synthetic LR degradations: Real-ESRGAN's second-order pipeline (StableSR settings) or plain bicubic.

Images are ``(B, 3, H, W)`` float32 RGB in [0, 1] unless a function says otherwise. Each degradation
comes as a pair: a deterministic function of explicit parameters (``blur``, ``resize``,
``add_gaussian_noise``, ``add_poisson_noise``, ``jpeg`` and the kernel builders) and a sampling
wrapper that draws those parameters from a config range (``sample_blur_kernels``,
``random_resize``, ``random_noise``, ``random_jpeg``). ``degrade`` chains the wrappers.

Randomness: every random function takes a ``torch.Generator``; nothing reads the global torch,
numpy or ``random`` state. Parameters are drawn on the generator's device in one call per
step and moved to the CPU (kernels are built there in float64); pixel noise is drawn with the
same generator on the image's device, so the generator must live on the image's device.
The same seed gives bit-identical outputs on the same device and thread count.

Two ways to run the pipeline, with the same draw and apply functions per stage: ``degrade``
interleaves drawing and applying on one generator (the CPU path, and ``toolchain degrade``);
``draw_plan`` draws every parameter of a batch on a CPU generator (a loader worker does it) and
``apply_plan`` does the pixel work on the training device, pixel noise from a generator there
and the torch JPEG (``JpegCodec.TORCH``), which is how training degrades on a GPU
(data/training_batches.py).

Pipeline (``DegradationKind.REALESRGAN``; ``xinntao/Real-ESRGAN: realesrgan_model.py, feed_data``)::

    HR (B,3,H,W)
     -> stage 1: blur (kernel1) -> resize (x s of the current size) -> noise -> JPEG
     -> stage 2: blur (kernel2, prob blur_prob) -> resize (x s of H/scale) -> noise
     -> final, in random order (prob 0.5 each):
          [resize to H/scale + sinc filter] -> JPEG(stage2.jpeg)
          JPEG(stage2.jpeg) -> [resize to H/scale + sinc filter]
        (Real-ESRGAN reports other orders, e.g. sinc + JPEG + resize, give twisted lines.)
     -> clamp and round to 8 bits -> LR (B,3,H/scale,W/scale)

The image is clamped to [0, 1] after each noise step and before each JPEG (JPEG on values
outside [0, 1] gives unpleasant artifacts), as in Real-ESRGAN.
"""

from __future__ import annotations

import enum
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from toolchain.data.datasets import downscale_bicubic
from toolchain.data.degradation_kinds import DegradationKind
from toolchain.data.torch_jpeg import jpeg_round_trip

# Sinc cut-off ranges from Real-ESRGAN's dataset: kernels smaller than 13 taps use [pi/3, pi], larger
# ones may go down to pi/5 (a wider ringing lobe only fits in a large kernel). The final sinc always
# uses [pi/3, pi].
_SINC_SMALL_KERNEL = 13
_SINC_CUTOFF_SMALL = (math.pi / 3, math.pi)
_SINC_CUTOFF_LARGE = (math.pi / 5, math.pi)
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


class KernelKind(enum.StrEnum):
    """Blur kernel families of BasicSR's ``random_mixed_kernels``."""

    ISO = "iso"  # isotropic Gaussian
    ANISO = "aniso"  # anisotropic, rotated Gaussian
    GENERALIZED_ISO = "generalized_iso"  # exp(-q^beta / 2), isotropic
    GENERALIZED_ANISO = "generalized_aniso"
    PLATEAU_ISO = "plateau_iso"  # 1 / (1 + q^beta), isotropic
    PLATEAU_ANISO = "plateau_aniso"


class JpegCodec(enum.StrEnum):
    """Which implementation runs the JPEG round trip (both give the same pixels)."""

    PILLOW = "pillow"  # per sample on the host: fastest on a CPU
    TORCH = "torch"  # batched tensors on the image's device (toolchain/data/torch_jpeg.py)


class ResizeMode(enum.StrEnum):
    """``F.interpolate`` modes Real-ESRGAN draws from (no antialiasing, as there)."""

    AREA = "area"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


ALL_KERNELS = tuple(KernelKind)
ALL_RESIZE_MODES = tuple(ResizeMode)


# --------------------------------------------------------------------------------------------- #
# Config
# --------------------------------------------------------------------------------------------- #


def _check_range(
    name: str, value: tuple[float, ...], low: float, high: float, open_low: bool = False
) -> None:
    """``value`` must be (lo, hi) with low <= lo <= hi <= high (low < lo if ``open_low``)."""
    ok = len(value) == 2 and value[0] <= value[1] and value[1] <= high
    ok = ok and (value[0] > low if open_low else value[0] >= low)
    if not ok:
        bound = f"{low} <{'' if open_low else '='} lo <= hi <= {high}"
        raise ValueError(f"{name} must be (lo, hi) with {bound}, got {value}")


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _check_probs(name: str, value: tuple[float, ...], count: int) -> None:
    if len(value) != count or any(p < 0 for p in value) or abs(sum(value) - 1.0) > 1e-6:
        raise ValueError(f"{name} needs {count} non-negative probabilities summing to 1, got {value}")


def _check_odd_sizes(name: str, low: int, high: int) -> None:
    if low < 1 or low % 2 == 0 or high % 2 == 0 or low > high:
        raise ValueError(f"{name} must be odd sizes with 1 <= min <= max, got min {low}, max {high}")


@dataclass(frozen=True)
class BlurConfig:
    """Random blur kernel of one stage (BasicSR ``random_mixed_kernels`` + Real-ESRGAN's sinc).

    Attributes:
        kernel_size: largest kernel size (odd). Each sample draws an odd size uniformly from
            [min_kernel_size, kernel_size]; kernels are zero-padded to kernel_size.
        kernel_list: kernel families to draw from.
        kernel_probs: probability of each entry of kernel_list (sums to 1).
        sigma_range: (lo, hi) of sigma_x and (anisotropic kernels) sigma_y, in pixels.
        betag_range: (lo, hi) shape of the generalized Gaussian.
        betap_range: (lo, hi) shape of the plateau kernel.
        sinc_prob: probability of a sinc (circular low-pass) kernel instead of the families above.
        min_kernel_size: smallest kernel size (odd); 7 in Real-ESRGAN.
    """

    kernel_size: int
    kernel_list: tuple[KernelKind, ...]
    kernel_probs: tuple[float, ...]
    sigma_range: tuple[float, ...]
    betag_range: tuple[float, ...]
    betap_range: tuple[float, ...]
    sinc_prob: float
    min_kernel_size: int = 7

    def __post_init__(self) -> None:
        _check_odd_sizes("kernel_size/min_kernel_size", self.min_kernel_size, self.kernel_size)
        if not self.kernel_list or len(set(self.kernel_list)) != len(self.kernel_list):
            raise ValueError(f"kernel_list must be non-empty without repeats, got {self.kernel_list}")
        _check_probs("kernel_probs", self.kernel_probs, len(self.kernel_list))
        _check_range("sigma_range", self.sigma_range, 0.0, math.inf, open_low=True)
        _check_range("betag_range", self.betag_range, 0.0, math.inf, open_low=True)
        _check_range("betap_range", self.betap_range, 0.0, math.inf, open_low=True)
        _check_prob("sinc_prob", self.sinc_prob)


@dataclass(frozen=True)
class ResizeConfig:
    """Random resize of one stage: one choice per batch (all samples must keep one size).

    Attributes:
        probs: probabilities of (up, down, keep), summing to 1.
        scale_range: (lo, hi) with lo <= 1 <= hi; up draws s ~ U(1, hi), down s ~ U(lo, 1).
        modes: interpolation modes, one drawn uniformly per batch.
    """

    probs: tuple[float, ...]
    scale_range: tuple[float, ...]
    modes: tuple[ResizeMode, ...] = ALL_RESIZE_MODES

    def __post_init__(self) -> None:
        _check_probs("probs", self.probs, 3)
        _check_range("scale_range", self.scale_range, 0.0, math.inf, open_low=True)
        if not self.scale_range[0] <= 1.0 <= self.scale_range[1]:
            raise ValueError(f"scale_range must contain 1, got {self.scale_range}")
        if not self.modes:
            raise ValueError(f"modes must be non-empty, got {self.modes}")


@dataclass(frozen=True)
class RandomNoiseConfig:
    """Random noise of one stage, drawn per sample: Gaussian with gaussian_prob, else Poisson.

    Attributes:
        gaussian_prob: probability of Gaussian (rather than Poisson) noise.
        sigma_range: (lo, hi) Gaussian standard deviation in 8-bit units (0..255).
        gray_prob: probability that the noise is the same in all three channels.
        poisson_scale_range: (lo, hi) multiplier of the Poisson (shot) noise.
    """

    gaussian_prob: float
    sigma_range: tuple[float, ...]
    gray_prob: float
    poisson_scale_range: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_prob("gaussian_prob", self.gaussian_prob)
        _check_range("sigma_range", self.sigma_range, 0.0, 255.0)
        _check_prob("gray_prob", self.gray_prob)
        _check_range("poisson_scale_range", self.poisson_scale_range, 0.0, math.inf)


@dataclass(frozen=True)
class JpegConfig:
    """Random JPEG compression, drawn per sample.

    Attributes:
        quality_range: (lo, hi) integer Pillow quality, drawn uniformly from lo..hi inclusive.
    """

    quality_range: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_range("quality_range", self.quality_range, 1, 100)


@dataclass(frozen=True)
class DegradationStageConfig:
    """One degradation stage: blur -> resize -> noise -> JPEG. Used once per stage.

    Attributes:
        blur: kernel distribution.
        blur_prob: per-sample probability of blurring (1 for stage 1, 0.5 for stage 2).
        resize: random resize. Stage 1 scales the current size, stage 2 scales H/scale.
        noise: random noise.
        jpeg: random JPEG. Stage 2's JPEG is the one of the final step (random order).
    """

    blur: BlurConfig
    blur_prob: float
    resize: ResizeConfig
    noise: RandomNoiseConfig
    jpeg: JpegConfig

    def __post_init__(self) -> None:
        _check_prob("blur_prob", self.blur_prob)


@dataclass(frozen=True)
class DegradationConfig:
    """How to make LR training inputs from HR crops.

    Attributes:
        kind: REALESRGAN (two stages + final step) or BICUBIC (antialiased bicubic only).
        scale: SR factor; LR is (H // scale, W // scale).
        stage1, stage2: the two stages; required for REALESRGAN, must be None for BICUBIC.
        final_sinc_prob: per-sample probability of the final sinc filter (identity otherwise).
        final_sinc_kernel_size: largest final sinc size (odd); drawn from
            [final_sinc_min_kernel_size, final_sinc_kernel_size].
        final_sinc_min_kernel_size: smallest final sinc size (odd).
        final_resize_modes: modes for the final resize to H/scale, one drawn per batch.
        clean_prob: per-sample probability that the LR is the plain bicubic downscale instead
            (8-bit rounded). A mix keeps a model trained for real-world inputs from treating
            the fine texture of clean photos as noise.
    """

    kind: DegradationKind
    scale: int = 4
    stage1: DegradationStageConfig | None = None
    stage2: DegradationStageConfig | None = None
    final_sinc_prob: float = 0.8
    final_sinc_kernel_size: int = 21
    final_sinc_min_kernel_size: int = 7
    final_resize_modes: tuple[ResizeMode, ...] = ALL_RESIZE_MODES
    clean_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {self.scale}")
        if self.kind is DegradationKind.REALESRGAN:
            for name in ("stage1", "stage2"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name} is required for kind '{self.kind}', got None")
        else:
            for name in ("stage1", "stage2"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} is only used by kind 'realesrgan'; set it to null for '{self.kind}'"
                    )
        _check_prob("final_sinc_prob", self.final_sinc_prob)
        _check_prob("clean_prob", self.clean_prob)
        _check_odd_sizes(
            "final_sinc_kernel_size/final_sinc_min_kernel_size",
            self.final_sinc_min_kernel_size,
            self.final_sinc_kernel_size,
        )
        if not self.final_resize_modes:
            raise ValueError(f"final_resize_modes must be non-empty, got {self.final_resize_modes}")

    @classmethod
    def realesrgan_stablesr(cls, scale: int = 4) -> DegradationConfig:
        """StableSR's settings of the Real-ESRGAN pipeline (PAPER.md, "Degradation for training").

        Kernel sizes: PAPER.md gives 21 (stage 1) and 11 (stage 2); here they are the largest
        size, with each kernel's size drawn as a random odd number in [7, 21] and [7, 11]
        (Real-ESRGAN itself draws [7, 21] for both stages). Kernel family probabilities are
        Real-ESRGAN's (iso .45, aniso .25, generalized .12/.03, plateau .12/.03).
        """
        probs = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)

        def stage(kernel, sigma, blur_prob, resize_probs, resize_range, noise_sigma, poisson, quality):
            return DegradationStageConfig(
                blur=BlurConfig(kernel, ALL_KERNELS, probs, sigma, (0.5, 2.0), (1.0, 1.5), sinc_prob=0.1),
                blur_prob=blur_prob,
                resize=ResizeConfig(resize_probs, resize_range),
                noise=RandomNoiseConfig(0.5, noise_sigma, 0.4, poisson),
                jpeg=JpegConfig(quality),
            )

        return cls(
            kind=DegradationKind.REALESRGAN,
            scale=scale,
            stage1=stage(
                21, (0.2, 1.5), 1.0, (0.2, 0.7, 0.1), (0.3, 1.5), (1.0, 15.0), (0.05, 2.0), (60, 95)
            ),
            stage2=stage(
                11, (0.2, 1.0), 0.5, (0.3, 0.4, 0.3), (0.6, 1.2), (1.0, 12.0), (0.05, 1.0), (60, 100)
            ),
            final_sinc_prob=0.8,
        )

    @classmethod
    def bicubic(cls, scale: int = 4) -> DegradationConfig:
        """Antialiased bicubic downscale only (the "BI" protocol of the evaluation sets)."""
        return cls(kind=DegradationKind.BICUBIC, scale=scale)

    @classmethod
    def default(cls, kind: DegradationKind, scale: int = 4) -> DegradationConfig:
        """The default settings of ``kind``: ``realesrgan_stablesr`` or ``bicubic``."""
        return cls.realesrgan_stablesr(scale) if kind is DegradationKind.REALESRGAN else cls.bicubic(scale)


# --------------------------------------------------------------------------------------------- #
# Kernels: deterministic builders. Each returns (k, k) float32 on the CPU, summing to 1.
# --------------------------------------------------------------------------------------------- #


def _offsets(kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column (x) and row (y) offsets from the centre, each (k, k) float64."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    ax = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    return x, y


def _quadratic_form(kernel_size: int, sigma_x: float, sigma_y: float | None, theta: float) -> torch.Tensor:
    """q = p^T Sigma^-1 p over the grid, Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be > 0, got sigma_x {sigma_x}, sigma_y {sigma_y}")
    x, y = _offsets(kernel_size)
    c, s = math.cos(theta), math.sin(theta)
    ix, iy = 1.0 / sigma_x**2, 1.0 / sigma_y**2
    a = c * c * ix + s * s * iy
    b = c * s * (ix - iy)
    d = s * s * ix + c * c * iy
    return a * x * x + 2 * b * x * y + d * y * y


def _normalized(kernel: torch.Tensor) -> torch.Tensor:
    return (kernel / kernel.sum()).to(torch.float32)


def gaussian_kernel(
    kernel_size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0
) -> torch.Tensor:
    """Bivariate Gaussian exp(-q / 2), (k, k) float32 summing to 1.

    Args:
        kernel_size: odd size k.
        sigma_x: standard deviation along the (rotated) x axis, pixels, > 0.
        sigma_y: along the rotated y axis; None means sigma_x (isotropic).
        theta: rotation in radians, counter-clockwise from the column axis.
    """
    return _normalized(torch.exp(-0.5 * _quadratic_form(kernel_size, sigma_x, sigma_y, theta)))


def generalized_gaussian_kernel(
    kernel_size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> torch.Tensor:
    """Generalized Gaussian exp(-q^beta / 2) (beta = 1: Gaussian), (k, k) float32 summing to 1.

    Arguments as :func:`gaussian_kernel`; ``beta`` > 0 is the shape (< 1 heavier tails, > 1 flatter top).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return _normalized(torch.exp(-0.5 * _quadratic_form(kernel_size, sigma_x, sigma_y, theta) ** beta))


def plateau_kernel(
    kernel_size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> torch.Tensor:
    """Plateau kernel 1 / (1 + q^beta), (k, k) float32 summing to 1.

    Arguments as :func:`gaussian_kernel`; ``beta`` > 0 is the shape (larger: flatter top, sharper edge).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return _normalized(1.0 / (_quadratic_form(kernel_size, sigma_x, sigma_y, theta) ** beta + 1.0))


def sinc_kernel(kernel_size: int, cutoff: float, pad_to: int | None = None) -> torch.Tensor:
    """Circularly symmetric 2-D low-pass (sinc) filter, (k, k) float32 summing to 1.

    h(r) = cutoff * J1(cutoff * r) / (2 pi r), h(0) = cutoff^2 / (4 pi), normalized to sum 1.

    Args:
        kernel_size: odd size k.
        cutoff: cut-off frequency in radians per pixel, in (0, pi].
        pad_to: zero-pad to this odd size (>= kernel_size); None keeps k.
    """
    if not 0 < cutoff <= math.pi:
        raise ValueError(f"cutoff must be in (0, pi], got {cutoff}")
    x, y = _offsets(kernel_size)
    r = torch.sqrt(x * x + y * y)
    safe_r = r.clamp_min(1e-12)
    kernel = cutoff * torch.special.bessel_j1(cutoff * safe_r) / (2 * math.pi * safe_r)
    kernel = torch.where(r == 0, torch.full_like(r, cutoff**2 / (4 * math.pi)), kernel)
    kernel = _normalized(kernel)
    return kernel if pad_to is None else pad_kernel(kernel, pad_to)


def identity_kernel(kernel_size: int) -> torch.Tensor:
    """(k, k) float32 pulse: blurring with it returns the image unchanged."""
    _offsets(kernel_size)
    kernel = torch.zeros(kernel_size, kernel_size)
    kernel[kernel_size // 2, kernel_size // 2] = 1.0
    return kernel


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a centred (k, k) kernel to (size, size); size >= k, both odd."""
    k = kernel.shape[-1]
    if size < k or (size - k) % 2:
        raise ValueError(f"cannot pad a {k}x{k} kernel to {size}x{size}")
    p = (size - k) // 2
    return F.pad(kernel, (p, p, p, p))


# --------------------------------------------------------------------------------------------- #
# Pixel operations: deterministic given their parameters, batched.
# --------------------------------------------------------------------------------------------- #


def _check_image(img: torch.Tensor) -> None:
    if img.dim() != 4:
        raise ValueError(f"expected an image batch (B, C, H, W), got shape {tuple(img.shape)}")


def _per_sample(value: torch.Tensor | Sequence[float], img: torch.Tensor, name: str) -> torch.Tensor:
    """A (B,) parameter as (B, 1, 1, 1) on the image's device and dtype.

    A host tensor is copied without waiting for the device (no synchronization per parameter).
    """
    if isinstance(value, torch.Tensor):
        t = value.to(device=img.device, dtype=img.dtype, non_blocking=True).reshape(-1)
    else:
        t = torch.as_tensor(value, dtype=img.dtype, device=img.device).reshape(-1)
    if t.numel() != img.shape[0]:
        raise ValueError(f"{name} needs one value per sample ({img.shape[0]}), got {t.numel()}")
    return t.view(-1, 1, 1, 1)


def _host_mask(value: torch.Tensor | Sequence[float], img: torch.Tensor, name: str) -> torch.Tensor:
    """A (B,) flag (bool, or a number > 0.5) as a (B,) bool tensor on the CPU, for indexing."""
    t = torch.as_tensor(value).reshape(-1).cpu()
    if t.numel() != img.shape[0]:
        raise ValueError(f"{name} needs one value per sample ({img.shape[0]}), got {t.numel()}")
    return t > 0.5


def _trim_zero_border(kernels: torch.Tensor) -> torch.Tensor:
    """Crop the zero ring shared by all kernels of a (B, k, k) batch (exact: those taps weigh 0).

    Done where the kernels are (the CPU when they were sampled there): it reads their values.
    """
    k = kernels.shape[-1]
    nonzero = (kernels != 0).any(dim=0)
    if not nonzero.any():
        return kernels
    ax = (torch.arange(k, device=kernels.device) - k // 2).abs()
    ring = torch.maximum(ax[:, None], ax[None, :])
    radius = int(ring[nonzero].max())
    c = k // 2
    return kernels[:, c - radius : c + radius + 1, c - radius : c + radius + 1]


def blur(img: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter each sample with its own kernel (grouped 2-D correlation, reflect padding).

    Args:
        img: (B, C, H, W) float.
        kernels: (B, k, k) or (k, k) (shared), k odd. All kernels used here are point-symmetric,
            so correlation equals convolution.

    Returns:
        (B, C, H, W), same dtype/device. Padding is "reflect" (as BasicSR's ``filter2D``), or
        "replicate" where the image is not larger than the kernel radius. Zero borders common to
        all kernels are trimmed first, which changes nothing but the cost.
    """
    _check_image(img)
    b, c, h, w = img.shape
    if kernels.dim() == 2:
        kernels = kernels.expand(b, -1, -1)
    if (
        kernels.dim() != 3
        or kernels.shape[0] != b
        or kernels.shape[1] != kernels.shape[2]
        or kernels.shape[1] % 2 == 0
    ):
        raise ValueError(f"kernels must be (B={b}, k, k) with k odd, got {tuple(kernels.shape)}")
    kernels = _trim_zero_border(kernels).to(device=img.device, dtype=img.dtype, non_blocking=True)
    p = kernels.shape[-1] // 2
    if p == 0:
        return img * kernels.view(b, 1, 1, 1)
    mode = "reflect" if p < min(h, w) else "replicate"
    padded = F.pad(img, (p, p, p, p), mode=mode).reshape(1, b * c, h + 2 * p, w + 2 * p)
    weight = kernels.repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, k, k)
    return F.conv2d(padded, weight, groups=b * c).view(b, c, h, w)


def resize(img: torch.Tensor, scale_or_size: float | tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    """Resize without antialiasing (Real-ESRGAN's ``F.interpolate`` calls).

    Args:
        img: (B, C, H, W) float.
        scale_or_size: a factor (output floor(H*s) x floor(W*s), the factor also sets the sampling
            grid) or an explicit (height, width).
        mode: AREA, BILINEAR or BICUBIC (align_corners=False). Bicubic may leave [0, 1].

    Returns:
        (B, C, H', W'), same dtype/device; not clamped.
    """
    _check_image(img)
    align = None if mode is ResizeMode.AREA else False
    if isinstance(scale_or_size, tuple):
        size = (max(1, int(scale_or_size[0])), max(1, int(scale_or_size[1])))
        return F.interpolate(img, size=size, mode=str(mode), align_corners=align)
    scale = float(scale_or_size)
    if scale <= 0:
        raise ValueError(f"resize scale must be > 0, got {scale}")
    h, w = img.shape[-2:]
    if int(h * scale) < 1 or int(w * scale) < 1:
        return resize(img, (1, 1), mode)
    return F.interpolate(img, scale_factor=scale, mode=str(mode), align_corners=align)


def add_gaussian_noise(
    img: torch.Tensor, sigma: torch.Tensor, gray: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """img + N(0, sigma/255), clamped to [0, 1].

    Args:
        img: (B, 3, H, W) float in [0, 1].
        sigma: (B,) standard deviation in 8-bit units (0..255).
        gray: (B,) bool; True draws one noise plane shared by the three channels.
        generator: on img's device; draws (B, 3, H, W) and (B, 1, H, W) normals.

    Returns:
        (B, 3, H, W) in [0, 1], same dtype/device.
    """
    _check_image(img)
    b, _, h, w = img.shape
    s = _per_sample(sigma, img, "sigma") / 255.0
    g = _per_sample(gray, img, "gray") > 0.5
    color = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
    mono = torch.randn((b, 1, h, w), generator=generator, device=img.device, dtype=img.dtype)
    return (img + torch.where(g, mono, color) * s).clamp(0.0, 1.0)


def _poisson_noise(src: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shot noise of (N, C, H, W) in [0, 1]: Poisson(x * L) / L - x, x rounded to 8 bits.

    L is 2 ** ceil(log2(number of distinct 8-bit values in the sample)), as BasicSR.
    """
    n = src.shape[0]
    levels_8bit = (src * 255.0).round().clamp(0, 255)
    q = levels_8bit / 255.0
    codes = levels_8bit.long().flatten(1) + 256 * torch.arange(n, device=src.device)[:, None]
    distinct = (torch.bincount(codes.flatten(), minlength=256 * n).view(n, 256) > 0).sum(1)
    levels = torch.exp2(torch.ceil(torch.log2(distinct.to(src.dtype)))).view(n, 1, 1, 1)
    return torch.poisson(q * levels, generator=generator) / levels - q


def add_poisson_noise(
    img: torch.Tensor, scale: torch.Tensor, gray: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """img + scale * shot noise, clamped to [0, 1] (BasicSR ``add_poisson_noise_pt``).

    Args:
        img: (B, 3, H, W) float in [0, 1].
        scale: (B,) noise multiplier (>= 0).
        gray: (B,) bool; True computes the noise on the luma (0.2989 R + 0.587 G + 0.114 B) and
            adds it to all three channels.
        generator: on img's device; Poisson draws for the colour samples, then for the gray ones.

    Returns:
        (B, 3, H, W) in [0, 1], same dtype/device.
    """
    _check_image(img)
    s = _per_sample(scale, img, "scale")
    g = _host_mask(gray, img, "gray")  # indices on the host: no wait for the device
    noise = torch.zeros_like(img)
    color_idx = (~g).nonzero().view(-1).to(img.device, non_blocking=True)
    gray_idx = g.nonzero().view(-1).to(img.device, non_blocking=True)
    if color_idx.numel():
        noise[color_idx] = _poisson_noise(img[color_idx], generator)
    if gray_idx.numel():
        weights = torch.tensor(_GRAY_WEIGHTS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
        luma = (img[gray_idx] * weights).sum(1, keepdim=True)
        noise[gray_idx] = _poisson_noise(luma, generator).expand(-1, 3, -1, -1)
    return (img + noise * s).clamp(0.0, 1.0)


def jpeg(
    img: torch.Tensor, quality: torch.Tensor | Sequence[int], codec: JpegCodec = JpegCodec.PILLOW
) -> torch.Tensor:
    """JPEG round trip per sample, 4:2:0 chroma subsampling, through Pillow or its torch twin.

    Args:
        img: (B, 3, H, W) float; clamped to [0, 1] and rounded to 8 bits before encoding.
        quality: (B,) integer Pillow quality in [0, 100].
        codec: PILLOW encodes each sample on the host (copies to the host and back); TORCH runs
            ``torch_jpeg.jpeg_round_trip`` batched on img's device, with the same output.

    Returns:
        (B, 3, H, W), dtype/device of img, multiples of 1/255 in [0, 1].
    """
    _check_image(img)
    q = torch.as_tensor(quality).reshape(-1)
    qualities = [int(v) for v in q.tolist()]  # training passes host tensors: no device sync
    if len(qualities) != img.shape[0] or any(not 0 <= v <= 100 for v in qualities):
        raise ValueError(f"quality needs {img.shape[0]} integers in [0, 100], got {qualities}")
    if codec is JpegCodec.TORCH:
        return jpeg_round_trip(img, q.to(img.device, non_blocking=True))
    pixels = (img.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = []
    for array, q in zip(pixels, qualities, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=q, subsampling="4:2:0")
        buffer.seek(0)
        with Image.open(buffer) as im:
            decoded.append(np.asarray(im.convert("RGB")))
    out = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)
    return out.to(device=img.device, dtype=img.dtype) / 255.0


def quantize_8bit(img: torch.Tensor) -> torch.Tensor:
    """clamp(round(img * 255), 0, 255) / 255: the 8-bit LR a camera or file would hold."""
    return (img * 255.0).round().clamp(0, 255) / 255.0


# --------------------------------------------------------------------------------------------- #
# Sampling wrappers: draw parameters from a config through the given generator.
# --------------------------------------------------------------------------------------------- #


def _uniforms(generator: torch.Generator, rows: int, batch: int) -> torch.Tensor:
    """(rows, batch) U[0, 1) float64 on the CPU, drawn in one call on the generator's device."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"a torch.Generator is required (no global RNG), got {type(generator).__name__}")
    return torch.rand(rows, batch, generator=generator, device=generator.device, dtype=torch.float64).cpu()


def _pick(u: torch.Tensor, probs: Sequence[float]) -> torch.Tensor:
    """Index into ``probs`` per entry of u ~ U[0, 1) (inverse CDF); zero-probability entries never win."""
    cdf = torch.tensor(probs, dtype=torch.float64).cumsum(0)
    return torch.searchsorted(cdf, u * cdf[-1], right=True).clamp_max(len(probs) - 1)


def _between(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * u


def _beta(low_half: bool, u: float, beta_range: tuple[float, ...]) -> float:
    """BasicSR's shape draw: half the time U(lo, 1), else U(1, hi) when lo <= 1 <= hi; else U(lo, hi).

    With betap_range (1, 1.5) half the plateau kernels thus get beta = 1 exactly, as in BasicSR.
    """
    lo, hi = beta_range
    if lo <= 1.0 <= hi:
        return lo + (1.0 - lo) * u if low_half else 1.0 + (hi - 1.0) * u
    return lo + (hi - lo) * u


def _sinc_cutoff(kernel_size: int, u: float, cutoff_range: tuple[float, float] | None = None) -> float:
    lo, hi = cutoff_range or (_SINC_CUTOFF_SMALL if kernel_size < _SINC_SMALL_KERNEL else _SINC_CUTOFF_LARGE)
    return lo + (hi - lo) * u


def _odd_sizes(low: int, high: int) -> list[int]:
    return list(range(low, high + 1, 2))


def sample_blur_kernels(
    cfg: BlurConfig, batch: int, generator: torch.Generator, apply_prob: float = 1.0
) -> torch.Tensor:
    """Per-sample random blur kernels (BasicSR ``random_mixed_kernels`` / Real-ESRGAN sinc).

    Per sample: odd size ~ U{min_kernel_size..kernel_size}; with sinc_prob a sinc with cut-off
    ~ U[pi/3, pi] (size < 13) or U[pi/5, pi]; else a family from kernel_list/kernel_probs with
    sigma_x, sigma_y ~ U(sigma_range), theta ~ U[-pi, pi] (isotropic: sigma_y = sigma_x, theta = 0)
    and beta from betag_range / betap_range; with probability 1 - apply_prob an identity kernel.
    Consumes a fixed amount of the generator whatever is drawn.

    Returns:
        (batch, kernel_size, kernel_size) float32 on the CPU, each summing to 1.
    """
    sizes = _odd_sizes(cfg.min_kernel_size, cfg.kernel_size)
    u = _uniforms(generator, 10, batch)
    size_idx = _pick(u[0], [1.0] * len(sizes))
    kind_idx = _pick(u[1], cfg.kernel_probs)
    sigma_x = _between(u[2], *cfg.sigma_range)
    sigma_y = _between(u[3], *cfg.sigma_range)
    theta = _between(u[4], -math.pi, math.pi)
    use_sinc = u[5] < cfg.sinc_prob
    beta_low = u[6] < 0.5
    beta_u, cutoff_u = u[7], u[8]
    apply = u[9] < apply_prob
    kernels = []
    for i in range(batch):
        size = sizes[int(size_idx[i])]
        if not apply[i]:
            kernel = identity_kernel(size)
        elif use_sinc[i]:
            kernel = sinc_kernel(size, _sinc_cutoff(size, float(cutoff_u[i])))
        else:
            kind = cfg.kernel_list[int(kind_idx[i])]
            iso = kind in (KernelKind.ISO, KernelKind.GENERALIZED_ISO, KernelKind.PLATEAU_ISO)
            sx = float(sigma_x[i])
            sy, th = (sx, 0.0) if iso else (float(sigma_y[i]), float(theta[i]))
            if kind in (KernelKind.ISO, KernelKind.ANISO):
                kernel = gaussian_kernel(size, sx, sy, th)
            elif kind in (KernelKind.GENERALIZED_ISO, KernelKind.GENERALIZED_ANISO):
                beta = _beta(bool(beta_low[i]), float(beta_u[i]), cfg.betag_range)
                kernel = generalized_gaussian_kernel(size, sx, sy, th, beta)
            else:
                beta = _beta(bool(beta_low[i]), float(beta_u[i]), cfg.betap_range)
                kernel = plateau_kernel(size, sx, sy, th, beta)
        kernels.append(pad_kernel(kernel, cfg.kernel_size))
    return torch.stack(kernels)


def sample_sinc_kernels(
    batch: int, prob: float, min_size: int, max_size: int, generator: torch.Generator
) -> torch.Tensor:
    """Real-ESRGAN's final filter: with ``prob`` a sinc of odd size ~ U{min_size..max_size} and
    cut-off ~ U[pi/3, pi], else identity; (batch, max_size, max_size) float32 CPU, each sums to 1."""
    sizes = _odd_sizes(min_size, max_size)
    u = _uniforms(generator, 3, batch)
    size_idx = _pick(u[0], [1.0] * len(sizes))
    kernels = []
    for i in range(batch):
        if u[1, i] < prob:
            size = sizes[int(size_idx[i])]
            kernels.append(
                sinc_kernel(size, _sinc_cutoff(size, float(u[2, i]), _SINC_CUTOFF_SMALL), max_size)
            )
        else:
            kernels.append(identity_kernel(max_size))
    return torch.stack(kernels)


@dataclass(frozen=True)
class ResizeDraw:
    """One batch's resize: the factor and the mode; ``base_size`` None scales the current size."""

    scale: float
    mode: ResizeMode
    base_size: tuple[int, int] | None

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        if self.base_size is None:
            return resize(img, self.scale, self.mode)
        return resize(
            img, (int(self.base_size[0] * self.scale), int(self.base_size[1] * self.scale)), self.mode
        )


def draw_resize(
    cfg: ResizeConfig, generator: torch.Generator, base_size: tuple[int, int] | None = None
) -> ResizeDraw:
    """Up (s ~ U(1, hi)), down (s ~ U(lo, 1)) or keep (s = 1), mode ~ U(cfg.modes): one per batch.

    ``base_size`` None scales the current size (stage 1: output floor(H*s)); (h0, w0) gives output
    (int(h0*s), int(w0*s)) (stage 2: h0 = H_hr / scale).
    """
    u = _uniforms(generator, 3, 1)[:, 0]
    direction = int(_pick(u[0:1], cfg.probs)[0])
    lo, hi = cfg.scale_range
    scale = (_between(u[1], 1.0, hi), _between(u[1], lo, 1.0), torch.tensor(1.0))[direction].item()
    mode = cfg.modes[int(_pick(u[2:3], [1.0] * len(cfg.modes))[0])]
    return ResizeDraw(scale, mode, base_size)


def random_resize(
    img: torch.Tensor, cfg: ResizeConfig, generator: torch.Generator, base_size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resize the whole batch as :func:`draw_resize` draws. img: (B, C, H, W)."""
    return draw_resize(cfg, generator, base_size).apply(img)


@dataclass(frozen=True)
class NoiseDraw:
    """Per-sample noise parameters: (B,) CPU tensors."""

    gaussian: torch.Tensor  # bool: Gaussian, else Poisson
    sigma: torch.Tensor  # Gaussian standard deviation, 8-bit units
    gray: torch.Tensor  # bool: the same noise in all three channels
    poisson_scale: torch.Tensor

    def apply(self, img: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the noise (pixel draws from ``generator``, on img's device); (B, 3, H, W) in [0, 1]."""
        out = torch.empty_like(img)
        for use_gaussian, add in ((True, add_gaussian_noise), (False, add_poisson_noise)):
            idx = (self.gaussian == use_gaussian).nonzero().view(-1)
            if idx.numel():
                param = self.sigma if use_gaussian else self.poisson_scale
                dev_idx = idx.to(img.device, non_blocking=True)
                out[dev_idx] = add(img[dev_idx], param[idx], self.gray[idx], generator)
        return out


def draw_noise(cfg: RandomNoiseConfig, batch: int, generator: torch.Generator) -> NoiseDraw:
    """Per sample: Gaussian (prob gaussian_prob, sigma ~ U(sigma_range)) or Poisson (scale ~
    U(poisson_scale_range)); gray with prob gray_prob."""
    u = _uniforms(generator, 4, batch)
    return NoiseDraw(
        gaussian=u[0] < cfg.gaussian_prob,
        sigma=_between(u[1], *cfg.sigma_range),
        gray=u[2] < cfg.gray_prob,
        poisson_scale=_between(u[3], *cfg.poisson_scale_range),
    )


def random_noise(img: torch.Tensor, cfg: RandomNoiseConfig, generator: torch.Generator) -> torch.Tensor:
    """Noise as :func:`draw_noise` draws it; (B, 3, H, W) in [0, 1]."""
    return draw_noise(cfg, img.shape[0], generator).apply(img, generator)


def sample_jpeg_quality(cfg: JpegConfig, batch: int, generator: torch.Generator) -> torch.Tensor:
    """(batch,) int64 CPU qualities ~ U{lo..hi}."""
    lo, hi = cfg.quality_range
    u = _uniforms(generator, 1, batch)[0]
    return (lo + torch.floor(u * (hi - lo + 1))).long().clamp_max(hi)


def random_jpeg(img: torch.Tensor, cfg: JpegConfig, generator: torch.Generator) -> torch.Tensor:
    """JPEG round trip with per-sample quality ~ U{quality_range}; see :func:`jpeg`."""
    return jpeg(img, sample_jpeg_quality(cfg, img.shape[0], generator))


# --------------------------------------------------------------------------------------------- #
# The pipeline: parameters drawn per stage, then applied. ``degrade`` interleaves the two on one
# generator; ``draw_plan`` + ``apply_plan`` split them (parameters on the host, pixels on a device).
# --------------------------------------------------------------------------------------------- #


@dataclass(frozen=True)
class StageDraw:
    """One degradation stage's parameters for a batch, except its JPEG quality (drawn after the noise)."""

    kernels: torch.Tensor  # (B, k, k) float32 CPU
    resize: ResizeDraw
    noise: NoiseDraw


def draw_stage(
    cfg: DegradationStageConfig, batch: int, generator: torch.Generator, base_size: tuple[int, int] | None
) -> StageDraw:
    kernels = sample_blur_kernels(cfg.blur, batch, generator, cfg.blur_prob)
    return StageDraw(
        kernels, draw_resize(cfg.resize, generator, base_size), draw_noise(cfg.noise, batch, generator)
    )


def apply_stage(img: torch.Tensor, draw: StageDraw, generator: torch.Generator) -> torch.Tensor:
    """Blur -> resize -> noise (clamped to [0, 1]: JPEG needs it); noise pixels from ``generator``."""
    return draw.noise.apply(draw.resize.apply(blur(img, draw.kernels)), generator)


@dataclass(frozen=True)
class FinalDraw:
    """The final step's parameters: sinc kernels, JPEG qualities, order, resize mode, clean samples."""

    sinc: torch.Tensor  # (B, k, k) float32 CPU
    quality: torch.Tensor  # (B,) int64 CPU
    sinc_first: bool  # [resize + sinc] before the JPEG
    mode: ResizeMode
    clean: torch.Tensor  # (B,) bool CPU: these samples take the plain bicubic downscale


def draw_final(
    cfg: DegradationConfig, stage2: DegradationStageConfig, batch: int, generator: torch.Generator
) -> FinalDraw:
    sinc = sample_sinc_kernels(
        batch, cfg.final_sinc_prob, cfg.final_sinc_min_kernel_size, cfg.final_sinc_kernel_size, generator
    )
    quality = sample_jpeg_quality(stage2.jpeg, batch, generator)
    u = _uniforms(generator, 2, 1)[:, 0]
    mode = cfg.final_resize_modes[int(_pick(u[1:2], [1.0] * len(cfg.final_resize_modes))[0])]
    clean = _uniforms(generator, 1, batch)[0] < cfg.clean_prob
    return FinalDraw(sinc, quality, bool(u[0] < 0.5), mode, clean)


def apply_final(
    img: torch.Tensor, hr: torch.Tensor, draw: FinalDraw, scale: int, codec: JpegCodec
) -> torch.Tensor:
    """[resize to H/scale + sinc] and JPEG in the drawn order (other orders give twisted lines),
    clean samples replaced by the bicubic downscale of ``hr``, then clamped and rounded to 8 bits."""
    lr_size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
    if draw.sinc_first:
        img = jpeg(blur(resize(img, lr_size, draw.mode), draw.sinc), draw.quality, codec)
    else:
        img = blur(resize(jpeg(img, draw.quality, codec), lr_size, draw.mode), draw.sinc)
    if draw.clean.any():
        clean = draw.clean.to(img.device, non_blocking=True)[:, None, None, None]
        img = torch.where(clean, downscale_bicubic(hr, scale), img)
    return quantize_8bit(img)


@dataclass(frozen=True)
class DegradationPlan:
    """Every random parameter of one batch's degradation except the pixel noise, drawn on the host.

    A loader worker draws it (with the crops); :func:`apply_plan` does the pixel work on the
    training device. ``stage1`` None: the BICUBIC kind, which draws nothing.
    """

    scale: int
    stage1: StageDraw | None = None
    quality1: torch.Tensor | None = None  # (B,) the first stage's JPEG
    stage2: StageDraw | None = None
    final: FinalDraw | None = None


def draw_plan(
    cfg: DegradationConfig, batch: int, hr_size: tuple[int, int], generator: torch.Generator, scale: int
) -> DegradationPlan:
    """The parameters :func:`apply_plan` needs for a batch of ``hr_size`` crops, on a CPU generator."""
    if cfg.kind is DegradationKind.BICUBIC:
        return DegradationPlan(scale)
    stage1, stage2 = _stages(cfg)
    lr_size = (hr_size[0] // scale, hr_size[1] // scale)
    return DegradationPlan(
        scale,
        draw_stage(stage1, batch, generator, None),
        sample_jpeg_quality(stage1.jpeg, batch, generator),
        draw_stage(stage2, batch, generator, lr_size),
        draw_final(cfg, stage2, batch, generator),
    )


def apply_plan(
    hr: torch.Tensor, plan: DegradationPlan, generator: torch.Generator, codec: JpegCodec = JpegCodec.TORCH
) -> torch.Tensor:
    """LR inputs from HR crops with the drawn parameters: batched ops on hr's device.

    Args:
        hr: (B, 3, H, W) float32 RGB in [0, 1], on the training device.
        generator: on hr's device; draws the Gaussian / Poisson pixel noise only.
        codec: the JPEG implementation (TORCH keeps every step on the device).

    Returns:
        As :func:`degrade`.
    """
    _check_degrade_inputs(hr, plan.scale, generator)
    if plan.stage1 is None:
        return downscale_bicubic(hr, plan.scale)
    if torch.device(generator.device).type != hr.device.type:
        raise ValueError(f"generator is on {generator.device} but the images are on {hr.device}")
    assert plan.quality1 is not None and plan.stage2 is not None and plan.final is not None  # draw_plan
    out = jpeg(apply_stage(hr, plan.stage1, generator), plan.quality1, codec)
    out = apply_stage(out, plan.stage2, generator)
    return apply_final(out, hr, plan.final, plan.scale, codec)


def _stages(cfg: DegradationConfig) -> tuple[DegradationStageConfig, DegradationStageConfig]:
    if cfg.stage1 is None or cfg.stage2 is None:  # DegradationConfig rejects this; narrows the types
        raise ValueError("kind 'realesrgan' needs stage1 and stage2")
    return cfg.stage1, cfg.stage2


def _check_degrade_inputs(hr: torch.Tensor, scale: int, generator: torch.Generator) -> None:
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"a torch.Generator is required (no global RNG), got {type(generator).__name__}")
    _check_image(hr)
    if hr.shape[1] != 3:
        raise ValueError(f"expected RGB images (B, 3, H, W), got shape {tuple(hr.shape)}")


def degrade(
    hr: torch.Tensor, cfg: DegradationConfig, generator: torch.Generator, scale: int | None = None
) -> torch.Tensor:
    """Synthesize LR inputs from HR crops.

    Args:
        hr: (B, 3, H, W) float32 RGB in [0, 1].
        cfg: the degradation; ``kind`` BICUBIC ignores ``generator`` and returns
            ``datasets.downscale_bicubic(hr, scale)`` (antialiased, clamped, not 8-bit rounded).
        generator: every random draw goes through it; on hr's device. Same seed, same device:
            bit-identical output.
        scale: the SR factor; training passes the trained model's (x4 student, x2 teacher).
            None uses ``cfg.scale`` (``toolchain degrade`` and synthetic pairs).

    Returns:
        (B, 3, H // scale, W // scale) float32 in [0, 1]; REALESRGAN outputs are multiples of 1/255.
    """
    scale = cfg.scale if scale is None else scale
    _check_degrade_inputs(hr, scale, generator)
    if cfg.kind is DegradationKind.BICUBIC:
        return downscale_bicubic(hr, scale)
    if torch.device(generator.device).type != hr.device.type:
        raise ValueError(f"generator is on {generator.device} but the images are on {hr.device}")
    stage1, stage2 = _stages(cfg)
    b, _, h, w = hr.shape
    # 1. First stage: blur, resize relative to the HR size, noise, JPEG.
    out = apply_stage(hr, draw_stage(stage1, b, generator, None), generator)
    out = jpeg(out, sample_jpeg_quality(stage1.jpeg, b, generator))
    # 2. Second stage: blur (prob), resize relative to the LR size, noise; its JPEG is in step 3.
    out = apply_stage(out, draw_stage(stage2, b, generator, (h // scale, w // scale)), generator)
    # 3. Final: [resize to LR + sinc] and JPEG in random order; 4. clean samples; 8 bits.
    return apply_final(out, hr, draw_final(cfg, stage2, b, generator), scale, JpegCodec.PILLOW)
