"""Whole-image 4x upscaling: the tile plan around any tile runner (torch here), one file at a time.

The app layer (as in qai-hub-models' ``app.py``): pre/post-processing and tiling sit
around a callable that maps a batch of LR tiles to HR tiles, so the torch model and
exported graphs share one code path. Batches of files (``toolchain upscale``) are
:func:`toolchain.batch.upscale_batch`, which imports this module only once an input fits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from toolchain.engine_options import NoiseConfig
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, LoadedImage, check_free_space, load_image, save_image
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import OneStepSR
from toolchain.tiling import Tile, TilePlan, TileSpec, plan_tiles, upscale_tiled

Progress = Callable[[int, int], None]  # (tiles done, tiles in this image)


class TileRunner(Protocol):
    """Maps a batch of LR tiles (N, t, t, 3) float32 in [0, 1] to HR tiles (N, 4t, 4t, 3)."""

    def start_image(self, plan: TilePlan) -> None:
        """Called once per image before its tiles (e.g. to draw a noise field)."""

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray: ...


def check_x4(model: EdgeSDSR) -> None:
    """Upscaling runs x4 models only; a x2 distillation teacher is refused with the reason."""
    if model.config.scale != 4:
        raise ToolchainError(
            f"'{model.config.name}' is a x{model.config.scale} model (a distillation teacher); "
            "upscaling needs a x4 checkpoint"
        )


class LatentNoise:
    """The eps of each tile, cut from one seeded latent noise field per image.

    Overlapping tiles see the same noise, so blending stays seam-free. With ``scale`` 0 there is
    no field and :meth:`for_tiles` returns None (eps = 0).
    """

    def __init__(self, noise: NoiseConfig, latent_channels: int) -> None:
        self.noise = noise
        self.latent_channels = latent_channels
        self.field: torch.Tensor | None = None

    def start_image(self, plan: TilePlan) -> None:
        """Draw the image's latent noise field (only when noise is enabled)."""
        if self.noise.scale:
            gen = torch.Generator().manual_seed(self.noise.seed)
            shape = (self.latent_channels, plan.padded_height // 2, plan.padded_width // 2)
            self.field = torch.randn(shape, generator=gen)

    def for_tiles(self, tiles: list[Tile], lr_tile: int) -> torch.Tensor | None:
        """(N, C, lr_tile/2, lr_tile/2) eps of ``tiles``, or None without noise."""
        if self.field is None:
            return None
        s = lr_tile // 2
        return torch.stack([self.field[:, t.y // 2 : t.y // 2 + s, t.x // 2 : t.x // 2 + s] for t in tiles])


class TorchTileRunner:
    """Runs the one-step torch model (eager) on NHWC float32 tile batches in [0, 1].

    ``channels_last`` stores weights and activations NHWC, which oneDNN's CPU convolutions run
    faster (the ``torch`` engine); without it this is the reference path (``torch-reference``).
    """

    def __init__(
        self, model: EdgeSDSR, device: torch.device, noise: NoiseConfig, channels_last: bool = False
    ) -> None:
        check_x4(model)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(device, memory_format=self.memory_format).eval()
        self.sampler = OneStepSR(model, noise_scale=noise.scale)
        self.device = device
        self.noise = LatentNoise(noise, model.config.latent_channels)

    def start_image(self, plan: TilePlan) -> None:
        self.noise.start_image(plan)

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        lr = torch.from_numpy(np.ascontiguousarray(tiles_nhwc)).permute(0, 3, 1, 2).to(self.device)
        lr = lr.contiguous(memory_format=self.memory_format)
        eps = self.noise.for_tiles(tiles, tiles_nhwc.shape[1])
        with torch.inference_mode():
            hr = self.sampler(lr, None if eps is None else eps.to(self.device))
        return hr.permute(0, 2, 3, 1).float().cpu().numpy()


class FiniteCheckedRunner:
    """Wraps any tile runner and refuses NaN/Inf output, which would otherwise be written as black.

    A model with a corrupt (non-finite) weight or an unstable graph yields such tiles; the error
    stops the image before anything is written.
    """

    def __init__(self, runner: TileRunner) -> None:
        self.runner = runner

    def start_image(self, plan: TilePlan) -> None:
        self.runner.start_image(plan)

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        hr = self.runner(tiles_nhwc, tiles)
        if not np.isfinite(hr).all():
            t = tiles[int(np.flatnonzero(~np.isfinite(hr).reshape(len(tiles), -1).all(axis=1))[0])]
            raise ToolchainError(
                f"the model produced NaN/Inf pixels (LR tile at x={t.x}, y={t.y}); its weights are "
                "corrupt or numerically unstable: use another --checkpoint or re-export the bundle"
            )
        return hr


def upscale_loaded(
    image: LoadedImage,
    runner: TileRunner,
    spec: TileSpec,
    batch_size: int,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Upscale RGB with the model (tiled) and alpha bicubically; returns uint8 RGB and alpha."""
    h, w = image.rgb.shape[:2]
    plan = plan_tiles(h, w, spec)
    runner = FiniteCheckedRunner(runner)
    runner.start_image(plan)
    tick = None if progress is None else lambda done: progress(done, plan.num_tiles)
    rgb = upscale_tiled(image.rgb, spec, runner, batch_size, tick, out_dtype=np.uint8)
    alpha = None
    if image.alpha is not None:
        a = torch.from_numpy(image.alpha)[None, None]
        up = F.interpolate(a, scale_factor=spec.scale, mode="bicubic", align_corners=False)
        alpha = up[0, 0].clamp(0, 1).numpy()
    return rgb, alpha


def reference_upscale(
    model: EdgeSDSR, device: torch.device, batch_size: int = 4
) -> Callable[[LoadedImage], np.ndarray]:
    """LR image -> uint8 RGB x4 on the reference path (eager torch, eps = 0, the model's tile plan).

    What evaluation, training validation and the quality benchmarks score.
    """
    runner = TorchTileRunner(model, device, NoiseConfig())
    spec = TileSpec.for_model(model.config)
    return lambda image: upscale_loaded(image, runner, spec, batch_size)[0]


def upscale_file(
    src: Path,
    dst: Path,
    runner: TileRunner,
    spec: TileSpec,
    batch_size: int = 4,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Read ``src``, upscale, write ``dst`` atomically; returns the output (width, height).

    Free space for ``dst`` is checked (roughly) before the computation, not found lacking after it.
    """
    image = load_image(src, MAX_INPUT_PIXELS)
    w, h = image.size
    check_free_space(dst, w * spec.scale, h * spec.scale, 3 if image.alpha is None else 4)
    rgb, alpha = upscale_loaded(image, runner, spec, batch_size, progress)
    save_image(dst, rgb, alpha)
    return rgb.shape[1], rgb.shape[0]
