"""Engine parity: the Kotlin engine + OrtTileRunner against `toolchain upscale --runtime onnx`.

Both sides run the same bundle's host-reference QDQ graph with ONNX Runtime on the CPU
(graph optimizations off) on the same PNGs, all made deterministically from the repository's
models/samples/sample.png: a 300x200 and a 512x512 resize and a 131x97 native-resolution crop
(odd sizes, a partial last tile). When ../shared/data/eval is beside the repository, one of its LR
images is added; a clone of the repository alone runs the three sample images.
The Kotlin side (ai.edgesdsr.ort.ParityMain, run by android/tools/jvm.py) replays the tile
plan, the blending, the band assembly and the 8-bit rounding; the Python side is the
toolchain. One line per image::

    parity: <PSNR-Y> dB, max abs diff <n>/255

Fails if the sizes differ or PSNR-Y is below 50 dB. Identical outputs print ``inf dB``.

``--npu-emulator`` instead runs the NPU code path of OrtTileRunner (QNN EP plugin, HTP
backend, the EPContext graph and its context binary) on one tile in the x86 HTP emulator of
the installed ``onnxruntime-qnn`` wheel and compares it with the CPU QDQ graph (minutes per
tile; not part of ``nox -s android``).

    python android/tools/parity.py [--bundle exports/nano-s24-dsp-a16w8] [--npu-emulator]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jvm import ANDROID, REPO, BuildError, run_main  # noqa: E402

from toolchain.deploy import targets  # noqa: E402
from toolchain.metrics.fidelity import psnr_y  # noqa: E402

DEFAULT_BUNDLE = REPO / targets.DEFAULT_BUNDLE
SAMPLE = REPO / "models" / "samples" / "sample.png"
EVAL_IMAGE = REPO.parent / "shared" / "data" / "eval" / "set14" / "LR" / "img_013.png"
OUT = ANDROID / "build" / "parity"
MIN_PSNR_DB = 50.0


class ParityError(Exception):
    """A one-line parity failure."""


def _cover_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize ``image`` (Lanczos) to cover ``width x height``, then take the centred crop."""
    factor = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * factor)), max(height, round(image.height * factor)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return resized.crop((left, top, left + width, top + height))


def make_inputs(folder: Path) -> list[Path]:
    """The test images as RGB PNGs in ``folder`` (deterministic for a given Pillow)."""
    if not SAMPLE.is_file():
        raise ParityError(f"{SAMPLE} is missing; it ships with the repository")
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(SAMPLE) as im:
        sample = im.convert("RGB")
    left, top = (sample.width - 131) // 2, (sample.height - 97) // 2
    images = {
        "sample_300x200.png": _cover_crop(sample, 300, 200),
        "sample_512x512.png": _cover_crop(sample, 512, 512),
        "sample_crop_131x97.png": sample.crop((left, top, left + 131, top + 97)),
    }
    if EVAL_IMAGE.is_file():  # an extra, real LR photo, when ../shared is beside the repository
        with Image.open(EVAL_IMAGE) as im:
            images[f"eval_{EVAL_IMAGE.parent.parent.name}_{EVAL_IMAGE.name}"] = im.convert("RGB")
    paths = []
    for name, image in images.items():
        path = folder / name
        image.save(path)
        paths.append(path)
    return paths


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def compare(python_png: Path, kotlin_png: Path) -> tuple[float, int]:
    """PSNR-Y (dB, inf when identical) and the max absolute channel difference of two PNGs."""
    ref, out = _rgb(python_png), _rgb(kotlin_png)
    if ref.shape != out.shape:
        raise ParityError(
            f"{kotlin_png.name}: Kotlin output is {out.shape[1]}x{out.shape[0]}, "
            f"toolchain output is {ref.shape[1]}x{ref.shape[0]}"
        )
    diff = int(np.abs(ref.astype(np.int16) - out.astype(np.int16)).max())
    return psnr_y(out, ref), diff


def run(bundle: Path) -> None:
    if not (bundle / "manifest.json").is_file():
        raise ParityError(f"no bundle at {bundle}; run `toolchain export --target s24-dsp` first")
    inputs = make_inputs(OUT / "inputs")
    py_dir, kt_dir = OUT / "toolchain", OUT / "kotlin"
    py_dir.mkdir(parents=True, exist_ok=True)
    kt_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    for src in inputs:
        command = ["toolchain", "upscale", str(src), "-o", str(py_dir / src.name), "--bundle", str(bundle)]
        result = subprocess.run([*command, "--runtime", "onnx"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ParityError(f"toolchain upscale failed on {src.name}: {last}")
    print(f"parity: toolchain upscaled {len(inputs)} images in {time.monotonic() - start:.1f} s", flush=True)
    pairs = [str(p) for src in inputs for p in (src, kt_dir / src.name)]
    if run_main("ort", "ai.edgesdsr.ort.ParityMainKt", [str(bundle), *pairs]) != 0:
        raise ParityError("the Kotlin parity program failed (output above)")
    failures = []
    for src in inputs:
        psnr, diff = compare(py_dir / src.name, kt_dir / src.name)
        shown = "inf" if psnr == float("inf") else f"{psnr:.2f}"
        print(f"parity: {shown} dB, max abs diff {diff}/255  ({src.name})", flush=True)
        if psnr < MIN_PSNR_DB:
            failures.append(f"{src.name} {psnr:.2f} dB")
    if failures:
        raise ParityError(f"PSNR-Y below {MIN_PSNR_DB:g} dB: {', '.join(failures)}")


def run_npu_emulator(bundle: Path) -> None:
    """One tile of the EPContext graph through OrtTileRunner's QNN path, in the HTP emulator."""
    try:
        import onnxruntime_qnn
    except ImportError:
        raise ParityError("onnxruntime-qnn is not installed; install the deploy extra (.[deploy])") from None
    args = [str(bundle), onnxruntime_qnn.get_library_path(), onnxruntime_qnn.get_qnn_htp_path()]
    if run_main("ort", "ai.edgesdsr.ort.NpuEmulatorMainKt", args) != 0:
        raise ParityError("the NPU emulator run failed (output above)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare the Android engine (Kotlin + ONNX Runtime for the JVM) with "
        "`toolchain upscale --runtime onnx` on the same bundle and images.",
    )
    parser.add_argument(
        "--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle folder (default: %(default)s)"
    )
    parser.add_argument(
        "--npu-emulator",
        action="store_true",
        help="run one tile of the QNN EPContext graph in the onnxruntime-qnn HTP emulator instead (slow)",
    )
    args = parser.parse_args(argv)
    try:
        run_npu_emulator(args.bundle) if args.npu_emulator else run(args.bundle)
    except (ParityError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
