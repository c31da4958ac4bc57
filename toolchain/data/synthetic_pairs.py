"""Paired HR/LR folders made from HR images with a synthetic degradation.

Used to build validation sets from held-out HR images and the benchmark's Real-ESRGAN-degraded
evaluation set. Pair ``i`` (in sorted file order) is degraded with a generator seeded by
``seed * 1_000_003 + i``, so every pair is reproducible on its own, whatever else the folder holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from toolchain.data.datasets import list_images
from toolchain.data.degradations import DegradationConfig, degrade
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, load_image, save_image


def make_pairs(
    hr_dir: Path,
    out_dir: Path,
    cfg: DegradationConfig,
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
        hr = torch.from_numpy(rgb[:h, :w]).permute(2, 0, 1)[None].float()
        lr = degrade(hr, cfg, torch.Generator().manual_seed(seed * 1_000_003 + i))
        save_image(out_dir / "HR" / f"{path.stem}.png", rgb[:h, :w])
        save_image(out_dir / "LR" / f"{path.stem}.png", lr[0].permute(1, 2, 0).numpy())
        written += 1
        if progress is not None:
            progress(i + 1, len(paths))
    if not written:
        raise ToolchainError(f"no usable HR images in {hr_dir}" + (f" ({skipped[0]})" if skipped else ""))
    return written, skipped
