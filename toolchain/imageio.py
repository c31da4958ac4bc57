"""Image reading and writing for the 4x super-resolution CLI.

Every problem caused by the user's files (missing, corrupt, too large, wrong suffix,
unwritable destination) is raised as a one-line :class:`ToolchainError` naming the file,
the problem and the fix; Pillow/OS exceptions never escape as tracebacks.

Pixels travel as float32 arrays in ``[0, 1]``: ``rgb`` is HxWx3, ``alpha`` is HxW or
``None``.

Known limitations (Pillow 13):

* 16-bit RGB, RGBA and grey+alpha PNGs are decoded by Pillow to 8 bits per channel (it
  keeps the high byte), so their extra precision is lost; only 16-bit *greyscale* PNGs
  (mode ``I;16``) keep full precision.
* No colour management: embedded ICC profiles are ignored on load and not written on
  save, and CMYK is converted with Pillow's naive formula.
* EXIF, ICC and other metadata are not copied to the output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import (
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from toolchain.atomic import atomic_path, nearest_existing, probe_new_file
from toolchain.errors import ToolchainError

SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_INPUT_PIXELS = 4096 * 4096
"""Largest LR input the toolchain reads (16.8 MP in -> 268 MP out, 805 MB as 8-bit RGB at x4)."""

# Pillow formats we agree to decode, whatever the suffix says. Restricting the list keeps
# exotic decoders (EPS runs Ghostscript, for example) away from user files.
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP")  # the JPEG opener also returns MPO files
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# Header-only readers used when Image.open refuses a header with DecompressionBombError.
_HEADER_READERS: tuple[Callable[[IO[bytes]], Image.Image], ...] = (
    PngImagePlugin.PngImageFile,
    JpegImagePlugin.JpegImageFile,
    WebPImagePlugin.WebPImageFile,
)
_SUFFIX_LIST = ", ".join(SUPPORTED_SUFFIXES)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image: ``rgb`` HxWx3 and ``alpha`` HxW (or None), float32 in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    source: Path

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


# --------------------------------------------------------------------------- helpers


def _show(path: Path) -> str:
    """The path for a message, escaped if it holds newlines or other control characters."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _reason(exc: BaseException) -> str:
    """An exception as one short line of text; an OS error without its file name, which may be one of
    our temporary files rather than the path the user gave."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def _check_suffix(path: Path, action: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        problem = (
            f"cannot {action} {path.suffix!r} files"
            if path.suffix
            else f"has no image suffix, cannot {action} it"
        )
        raise ToolchainError(f"{_show(path)}: {problem}; use one of {_SUFFIX_LIST}")
    return suffix


def check_image_size(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse a (width, height) that is empty or has more than ``max_pixels`` pixels."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ToolchainError(
            f"{_show(path)} has zero size ({width}x{height}); the file is broken, re-export it"
        )
    pixels = width * height
    if pixels > max_pixels:
        have, limit = _megapixels(pixels), _megapixels(max_pixels)
        if have == limit:  # rounding hides the difference: show exact counts
            have, limit = f"{pixels} pixels", f"{max_pixels}-pixel"
        raise ToolchainError(
            f"{_show(path)} is {width}x{height} = {have}, over the {limit} limit; downscale or crop it first"
        )


def _header_size(path: Path) -> tuple[int, int] | None:
    """Read (width, height) from the header without Pillow's decompression-bomb check."""
    for reader in _HEADER_READERS:
        try:
            with path.open("rb") as fp:
                im = reader(fp)
                return im.size
        except Exception:  # wrong format for this reader: try the next
            continue
    return None


def check_header_size(path: Path, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels, reading the header only.

    Cheap (no pixel data is decoded), so a caller can refuse a huge input before loading a model.
    A header that cannot be read passes: :func:`load_image` then reports what is wrong with the file.
    """
    size = _header_size(Path(path))
    if size is not None and size[0] * size[1] > max_pixels:
        check_image_size(path, size, max_pixels)


def _open_unchecked(path: Path, fp: IO[bytes]) -> Image.Image:
    """Open with the plugin classes directly (no bomb check; the caller checked the size)."""
    for reader in _HEADER_READERS:
        try:
            fp.seek(0)
            return reader(fp)
        except Exception:  # wrong format for this reader: try the next
            continue
    raise ToolchainError(f"{_show(path)} is not a readable PNG, JPEG or WebP image; re-export it")


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_arrays(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert a loaded Pillow image of any mode to (rgb HxWx3, alpha HxW | None) float32.

    16-bit grey (``I;16*``) and 32-bit integer ``I`` images are scaled by 65535 through
    numpy, keeping full precision (``I`` values outside 0..65535 are clipped). ``F``
    follows Pillow's convention of a 0..255 range and is clipped to it.
    """
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        gray = np.asarray(im).astype(np.float32)
        gray = np.clip(gray, 0.0, 65535.0) / np.float32(65535.0)
        return _gray_to_rgb(gray), None
    if mode == "F":
        gray = np.clip(np.asarray(im, dtype=np.float32), 0.0, 255.0) / np.float32(255.0)
        return _gray_to_rgb(gray), None
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in im.info:
        data = np.asarray(im, dtype=np.float32) / np.float32(255.0)
    else:
        # P, PA, CMYK, YCbCr, RGBX, RGBa, La, HSV, LAB, colour-keyed L/RGB (PNG tRNS):
        # let Pillow convert. (im.has_transparency_data would do, but needs Pillow 10.1.)
        transparent = mode in ("LA", "RGBA", "PA", "RGBa", "La") or "transparency" in im.info
        target = "RGBA" if transparent else "RGB"
        if mode == "La":
            im = im.convert("LA")  # Pillow cannot convert La straight to RGB(A)
        data = np.asarray(im.convert(target), dtype=np.float32) / np.float32(255.0)
        mode = target
    if mode == "L":
        return _gray_to_rgb(data), None
    if mode == "LA":
        return _gray_to_rgb(data[:, :, 0]), np.ascontiguousarray(data[:, :, 1])
    if mode == "RGB":
        return np.ascontiguousarray(data), None
    return np.ascontiguousarray(data[:, :, :3]), np.ascontiguousarray(data[:, :, 3])


# --------------------------------------------------------------------------- loading


def load_image(path: Path, max_pixels: int) -> LoadedImage:
    """Decode a PNG/JPEG/WebP file into float32 arrays in [0, 1].

    The EXIF orientation is applied (an unreadable EXIF block is ignored). Modes L, LA,
    P (RGBA when it has transparency), PA, CMYK, YCbCr, 1, I;16*, I, F, RGB and RGBA are
    converted; 16-bit grey keeps full precision. The pixel count is checked against
    ``max_pixels`` from the header, before any pixel data is decoded; Pillow's own
    decompression-bomb limit is replaced by that check. Animated PNG/WebP files are
    refused.

    Limitation: Pillow 13 decodes 16-bit RGB/RGBA/LA PNGs to 8 bits per channel.

    Raises ToolchainError (one line) for a missing file, a directory, an unsupported
    suffix, unreadable/corrupt/truncated data, a zero size or too many pixels.
    """
    path = Path(path)
    if not path.exists():
        raise ToolchainError(f"{_show(path)} does not exist; check the input path")
    if path.is_dir():
        raise ToolchainError(f"{_show(path)} is a directory, not an image file; pass an image file")
    _check_suffix(path, "read")

    try:
        with path.open("rb") as fp:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    im = Image.open(fp, formats=_PILLOW_FORMATS)
            except Image.DecompressionBombError:
                size = _header_size(path)
                if size is None:
                    raise ToolchainError(
                        f"{_show(path)} declares a size over Pillow's safety limit and its "
                        "header cannot be read; downscale or re-export it"
                    ) from None
                check_image_size(path, size, max_pixels)
                im = _open_unchecked(path, fp)
            with im:
                check_image_size(path, im.size, max_pixels)
                if im.format in ("PNG", "WEBP") and getattr(im, "is_animated", False):
                    raise ToolchainError(
                        f"{_show(path)} is animated ({getattr(im, 'n_frames', '?')} "
                        "frames); export a single frame as a still image first"
                    )
                im.load()
                try:
                    oriented = ImageOps.exif_transpose(im)
                except Exception:  # broken EXIF: keep the stored orientation
                    oriented = im
                rgb, alpha = _to_arrays(oriented)
    except ToolchainError:
        raise
    except UnidentifiedImageError:
        raise ToolchainError(
            f"{_show(path)} is not a PNG, JPEG or WebP image (unrecognised or corrupt "
            "data); re-export or re-download it"
        ) from None
    except PermissionError:
        raise ToolchainError(
            f"{_show(path)} cannot be read (permission denied); fix its permissions"
        ) from None
    except MemoryError:
        raise ToolchainError(
            f"{_show(path)} is too large to decode in the available memory; downscale or crop it first"
        ) from None
    except Exception as exc:  # any decoder failure is a bad file
        if isinstance(exc, ValueError) and "MAX_TEXT_" in str(exc):  # PngImagePlugin's text-chunk limits
            raise ToolchainError(
                f"{_show(path)} is a PNG whose text metadata exceeds Pillow's "
                f"{PngImagePlugin.MAX_TEXT_CHUNK // (1 << 20)} MB safety limit (the pixels are fine); "
                "save a copy without metadata and upscale that"
            ) from None
        raise ToolchainError(
            f"{_show(path)} is truncated or corrupt ({_reason(exc)}); re-export or re-download it"
        ) from exc
    return LoadedImage(rgb=rgb, alpha=alpha, source=path)


# --------------------------------------------------------------------------- saving


def _to_uint8(name: str, array: np.ndarray, ndim: int) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _check_output_location(path: Path) -> Path:
    """Refuse a directory as output or a file in the way of its folder; return that folder's
    nearest existing ancestor (the folder itself when it exists)."""
    if path.is_dir():
        raise ToolchainError(
            f"{_show(path)} is a directory; give an output file name such as {_show(path / 'out.png')}"
        )
    ancestor = nearest_existing(path.parent)
    if not ancestor.is_dir():
        raise ToolchainError(
            f"cannot write {_show(path)}: {_show(ancestor)} is a file, not a folder; "
            "choose another output path"
        )
    return ancestor


def _prepare_parent(path: Path) -> Path:
    """Create the parent directory of ``path`` if needed; ToolchainError if impossible."""
    _check_output_location(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolchainError(
            f"cannot create the output folder {_show(parent)} ({_reason(exc)}); choose another output path"
        ) from None
    return parent


_UNWRITABLE_HINT = "; check that its folder is writable or choose another output path"


def _unwritable(path: Path, exc: BaseException) -> ToolchainError:
    return ToolchainError(f"cannot write {_show(path)} ({_reason(exc)}){_UNWRITABLE_HINT}")


def check_writable_output(path: Path) -> None:
    """Check that ``path`` has a supported suffix and its folder can be created and written.

    Nothing is created: the nearest existing ancestor must be a writable directory,
    which is probed with a temporary file that is removed at once.
    """
    path = Path(path)
    _check_suffix(path, "write")
    ancestor = _check_output_location(path)
    try:
        probe_new_file(ancestor)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def save_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, quality: int = 95) -> None:
    """Write ``rgb`` (HxWx3, float in [0, 1] or uint8) atomically as PNG, JPEG or WebP.

    The format comes from the suffix. ``alpha`` (HxW) is written for PNG and WebP and
    dropped for JPEG. ``quality`` (1-100) applies to JPEG (saved without chroma
    subsampling) and WebP; WebP at quality 100 is saved lossless. Floats are rounded with
    ``clip(x * 255 + 0.5, 0, 255)``. The image goes to a temporary file in the target
    folder and is renamed over the target, so a failure never leaves a partial file
    (an existing target is kept unchanged). The parent folder is created when missing.

    Raises ToolchainError for an unsupported suffix, a bad quality or an unwritable
    destination; ValueError for arrays of the wrong shape, dtype or with NaN (bugs).
    """
    path = Path(path)
    suffix = _check_suffix(path, "write")
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer) or not 1 <= quality <= 100:
        raise ToolchainError(f"quality {quality!r} is invalid; use an integer from 1 to 100")
    pixels = _to_uint8("rgb", rgb, 3)
    if pixels.shape[2] != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"rgb must be HxWx3 with H, W > 0, got shape {pixels.shape}")
    fmt = _SAVE_FORMATS[suffix]
    if alpha is not None and fmt != "JPEG":
        alpha8 = _to_uint8("alpha", alpha, 2)
        if alpha8.shape != pixels.shape[:2]:
            raise ValueError(f"alpha shape {alpha8.shape} does not match rgb {pixels.shape}")
        pixels = np.concatenate([pixels, alpha8[:, :, None]], axis=2)
    image = Image.fromarray(pixels)

    options: dict[str, object] = {}
    if fmt == "JPEG":
        options = {"quality": int(quality), "subsampling": 0, "optimize": True}
    elif fmt == "WEBP":
        options = (
            {"lossless": True, "quality": 100, "exact": True} if quality == 100 else {"quality": int(quality)}
        )

    _prepare_parent(path)
    try:
        with atomic_path(path, _UNWRITABLE_HINT) as tmp:
            with tmp.open("wb") as handle:
                image.save(handle, format=fmt, **options)
                handle.flush()
                with contextlib.suppress(OSError):  # some file systems cannot fsync; best effort
                    os.fsync(handle.fileno())
            with contextlib.suppress(FileNotFoundError):  # an overwritten file keeps its mode
                os.chmod(tmp, path.stat().st_mode & 0o7777)
    except ToolchainError:
        raise
    except Exception as exc:  # an encoder failure is reported like any other failure to write
        raise _unwritable(path, exc) from exc


# Rough lower bounds of encoded size / raw 8-bit size for upscaled photos: refuse only when even
# a well-compressed file cannot fit, so a tight disk is reported before the computation, not after.
_MIN_COMPRESSION = {"PNG": 0.25, "JPEG": 0.05, "WEBP": 0.05}


def check_free_space(path: Path, width: int, height: int, channels: int = 3) -> None:
    """Refuse up front when the folder of ``path`` lacks room for a ``width`` x ``height`` image.

    The estimate is deliberately low (see ``_MIN_COMPRESSION``); an unknown free space passes.
    """
    fmt = _SAVE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        return
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    needed = int(width * height * channels * _MIN_COMPRESSION[fmt])
    if needed > free:
        raise ToolchainError(
            f"not enough free space for {_show(Path(path))}: a {width}x{height} {fmt} needs about "
            f"{needed / 1e6:.0f} MB, {folder} has {free / 1e6:.0f} MB free; free space or choose another -o"
        )


# --------------------------------------------------------------------------- CLI paths


@dataclass(frozen=True)
class InputScan:
    """The image files to process and the files of the given folders that are not images."""

    images: list[Path]
    skipped: list[Path]


def scan_inputs(inputs: list[Path]) -> InputScan:
    """Expand files and folders into a de-duplicated, ordered list of image files.

    Folders are listed non-recursively, sorted by name, keeping files whose suffix is in
    SUPPORTED_SUFFIXES (case-insensitive) and skipping hidden files (leading dot, e.g.
    macOS ``._x.jpg`` resource files and unfinished temporary outputs); the other files of a
    folder are returned as ``skipped`` (sub-folders are neither). Raises ToolchainError for no
    inputs, a missing path, a file with an unsupported suffix, an unreadable folder or a folder
    without images.
    """
    if not inputs:
        raise ToolchainError("no input images given; pass image files or folders")
    found: list[Path] = []
    skipped: list[Path] = []
    for given in inputs:
        given = Path(given)
        if not given.exists():
            raise ToolchainError(f"{_show(given)} does not exist; check the input path")
        if given.is_dir():
            try:
                entries = sorted((p for p in given.iterdir() if p.is_file()), key=lambda p: p.name)
            except OSError as exc:
                raise ToolchainError(
                    f"cannot list the folder {_show(given)} ({_reason(exc)}); check its permissions"
                ) from None
            images = [
                p for p in entries if p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
            ]
            if not images:
                raise ToolchainError(
                    f"the folder {_show(given)} contains no {_SUFFIX_LIST} images; "
                    "pass a folder with images or the image files themselves"
                )
            found.extend(images)
            skipped.extend(p for p in entries if p not in images)
        else:
            _check_suffix(given, "read")
            found.append(given)
    unique: list[Path] = []
    seen: set[Path] = set()
    for candidate in found:
        key = candidate.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return InputScan(unique, skipped)


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """The image files of :func:`scan_inputs` (for callers that need no count of skipped files)."""
    return scan_inputs(inputs).images


def output_path_for(input_path: Path, out: Path, n_inputs: int) -> Path:
    """Where the upscaled ``input_path`` goes for ``-o out``.

    An ``out`` with a suffix that is not an existing folder names a file: it must be a
    supported image suffix (``-o x.gif`` is refused, not turned into a folder ``x.gif``).
    Otherwise ``out`` is a folder and the result is ``out / input_path.name``. Raises
    ToolchainError when several inputs meet a file-like ``out``, or when the output
    would overwrite the input itself.
    """
    if n_inputs < 1:
        raise ValueError(f"n_inputs must be at least 1, got {n_inputs}")
    input_path, out = Path(input_path), Path(out)
    file_like = bool(out.suffix) and not out.is_dir()
    if file_like:
        _check_suffix(out, "write")
    if file_like and n_inputs > 1:
        raise ToolchainError(f"-o must be a directory when upscaling several images, got {_show(out)}")
    target = out if file_like else out / input_path.name
    if target.resolve() == input_path.resolve():
        raise ToolchainError(f"the output {_show(target)} would overwrite the input image; choose another -o")
    return target
