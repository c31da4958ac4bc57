"""Render the bundled sample image (models/samples/sample.png), a procedural test scene.

It is drawn at 4x and downscaled with antialiasing, so it looks like a clean LR photo:
smooth gradients, a zone plate (fine frequencies), text, hard and soft edges. Procedural
so the repository ships no third-party pixels. Run: python scripts/make_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).resolve().parents[1] / "models" / "samples" / "sample.png"
W, H, S = 256, 192, 4  # LR size and render supersampling


def render() -> Image.Image:
    w, h = W * S, H * S
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([0.35 + 0.3 * y / h, 0.55 + 0.25 * y / h, 0.85 - 0.2 * y / h], axis=-1)
    img = Image.fromarray((sky * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.polygon(
        [
            (0, h),
            (w * 0.35, h * 0.45),
            (w * 0.6, h),
        ],
        fill=(70, 95, 60),
    )
    draw.polygon([(w * 0.3, h), (w * 0.7, h * 0.35), (w, h * 0.8), (w, h)], fill=(95, 110, 75))
    draw.ellipse([w * 0.78, h * 0.08, w * 0.92, h * 0.27], fill=(250, 225, 150))
    for i in range(12):  # a brick wall with mortar lines
        for j in range(6):
            x0 = w * 0.05 + i * 36 + (18 if j % 2 else 0)
            y0 = h * 0.62 + j * 18
            draw.rectangle([x0, y0, x0 + 32, y0 + 14], fill=(150 + 7 * (i % 3), 70, 50))
    font = ImageFont.load_default(size=64)
    draw.text((w * 0.06, h * 0.08), "Edge-SD-SR x4", fill=(20, 20, 30), font=font)
    img = img.filter(ImageFilter.GaussianBlur(1.0))
    zy, zx = np.mgrid[-1:1:240j, -1:1:240j]
    zone = (0.5 + 0.5 * np.cos(90 * (zx**2 + zy**2))) * 255
    img.paste(Image.fromarray(zone.astype(np.uint8)).convert("RGB"), (int(w * 0.55), int(h * 0.4)))
    return img.resize((W, H), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    render().save(OUT, optimize=True)
    print(f"wrote {OUT}")
