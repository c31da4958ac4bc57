"""Paired HR/LR folders made from HR images with a synthetic degradation.

Used to build validation sets from held-out HR images, their camera probes
(toolchain/data/probes.py) and the benchmark's Real-ESRGAN-degraded evaluation set. Pair ``i`` (in
sorted file order) is degraded with a generator seeded by ``seed * 1_000_003 + i``, so every pair
is reproducible on its own, whatever else the folder holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from toolchain.data.datasets import list_images, load_training_image
from toolchain.data.degradations import DegradationConfig, degrade
from toolchain.data.probes import Probe, probe_lr
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, load_image, save_image


def make_pairs(
    hr_dir: Path,
    out_dir: Path,
    cfg: DegradationConfig | Probe,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, list[str]]:
    """Write ``out_dir/HR/<stem>.png`` (cropped to a multiple of the scale) and ``out_dir/LR/<stem>.png``.

    Returns (pairs written, messages for the skipped files). Unreadable or too-small images are
    skipped; nothing usable is an error. Each file is written atomically.
    """
    paths = list_images(hr_dir, recursive=False)
    written, skipped = 0, []
    for i, path in enumerate(paths):
        try:
            rgb = load_image(path, MAX_INPUT_PIXELS * cfg.scale**2).rgb
        except ToolchainError as exc:
            skipped.append(str(exc))
            continue
        h, w = (s - s % cfg.scale for s in rgb.shape[:2])
        if min(h, w) < 8 * cfg.scale:
            skipped.append(f"{path} is smaller than {8 * cfg.scale} px")
            continue
        _write_pair(out_dir, f"{path.stem}.png", rgb[:h, :w], cfg, seed * 1_000_003 + i)
        written += 1
        if progress is not None:
            progress(i + 1, len(paths))
    if not written:
        raise ToolchainError(f"no usable HR images in {hr_dir}" + (f" ({skipped[0]})" if skipped else ""))
    return written, skipped


def _write_pair(
    out_dir: Path, name: str, hr_rgb: np.ndarray, cfg: DegradationConfig | Probe, pair_seed: int
) -> None:
    """``out_dir/HR/name`` (HxWx3 float in [0, 1]) and its degraded ``out_dir/LR/name``, each atomically."""
    hr = torch.from_numpy(hr_rgb).permute(2, 0, 1)[None].float()
    generator = torch.Generator().manual_seed(pair_seed)
    lr = probe_lr(hr, cfg, generator) if isinstance(cfg, Probe) else degrade(hr, cfg, generator)
    save_image(out_dir / "HR" / name, hr_rgb)
    save_image(out_dir / "LR" / name, lr[0].permute(1, 2, 0).numpy())


def make_holdout_pairs(
    paths: list[Path], out_dir: Path, crop: int, max_side: int, cfg: DegradationConfig, seed: int
) -> int:
    """Validation pairs from held-out training photos: the centre ``crop`` x ``crop`` of each photo
    (after the training loader's ``max_side`` downscale), degraded like pair ``i`` of
    :func:`make_pairs`. Photos smaller than the crop are skipped; returns the pairs written."""
    if crop % cfg.scale:
        raise ToolchainError(f"validation crop {crop} must be a multiple of the scale {cfg.scale}")
    written = 0
    for i, path in enumerate(paths):
        rgb = load_training_image(path, max_side)
        h, w = rgb.shape[:2]
        if min(h, w) < crop:
            continue
        y, x = (h - crop) // 2, (w - crop) // 2
        hr_rgb = rgb[y : y + crop, x : x + crop]
        name = f"{i:03d}_{path.stem}.png"  # the index keeps equal stems from different folders apart
        _write_pair(out_dir, name, hr_rgb.astype(np.float32) / 255, cfg, seed * 1_000_003 + i)
        written += 1
    if not written:
        raise ToolchainError(f"no held-out photo is at least {crop} px on its shorter side")
    return written
