"""Image-folder datasets: HR crops for training, HR/LR pairs for evaluation.

Tensors are float32 RGB in [0, 1], CHW. LR is made from HR by the configured
degradation (here: antialiased bicubic x4, the "BI" protocol of the eval sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console

from toolchain.errors import ToolchainError
from toolchain.imageio import SUPPORTED_SUFFIXES, load_image

MAX_TRAIN_PIXELS = 40_000_000  # refuse decoding anything larger (decompression bombs)


def list_images(root: Path, recursive: bool = True) -> list[Path]:
    """Supported image files under ``root``, sorted for determinism."""
    if not Path(root).is_dir():
        raise ToolchainError(f"dataset folder {root} does not exist or is not a folder")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in Path(root).glob(pattern) if p.suffix.lower() in SUPPORTED_SUFFIXES)


def downscale_bicubic(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, H/scale, W/scale), antialiased bicubic, clamped."""
    h, w = hr.shape[-2:]
    lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return lr.clamp(0.0, 1.0)


def load_training_image(path: Path, max_side: int) -> np.ndarray:
    """HxWx3 uint8; a photo longer than ``max_side`` is downscaled to it (antialiased bicubic)."""
    t = torch.from_numpy(load_image(path, MAX_TRAIN_PIXELS).rgb).permute(2, 0, 1)[None]
    longest = max(t.shape[-2:])
    if longest > max_side:
        size = [round(s * max_side / longest) for s in t.shape[-2:]]
        t = F.interpolate(t, size=size, mode="bicubic", antialias=True).clamp(0, 1)
    return (t[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def holdout_paths(roots: list[Path], count: int) -> list[Path]:
    """``count`` images spread evenly over the sorted training files: the held-out validation photos."""
    paths = [p for root in roots for p in list_images(root)]
    if count > len(paths) // 2:
        raise ToolchainError(_too_few_for_holdout(paths, count))
    return [paths[(i * len(paths)) // count] for i in range(count)] if count else []


def _too_few_for_holdout(paths: list[Path], count: int) -> str:
    """Why ``count`` held-out photos do not fit: unreadable files (read here, on the error path only)
    are named as such, rather than blamed on the count."""
    unreadable = []
    for path in paths:
        try:
            load_image(path, MAX_TRAIN_PIXELS)
        except ToolchainError:
            unreadable.append(path)
    if unreadable:
        return (
            f"{len(unreadable)} of the {len(paths)} training images are unreadable (corrupt or not images, "
            f"e.g. {unreadable[0]}); replace or remove them (holdout {count} needs {2 * count} readable ones)"
        )
    return (
        f"holdout {count} would leave too few of the {len(paths)} training images; "
        f"lower holdout to {len(paths) // 2} or add photos"
    )


@dataclass
class HRCropSampler:
    """Random HR crops (with flips and 90-degree rotations) from images cached in memory.

    Images whose longer side exceeds ``max_side`` are downscaled once at load, so the
    multi-megapixel photos keep a scale comparable to the small benchmark photos.
    Unreadable files are skipped with a warning and a count.
    """

    images: list[np.ndarray]
    crop: int

    @classmethod
    def from_folders(
        cls,
        roots: list[Path],
        crop: int,
        max_side: int,
        console: Console,
        exclude: frozenset[Path] = frozenset(),
    ) -> HRCropSampler:
        """Load every image under ``roots`` except ``exclude`` (held-out validation photos)."""
        images, skipped = [], []
        for root in roots:
            for path in list_images(root):
                if path in exclude:
                    continue
                try:
                    image = load_training_image(path, max_side)
                except ToolchainError as exc:
                    skipped.append(str(exc))
                    continue
                if min(image.shape[:2]) >= crop:
                    images.append(image)
                else:
                    skipped.append(f"{path} is smaller than the {crop} px crop")
        if skipped:
            console.print(f"warning: skipped {len(skipped)} file(s), e.g. {skipped[0]}", markup=False)
        if not images:
            raise ToolchainError(f"no usable training images in {', '.join(map(str, roots))}")
        return cls(images, crop)

    def shard(self, rank: int, world_size: int) -> HRCropSampler:
        """This rank's share of the images (every world_size-th, starting at rank)."""
        if world_size == 1:
            return self
        if len(self.images) < world_size:
            raise ToolchainError(
                f"{len(self.images)} training images cannot be shared by {world_size} processes"
            )
        return HRCropSampler(self.images[rank::world_size], self.crop)

    def crops(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) uint8: per crop an image, a position, a rotation and a flip."""
        out = torch.empty(n, 3, self.crop, self.crop, dtype=torch.uint8)
        for i in range(n):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            h, w = img.shape[:2]
            y = int(torch.randint(h - self.crop + 1, (1,), generator=generator))
            x = int(torch.randint(w - self.crop + 1, (1,), generator=generator))
            t = torch.from_numpy(img[y : y + self.crop, x : x + self.crop]).permute(2, 0, 1)
            k, flip = torch.randint(4, (2,), generator=generator).tolist()
            t = torch.rot90(t, k, dims=(1, 2))
            out[i] = t.flip(2) if flip % 2 else t
        return out

    def batch(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) float32 in [0, 1]: :meth:`crops` / 255."""
        return to_unit_float(self.crops(n, generator))


def to_unit_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1] (x / 255), on their device."""
    return pixels.float() / 255


def pair_paths(root: Path) -> list[tuple[str, Path, Path]]:
    """(name, hr_path, lr_path) for ``root/HR`` and ``root/LR`` images with equal names."""
    hr_dir, lr_dir = Path(root) / "HR", Path(root) / "LR"
    if not hr_dir.is_dir() or not lr_dir.is_dir():
        raise ToolchainError(f"{root} needs HR/ and LR/ subfolders with equal file names")
    names = [p.name for p in list_images(hr_dir, recursive=False)]
    if not names:
        raise ToolchainError(f"{hr_dir} has no images")
    missing = [n for n in names if not (lr_dir / n).is_file()]
    if missing:
        raise ToolchainError(f"{lr_dir} lacks {len(missing)} file(s) that HR/ has, e.g. {missing[0]}")
    return [(n, hr_dir / n, lr_dir / n) for n in names]
