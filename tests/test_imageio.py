"""Tests for toolchain.imageio: loading, saving and CLI path handling."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from toolchain import atomic, imageio
from toolchain.errors import ToolchainError
from toolchain.imageio import (
    SUPPORTED_SUFFIXES,
    LoadedImage,
    check_image_size,
    check_writable_output,
    collect_inputs,
    load_image,
    output_path_for,
    save_image,
)

BIG = 10**9


def _noise(h: int = 24, w: int = 32, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _one_line_error(excinfo: pytest.ExceptionInfo[ToolchainError]) -> str:
    message = str(excinfo.value)
    assert message
    assert "\n" not in message and "\r" not in message
    return message


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_lossless_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    pixels = _noise()
    target = tmp_path / f"img{suffix}"
    save_image(target, pixels.astype(np.float32) / 255.0, quality=100)
    loaded = load_image(target, max_pixels=BIG)
    assert isinstance(loaded, LoadedImage)
    assert loaded.size == (32, 24)
    assert loaded.rgb.shape == (24, 32, 3) and loaded.rgb.dtype == np.float32
    assert loaded.alpha is None
    assert loaded.source == target
    np.testing.assert_array_equal(np.round(loaded.rgb * 255).astype(np.uint8), pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_round_trip_shape_and_alpha_dropped(tmp_path: Path, suffix: str) -> None:
    rgb = np.full((20, 30, 3), 0.5, dtype=np.float32)
    alpha = np.zeros((20, 30), dtype=np.float32)
    target = tmp_path / f"img{suffix}"
    save_image(target, rgb, alpha=alpha)
    with Image.open(target) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.rgb.shape == (20, 30, 3)
    assert loaded.alpha is None
    assert np.abs(loaded.rgb - 0.5).max() < 3 / 255


def test_lossy_webp_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "img.webp"
    save_image(target, np.full((16, 16, 3), 0.25, dtype=np.float32), quality=80)
    with Image.open(target) as im:
        assert im.format == "WEBP"
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.rgb.shape == (16, 16, 3)
    assert np.abs(loaded.rgb - 0.25).max() < 6 / 255


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_alpha_round_trip(tmp_path: Path, suffix: str) -> None:
    rgba = _noise(c=4, seed=3)
    target = tmp_path / f"img{suffix}"
    save_image(target, rgba[:, :, :3], alpha=rgba[:, :, 3].astype(np.float32) / 255.0, quality=100)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is not None and loaded.alpha.shape == (24, 32)
    np.testing.assert_array_equal(np.round(loaded.alpha * 255).astype(np.uint8), rgba[:, :, 3])
    np.testing.assert_array_equal(np.round(loaded.rgb * 255).astype(np.uint8), rgba[:, :, :3])


def test_save_rounding_rule(tmp_path: Path) -> None:
    values = np.array([0.0, 0.5 / 255, 0.49 / 255, 1.0, 1.7, -0.3, 127.5 / 255], dtype=np.float64)
    rgb = np.repeat(values[None, :, None], 3, axis=2)
    target = tmp_path / "r.png"
    save_image(target, rgb)
    with Image.open(target) as im:
        got = np.asarray(im)[0, :, 0]
    np.testing.assert_array_equal(got, np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8))


def test_save_creates_missing_parent(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.png"
    save_image(target, _noise())
    assert target.is_file()
    assert _files_in(target.parent) == ["out.png"]


def test_save_overwrites_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    save_image(target, _noise())
    assert (target.stat().st_mode & 0o777) == 0o640
    with Image.open(target) as im:
        assert im.size == (32, 24)


def test_new_file_gets_umask_mode_not_private_tempfile_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_image(tmp_path / "out.png", _noise())
    finally:
        os.umask(old)
    assert ((tmp_path / "out.png").stat().st_mode & 0o777) == 0o644


# --------------------------------------------------------------------------- EXIF


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = np.zeros((20, 40, 3), dtype=np.uint8)
    img[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    target = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(target, exif=exif, quality=95)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.size == (20, 40)
    assert loaded.rgb.shape == (40, 20, 3)
    # The white left half ends up on top after a clockwise rotation.
    assert loaded.rgb[:15].mean() > 0.9 and loaded.rgb[25:].mean() < 0.1


def test_broken_exif_does_not_block_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.png"
    Image.fromarray(_noise()).save(target)

    def broken(image: Image.Image) -> Image.Image:
        raise SyntaxError("bad EXIF")

    monkeypatch.setattr(imageio.ImageOps, "exif_transpose", broken)
    assert load_image(target, max_pixels=BIG).size == (32, 24)


# --------------------------------------------------------------------------- modes


def test_mode_l(tmp_path: Path) -> None:
    gray = _noise(c=1)[:, :, 0]
    target = tmp_path / "l.png"
    Image.fromarray(gray, mode="L").save(target)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is None
    for ch in range(3):
        np.testing.assert_allclose(loaded.rgb[:, :, ch], gray / 255.0, atol=1e-6)


def test_mode_la_keeps_alpha(tmp_path: Path) -> None:
    data = _noise(c=2, seed=5)
    target = tmp_path / "la.png"
    Image.fromarray(data, mode="LA").save(target)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is not None
    np.testing.assert_allclose(loaded.alpha, data[:, :, 1] / 255.0, atol=1e-6)
    np.testing.assert_allclose(loaded.rgb[:, :, 2], data[:, :, 0] / 255.0, atol=1e-6)


def test_mode_rgba_keeps_alpha(tmp_path: Path) -> None:
    data = _noise(c=4, seed=6)
    target = tmp_path / "rgba.png"
    Image.fromarray(data, mode="RGBA").save(target)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is not None
    np.testing.assert_allclose(loaded.alpha, data[:, :, 3] / 255.0, atol=1e-6)
    np.testing.assert_allclose(loaded.rgb, data[:, :, :3] / 255.0, atol=1e-6)


def _palette_image() -> Image.Image:
    im = Image.new("P", (4, 2))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 0, 1, 2, 0, 1])
    return im


def test_mode_p_without_transparency(tmp_path: Path) -> None:
    target = tmp_path / "p.png"
    _palette_image().save(target)
    with Image.open(target) as im:
        assert im.mode == "P"
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is None
    np.testing.assert_array_equal(loaded.rgb[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(loaded.rgb[0, 2], [0.0, 0.0, 1.0])


def test_mode_p_with_transparency(tmp_path: Path) -> None:
    target = tmp_path / "pt.png"
    _palette_image().save(target, transparency=1)
    with Image.open(target) as im:
        assert im.mode == "P" and "transparency" in im.info
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is not None
    np.testing.assert_array_equal(loaded.alpha[0], [1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(loaded.rgb[0, 0], [1.0, 0.0, 0.0])


def test_mode_rgb_with_colour_key_transparency(tmp_path: Path) -> None:
    data = np.zeros((2, 2, 3), dtype=np.uint8)
    data[0, 0] = (10, 20, 30)
    target = tmp_path / "key.png"
    Image.fromarray(data).save(target, transparency=(10, 20, 30))
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is not None
    np.testing.assert_array_equal(loaded.alpha, [[0.0, 1.0], [1.0, 1.0]])


def test_mode_cmyk_jpeg(tmp_path: Path) -> None:
    target = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(target, quality=100)
    with Image.open(target) as im:
        assert im.mode == "CMYK"
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.rgb.shape == (6, 8, 3) and loaded.alpha is None
    np.testing.assert_allclose(loaded.rgb[3, 4], [1.0, 0.0, 0.0], atol=3 / 255)


def test_mode_i16_keeps_16_bit_precision(tmp_path: Path) -> None:
    values = np.array([[0, 1, 2, 255, 256, 257], [32767, 32768, 40000, 65533, 65534, 65535]], np.uint16)
    target = tmp_path / "g16.png"
    Image.fromarray(values).save(target)
    with Image.open(target) as im:
        assert im.mode in ("I;16", "I")
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is None
    for ch in range(3):
        np.testing.assert_allclose(loaded.rgb[:, :, ch], values / 65535.0, atol=0.5 / 65535)
    np.testing.assert_array_equal(np.round(loaded.rgb[:, :, 0] * 65535).astype(np.uint16), values)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_modes_in_memory(mode: str) -> None:
    values = np.array([[0, 1, 12345, 65535]], dtype=np.uint16)
    im = Image.fromarray(values).convert(mode) if mode != "I;16B" else Image.new(mode, (4, 1))
    if mode == "I;16B":
        im.frombytes(values.astype(">u2").tobytes())
    assert im.mode == mode
    rgb, alpha = imageio._to_arrays(im)
    assert alpha is None
    np.testing.assert_array_equal(np.round(rgb[:, :, 1] * 65535).astype(np.uint16), values)


def test_16_bit_rgb_png_loads_with_8_bit_precision(tmp_path: Path) -> None:
    """Documented limitation: Pillow decodes 16-bit RGB PNGs to 8 bits per channel."""
    data = np.random.default_rng(1).integers(0, 65536, (3, 4, 3)).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in data)
    target = tmp_path / "rgb16.png"
    target.write_bytes(_png_bytes(4, 3, 16, 2, raw))
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.rgb.shape == (3, 4, 3)
    np.testing.assert_allclose(loaded.rgb, data.astype(np.float64) / 65535.0, atol=1 / 255 + 1e-6)


def test_mode_1_bilevel(tmp_path: Path) -> None:
    target = tmp_path / "bw.png"
    im = Image.new("1", (3, 2), 0)
    im.putpixel((1, 0), 1)
    im.save(target)
    loaded = load_image(target, max_pixels=BIG)
    assert loaded.alpha is None
    np.testing.assert_array_equal(loaded.rgb[:, :, 0], [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("im", "expected"),
    [
        (Image.new("F", (2, 2), 127.5), 0.5),
        (Image.new("YCbCr", (2, 2), (255, 128, 128)), 1.0),
        (Image.new("RGBX", (2, 2), (51, 51, 51, 0)), 0.2),
        (Image.new("HSV", (2, 2), (0, 0, 255)), 1.0),
    ],
)
def test_other_modes_in_memory(im: Image.Image, expected: float) -> None:
    rgb, alpha = imageio._to_arrays(im)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float32 and alpha is None
    np.testing.assert_allclose(rgb, expected, atol=1 / 255)


@pytest.mark.parametrize("mode", ["PA", "RGBa", "La"])
def test_alpha_modes_in_memory(mode: str) -> None:
    im = Image.new(mode, (2, 2))
    rgb, alpha = imageio._to_arrays(im)
    assert rgb.shape == (2, 2, 3) and alpha is not None and alpha.shape == (2, 2)


# --------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="does not exist") as excinfo:
        load_image(tmp_path / "nope.png", max_pixels=BIG)
    assert "nope.png" in _one_line_error(excinfo)


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dir.png"
    folder.mkdir()
    with pytest.raises(ToolchainError, match="is a directory") as excinfo:
        load_image(folder, max_pixels=BIG)
    _one_line_error(excinfo)


@pytest.mark.parametrize("name", ["a.gif", "a.tiff", "noext"])
def test_unsupported_suffix_on_load(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    Image.fromarray(_noise()).save(target, format="PNG")
    with pytest.raises(ToolchainError, match=r"\.png, \.jpg, \.jpeg, \.webp") as excinfo:
        load_image(target, max_pixels=BIG)
    assert name in _one_line_error(excinfo)


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "noise.png"
    target.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ToolchainError, match="not a PNG, JPEG or WebP") as excinfo:
        load_image(target, max_pixels=BIG)
    assert "noise.png" in _one_line_error(excinfo)


def test_other_formats_are_not_decoded(tmp_path: Path) -> None:
    target = tmp_path / "really_a_gif.png"
    Image.fromarray(_noise()).save(target, format="GIF")
    with pytest.raises(ToolchainError, match="not a PNG, JPEG or WebP") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


def test_jpeg_named_png_is_accepted(tmp_path: Path) -> None:
    target = tmp_path / "mislabelled.png"
    Image.fromarray(_noise()).save(target, format="JPEG")
    assert load_image(target, max_pixels=BIG).size == (32, 24)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    whole = tmp_path / "whole.bin"
    Image.fromarray(_noise(64, 64)).save(whole, format=fmt)
    data = whole.read_bytes()
    target = tmp_path / f"half.{fmt.lower()}"
    target.write_bytes(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ToolchainError, match="half") as excinfo:
        load_image(target, max_pixels=BIG)
    message = _one_line_error(excinfo)
    assert "re-export or re-download" in message


def test_corrupt_idat(tmp_path: Path) -> None:
    raw = b"".join(b"\x00" + bytes(12) for _ in range(4))
    png = bytearray(_png_bytes(4, 4, 8, 2, raw))
    idat = png.index(b"IDAT")
    png[idat + 6 : idat + 12] = b"\xff" * 6  # garble the zlib stream (CRC now wrong too)
    target = tmp_path / "garbled.png"
    target.write_bytes(bytes(png))
    with pytest.raises(ToolchainError, match="garbled.png") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


def test_zero_size_png_header(tmp_path: Path) -> None:
    target = tmp_path / "zero.png"
    target.write_bytes(_png_bytes(0, 3, 8, 2, b""))
    with pytest.raises(ToolchainError, match="zero.png") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


@pytest.mark.parametrize("size", [(0, 5), (5, 0), (0, 0)])
def test_zero_size_header_check(size: tuple[int, int]) -> None:
    with pytest.raises(ToolchainError, match="zero size") as excinfo:
        check_image_size(Path("empty.png"), size, max_pixels=BIG)
    assert "empty.png" in _one_line_error(excinfo)


def test_zero_size_from_decoder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "z.png"
    Image.fromarray(_noise()).save(target)
    original_open = Image.open

    def zero_open(*args: object, **kwargs: object) -> Image.Image:
        im = original_open(*args, **kwargs)
        im._size = (0, 24)
        return im

    monkeypatch.setattr(imageio.Image, "open", zero_open)
    with pytest.raises(ToolchainError, match=r"zero size \(0x24\)") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


def test_too_many_pixels_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "input.png"
    Image.fromarray(_noise(100, 200)).save(target)
    decoded: list[object] = []
    original_load = ImageFile.ImageFile.load

    def spy_load(self: ImageFile.ImageFile) -> object:
        decoded.append(self)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    with pytest.raises(ToolchainError) as excinfo:
        load_image(target, max_pixels=19_999)
    message = _one_line_error(excinfo)
    # 0.02 MP and 0.019999 MP both round to "0.0 MP", so exact counts are shown.
    assert message == (
        f"{target} is 200x100 = 20000 pixels, over the 19999-pixel limit; downscale or crop it first"
    )
    assert decoded == []
    assert load_image(target, max_pixels=20_000).size == (200, 100)


def test_over_limit_message_format() -> None:
    with pytest.raises(ToolchainError) as excinfo:
        check_image_size(Path("input.png"), (8000, 8000), max_pixels=4096 * 4096)
    assert _one_line_error(excinfo) == (
        "input.png is 8000x8000 = 64.0 MP, over the 16.8 MP limit; downscale or crop it first"
    )


@pytest.mark.filterwarnings("error")
def test_pillow_bomb_warning_never_escapes(tmp_path: Path) -> None:
    # 10000x10000 = 100 MP: above Pillow's warning threshold (89.5 MP), below its error.
    target = tmp_path / "warn.png"
    target.write_bytes(_png_bytes(10_000, 10_000, 8, 0, b""))
    with pytest.raises(ToolchainError, match=r"10000x10000 = 100\.0 MP, over the 16\.8 MP limit") as e:
        load_image(target, max_pixels=4096 * 4096)
    _one_line_error(e)


@pytest.mark.filterwarnings("error")
def test_pillow_bomb_error_becomes_size_message(tmp_path: Path) -> None:
    # 20000x20000 = 400 MP: Image.open itself raises DecompressionBombError.
    target = tmp_path / "bomb.png"
    target.write_bytes(_png_bytes(20_000, 20_000, 8, 0, b""))
    with pytest.raises(ToolchainError, match=r"20000x20000 = 400\.0 MP, over the 16\.8 MP limit") as e:
        load_image(target, max_pixels=4096 * 4096)
    _one_line_error(e)
    assert Image.MAX_IMAGE_PIXELS is not None


@pytest.mark.filterwarnings("error")
def test_max_pixels_above_pillow_limit_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink Pillow's limit (for this test only) instead of decoding a 180 MP image.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    target = tmp_path / "medium.png"
    Image.fromarray(_noise(20, 30)).save(target)  # 600 px > 2 * 100: Pillow would refuse
    loaded = load_image(target, max_pixels=1000)
    assert loaded.size == (30, 20)
    with pytest.raises(ToolchainError, match="30x20"):
        load_image(target, max_pixels=500)


def test_animated_webp_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "anim.webp"
    frames = [Image.fromarray(_noise(seed=i)) for i in range(3)]
    frames[0].save(target, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ToolchainError, match="animated") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "locked.png"
    Image.fromarray(_noise()).save(target)

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ToolchainError, match="permission denied") as excinfo:
        load_image(target, max_pixels=BIG)
    _one_line_error(excinfo)


def test_newline_in_file_name_stays_one_line(tmp_path: Path) -> None:
    target = tmp_path / "evil\nname.png"
    target.write_bytes(b"not an image")
    with pytest.raises(ToolchainError) as excinfo:
        load_image(target, max_pixels=BIG)
    assert "evil\\nname.png" in _one_line_error(excinfo)


# --------------------------------------------------------------------------- saving failures


def test_save_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"\.png, \.jpg, \.jpeg, \.webp") as excinfo:
        save_image(tmp_path / "out.bmp", _noise())
    assert "out.bmp" in _one_line_error(excinfo)
    assert _files_in(tmp_path) == []


@pytest.mark.parametrize("quality", [0, 101, 95.0, True])
def test_save_bad_quality(tmp_path: Path, quality: object) -> None:
    with pytest.raises(ToolchainError, match="quality") as excinfo:
        save_image(tmp_path / "out.jpg", _noise(), quality=quality)  # type: ignore[arg-type]
    _one_line_error(excinfo)


def test_save_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_image(tmp_path / "a.png", np.zeros((4, 4)))
    with pytest.raises(ValueError):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 4)))
    with pytest.raises(ValueError):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 3), dtype=np.uint16))
    with pytest.raises(ValueError):
        save_image(tmp_path / "a.png", np.full((4, 4, 3), np.nan))
    with pytest.raises(ValueError):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 3)), alpha=np.zeros((4, 5)))
    assert _files_in(tmp_path) == []


def _failing_save(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_midway(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG partial data")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail_midway)


def test_failed_save_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_save(monkeypatch)
    with pytest.raises(ToolchainError, match="disk full") as excinfo:
        save_image(tmp_path / "out.png", _noise())
    assert "out.png" in _one_line_error(excinfo)
    assert _files_in(tmp_path) == []


def test_failed_save_keeps_existing_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.webp"
    save_image(target, _noise())
    before = target.read_bytes()
    _failing_save(monkeypatch)
    with pytest.raises(ToolchainError) as excinfo:
        save_image(target, _noise(seed=9))
    _one_line_error(excinfo)
    assert target.read_bytes() == before
    assert _files_in(tmp_path) == ["out.webp"]


def test_failed_replace_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_replace(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imageio.os, "replace", fail_replace)
    with pytest.raises(ToolchainError, match="Permission denied") as excinfo:
        save_image(tmp_path / "out.png", _noise())
    _one_line_error(excinfo)
    assert _files_in(tmp_path) == []


def test_interrupted_save_cleans_up_and_reraises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(self: Image.Image, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_image(tmp_path / "out.png", _noise())
    assert _files_in(tmp_path) == []


def test_save_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    target = blocker / "sub" / "out.png"
    with pytest.raises(ToolchainError, match="file.txt") as excinfo:
        save_image(target, _noise())
    _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="file.txt") as excinfo:
        check_writable_output(target)
    _one_line_error(excinfo)
    assert _files_in(tmp_path) == ["file.txt"]


def test_save_onto_a_directory(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(ToolchainError, match="is a directory") as excinfo:
        save_image(tmp_path / "out.png", _noise())
    _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="is a directory"):
        check_writable_output(tmp_path / "out.png")


def _can_write_read_only_dirs(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("x")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if _can_write_read_only_dirs(locked):
            pytest.skip("running with privileges that ignore directory permissions")
        with pytest.raises(ToolchainError, match="locked") as excinfo:
            save_image(locked / "out.png", _noise())
        _one_line_error(excinfo)
        with pytest.raises(ToolchainError, match="locked"):
            check_writable_output(locked / "out.png")
        with pytest.raises(ToolchainError, match="locked"):
            save_image(locked / "new" / "out.png", _noise())
    finally:
        locked.chmod(0o755)
    assert _files_in(locked) == []


def test_unwritable_temp_dir_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    real_open = Path.open

    def deny_temp_files(self: Path, *args: object, **kwargs: object) -> object:
        return deny() if self.name.startswith(".out.") else real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny_temp_files)
    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", deny)  # the write probe is atomic.probe_new_file
    with pytest.raises(ToolchainError, match="out.png") as excinfo:
        save_image(tmp_path / "out.png", _noise())
    _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="out.png"):
        check_writable_output(tmp_path / "out.png")


def test_check_writable_output_creates_nothing(tmp_path: Path) -> None:
    check_writable_output(tmp_path / "a" / "b" / "out.JPG")
    check_writable_output(tmp_path / "out.webp")
    assert _files_in(tmp_path) == []
    with pytest.raises(ToolchainError, match=r"\.tif") as excinfo:
        check_writable_output(tmp_path / "out.tif")
    _one_line_error(excinfo)


# --------------------------------------------------------------------------- CLI paths


def _touch_image(path: Path) -> Path:
    Image.fromarray(_noise(4, 4)).save(path, format="PNG")
    return path


def test_collect_inputs_folder_sorted_filtered(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "c.webp", "d.jpeg", "notes.txt", "e.gif", ".hidden.png"]:
        _touch_image(tmp_path / name)
    (tmp_path / "sub.png").mkdir()
    _touch_image(tmp_path / "sub.png" / "deep.png")
    got = collect_inputs([tmp_path])
    assert [p.name for p in got] == ["a.JPG", "b.png", "c.webp", "d.jpeg"]


def test_collect_inputs_mixed_and_deduplicated(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = _touch_image(folder / "a.png"), _touch_image(folder / "b.png")
    single = _touch_image(tmp_path / "z.webp")
    got = collect_inputs([single, folder, a, folder / ".." / "in" / "b.png", single])
    assert got == [single, a, b]


def test_collect_inputs_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ToolchainError, match="contains no") as excinfo:
        collect_inputs([empty])
    assert "empty" in _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="does not exist") as excinfo:
        collect_inputs([tmp_path / "missing.png"])
    _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="no input") as excinfo:
        collect_inputs([])
    _one_line_error(excinfo)
    (tmp_path / "doc.txt").write_text("x")
    with pytest.raises(ToolchainError, match="doc.txt") as excinfo:
        collect_inputs([tmp_path / "doc.txt"])
    _one_line_error(excinfo)


def test_output_path_for(tmp_path: Path) -> None:
    src = tmp_path / "in" / "photo.jpg"
    assert output_path_for(src, tmp_path / "big.png", 1) == tmp_path / "big.png"
    assert output_path_for(src, tmp_path / "big.PNG", 1) == tmp_path / "big.PNG"
    assert output_path_for(src, tmp_path / "outdir", 1) == tmp_path / "outdir" / "photo.jpg"
    assert output_path_for(src, tmp_path / "outdir", 3) == tmp_path / "outdir" / "photo.jpg"
    existing = tmp_path / "looks_like.png"
    existing.mkdir()
    assert output_path_for(src, existing, 1) == existing / "photo.jpg"
    with pytest.raises(ToolchainError, match="-o must be a directory when upscaling several images") as e:
        output_path_for(src, tmp_path / "big.png", 2)
    _one_line_error(e)


def test_output_path_refuses_overwriting_input(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    with pytest.raises(ToolchainError, match="overwrite the input") as excinfo:
        output_path_for(src, tmp_path, 2)
    _one_line_error(excinfo)
    with pytest.raises(ToolchainError, match="overwrite the input"):
        output_path_for(src, src, 1)


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == (".png", ".jpg", ".jpeg", ".webp")
