"""Make the bundled sample image (models/samples/sample.png) from a CC0 photograph.

The source is ``skimage/data/chelsea.png`` of scikit-image 0.25.2 ("Chelsea the cat", CC0 by
the photographer, Stefan van der Walt, as scikit-image's ``skimage.data.chelsea`` documents).
It is not in any eval set nor in ../shared/data/train. The sample is its 448x300 centre,
downscaled x2 (antialiased bicubic) to a clean 224x150 LR photo: fur, whiskers and eyes show
what the x4 model does. Get the source without installing scikit-image:

    pip download --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_17_x86_64 scikit-image==0.25.2 -d /tmp/skimage
    unzip -o /tmp/skimage/scikit_image-0.25.2-*.whl skimage/data/chelsea.png -d /tmp/skimage
    python scripts/make_sample.py /tmp/skimage/skimage/data/chelsea.png
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "models" / "samples" / "sample.png"
SOURCE_SHA256 = "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"  # chelsea.png, 0.25.2
CROP = (448, 300)  # centre crop of the 451x300 photo, even sides
FACTOR = 2


def make(source: Path) -> Image.Image:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{source}: sha256 {digest} is not scikit-image 0.25.2's chelsea.png")
    photo = Image.open(source).convert("RGB")
    left, top = (photo.width - CROP[0]) // 2, (photo.height - CROP[1]) // 2
    crop = photo.crop((left, top, left + CROP[0], top + CROP[1]))
    return crop.resize((CROP[0] // FACTOR, CROP[1] // FACTOR), Image.Resampling.BICUBIC, reducing_gap=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="chelsea.png of the scikit-image 0.25.2 wheel")
    args = parser.parse_args()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    make(args.source).save(OUT, optimize=True)
    print(f"wrote {OUT}")
