"""Paired evaluation: PSNR-Y / SSIM-Y, overshoot (and NIQE with a pristine-model file) per image.

The protocol is OSEDiff's / BasicSR's: Y channel (BT.601), no border shave, data
range 255, outputs rounded to 8 bits before scoring.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from toolchain.atomic import write_text_atomic
from toolchain.data.datasets import list_images
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS, LoadedImage, load_image
from toolchain.metrics.fidelity import psnr_y, ssim_y
from toolchain.metrics.niqe import NiqeParams, niqe
from toolchain.metrics.overshoot import overshoot

Upscale = Callable[[LoadedImage], np.ndarray]  # LR image -> HR uint8 HxWx3


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr_y: float
    ssim_y: float
    niqe: float | None
    overshoot: float  # mean 8-bit distance outside the HR's local range (halos), metrics/overshoot.py


@dataclass(frozen=True)
class EvalSummary:
    method: str
    dataset: str
    images: int
    psnr_y: float
    ssim_y: float
    niqe: float | None
    overshoot: float


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def bicubic_upscale(image: LoadedImage, scale: int = 4) -> np.ndarray:
    """Pillow bicubic (a = -0.5, as MATLAB) x4 of the 8-bit LR image."""
    w, h = image.size
    up = Image.fromarray(to_uint8(image.rgb)).resize((w * scale, h * scale), Image.Resampling.BICUBIC)
    return np.asarray(up)


def crop_panel(data: Path, name: str, ups: dict[str, Upscale], size: int = 128) -> np.ndarray:
    """LR (nearest x4) | each upscale | HR: centre crops of ``size`` HR px of pair ``name``, side by side."""
    hr = np.asarray(Image.open(data / "HR" / name).convert("RGB"))
    lr_img = load_image(data / "LR" / name, MAX_INPUT_PIXELS)
    y, x = (hr.shape[0] - size) // 2, (hr.shape[1] - size) // 2
    lr_up = np.repeat(np.repeat(to_uint8(lr_img.rgb), 4, 0), 4, 1)
    panels = [lr_up[y : y + size, x : x + size]]
    panels += [up(lr_img)[y : y + size, x : x + size] for up in ups.values()]
    panels.append(hr[y : y + size, x : x + size])
    return np.concatenate(panels, axis=1)


def save_panel(rows: list[np.ndarray], out: Path, zoom: int = 2) -> None:
    """Stack ``crop_panel`` rows and save them as one PNG, enlarged ``zoom`` x (nearest)."""
    grid = np.concatenate(rows, axis=0)
    size = (grid.shape[1] * zoom, grid.shape[0] * zoom)
    Image.fromarray(grid).resize(size, Image.Resampling.NEAREST).save(out)


def evaluate(
    data_dir: Path,
    upscale: Upscale,
    niqe_params: NiqeParams | None,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[str, ToolchainError], None] | None = None,
) -> list[ImageScore]:
    """Score ``upscale`` on every HR image of ``data_dir`` and its LR twin (see :func:`evaluate_pairs`)."""
    return evaluate_pairs(hr_pairs(data_dir), upscale, niqe_params, progress, on_failure)


def hr_pairs(data_dir: Path) -> list[tuple[str, Path, Path]]:
    """(name, HR path, LR path) for every image of ``data_dir/HR``, its twin of the same name in ``LR/``.

    Unlike :func:`toolchain.data.datasets.pair_paths`, which refuses a set with a missing twin, a
    missing LR image fails its own pair only when it is scored (the CLI's batch rule).
    """
    hr_dir, lr_dir = Path(data_dir) / "HR", Path(data_dir) / "LR"
    if not hr_dir.is_dir() or not lr_dir.is_dir():
        raise ToolchainError(f"{data_dir} needs HR/ and LR/ subfolders with equal file names")
    names = [p.name for p in list_images(hr_dir, recursive=False)]
    if not names:
        raise ToolchainError(
            f"{hr_dir} has no images; put the HR images there and their x4 smaller LR in LR/"
        )
    return [(n, hr_dir / n, lr_dir / n) for n in names]


def evaluate_pairs(
    pairs: list[tuple[str, Path, Path]],
    upscale: Upscale,
    niqe_params: NiqeParams | None,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[str, ToolchainError], None] | None = None,
) -> list[ImageScore]:
    """Score ``upscale`` on (name, hr_path, lr_path) pairs.

    A pair that cannot be scored (unreadable image, wrong size) raises, or, with ``on_failure``,
    is reported to it by name and left out while the other pairs are still scored.
    """
    scores = []
    for i, (name, hr_path, lr_path) in enumerate(pairs):
        try:
            scores.append(_score_pair(name, hr_path, lr_path, upscale, niqe_params))
        except ToolchainError as exc:
            if on_failure is None:
                raise
            on_failure(name, exc)
        if progress is not None:
            progress(i + 1, len(pairs))
    return scores


def _score_pair(
    name: str, hr_path: Path, lr_path: Path, upscale: Upscale, niqe_params: NiqeParams | None
) -> ImageScore:
    if not lr_path.is_file():
        raise ToolchainError(
            f"{name}: no LR twin ({lr_path} is missing); add it, or move the HR image out of the set"
        )
    hr = to_uint8(load_image(hr_path, MAX_INPUT_PIXELS * 16).rgb)
    pred = upscale(load_image(lr_path, MAX_INPUT_PIXELS))
    if pred.shape != hr.shape:
        raise ToolchainError(
            f"{name}: upscaled LR is {pred.shape[1]}x{pred.shape[0]} but HR is "
            f"{hr.shape[1]}x{hr.shape[0]}; HR must be exactly 4x the LR size"
        )
    value = niqe(pred, niqe_params) if niqe_params is not None else None
    return ImageScore(name, psnr_y(pred, hr), ssim_y(pred, hr), value, overshoot(pred, hr))


def summarize(scores: list[ImageScore], method: str, dataset: str) -> EvalSummary:
    niqes = [s.niqe for s in scores if s.niqe is not None and math.isfinite(s.niqe)]
    return EvalSummary(
        method=method,
        dataset=dataset,
        images=len(scores),
        psnr_y=float(np.mean([s.psnr_y for s in scores])),
        ssim_y=float(np.mean([s.ssim_y for s in scores])),
        niqe=float(np.mean(niqes)) if niqes else None,
        overshoot=float(np.mean([s.overshoot for s in scores])),
    )


def write_report(
    out_dir: Path, stem: str, scores: list[ImageScore], summary: EvalSummary
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (per image) and ``<stem>.json`` (summary), each atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(asdict(scores[0])) if scores else ["name"])
    writer.writeheader()
    for s in scores:
        writer.writerow(asdict(s))
    csv_path, json_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.json"
    hint = "; choose another --out"
    write_text_atomic(csv_path, buf.getvalue(), hint)
    write_text_atomic(json_path, json.dumps(asdict(summary), indent=2) + "\n", hint)
    return csv_path, json_path
