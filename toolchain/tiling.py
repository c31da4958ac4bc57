"""The one definition of how a 4x super-resolution model is applied tile by tile.

Exported graphs (ONNX, TFLite, ...) have static input shapes, so the model only ever
sees ``tile x tile`` low-resolution (LR) tiles. An image of any size is therefore:

1. covered by a *regular* grid of tiles with step ``stride = tile - overlap`` starting
   at 0 on both axes (see :func:`tile_count`);
2. padded on the bottom/right (replicate or reflect) so the last tile, which may extend
   past the image, still reads real-looking pixels (:func:`pad_image`);
3. upscaled tile by tile; the outputs are blended with a separable smoothstep window
   (:func:`ramp`, :func:`blend_window`) that forms a partition of unity over the grid,
   then cropped back to ``height*scale x width*scale`` (:class:`TileAssembler`).

A regular grid (instead of clamping the last tile against the border) keeps every
overlap the same length, which is what makes the windows sum to exactly one, and makes
the whole procedure a pure function of :class:`TileSpec` and the image size. The spec is
serialised with :meth:`TileSpec.to_json_dict` into the export bundle manifest and the
Android app replays the same arithmetic, so every rule here is spelled out explicitly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from toolchain.errors import ToolchainError

SPEC_VERSION = 1
"""Value of the ``"version"`` field in :meth:`TileSpec.to_json_dict`."""

Band = tuple[int, np.ndarray]
"""A finished output band: ``(y0, rows)`` with ``rows`` of shape ``(n, out_width, C)``."""


class PadMode(enum.StrEnum):
    """How the image is extended past its bottom/right border.

    ``REPLICATE`` repeats the edge pixel (``abc|ccc``). ``REFLECT`` mirrors *including*
    the edge pixel and repeats with period ``2n`` (``abc|cbaabc...``), i.e. padded index
    ``i`` reads ``j = i mod 2n`` if ``j < n`` else ``2n - 1 - j``; this works for any
    ``n >= 1``, even when the padding is longer than the image.
    """

    REPLICATE = "replicate"
    REFLECT = "reflect"


_NUMPY_PAD_MODE = {PadMode.REPLICATE: "edge", PadMode.REFLECT: "symmetric"}

_SPEC_KEYS = ("version", "tile", "overlap", "scale", "pad_mode")


def default_overlap(tile: int) -> int:
    """The overlap a ``tile``-px LR tile is shipped with: a quarter of the tile (32 for 128)."""
    return tile // 4


class TiledModelConfig(Protocol):
    """What :meth:`TileSpec.for_model` reads from a model config (``toolchain.model.config.ModelConfig``)."""

    @property
    def lr_tile(self) -> int: ...

    @property
    def scale(self) -> int: ...


@dataclass(frozen=True)
class TileSpec:
    """How to tile: LR tile side, LR overlap between neighbours, model scale, padding.

    ``2 * overlap <= tile`` is required on top of ``0 <= overlap < tile``: otherwise a
    tile's left and right blending ramps would overlap each other (and three tiles would
    share pixels), and the windows would no longer sum to one. The defaults equal
    :meth:`for_model` of the shipped presets (``lr_tile`` 128, x4); build a model's spec with it.
    """

    tile: int = 128
    overlap: int = 32
    scale: int = 4
    pad_mode: PadMode = PadMode.REPLICATE

    def __post_init__(self) -> None:
        problem = spec_problem(self.tile, self.overlap, self.scale, self.pad_mode)
        if problem is not None:
            what, fix = problem
            raise ToolchainError(f"tile spec: {what}; {fix}")

    @classmethod
    def for_model(cls, config: TiledModelConfig) -> TileSpec:
        """The spec a model is run and shipped with: its graph tile ``lr_tile``, a quarter of it as overlap.

        Upscale, eval, validation during training, the export bundle and the AI Hub comparison all
        take their tiling from here, so a torch run tiles exactly like the exported graph.
        """
        return cls(tile=config.lr_tile, overlap=default_overlap(config.lr_tile), scale=config.scale)

    @property
    def stride(self) -> int:
        """LR distance between the top-left corners of neighbouring tiles."""
        return self.tile - self.overlap

    def to_json_dict(self) -> dict[str, Any]:
        """All fields plus ``"version"``; :meth:`from_json_dict` inverts it exactly."""
        return {
            "version": SPEC_VERSION,
            "tile": self.tile,
            "overlap": self.overlap,
            "scale": self.scale,
            "pad_mode": self.pad_mode.value,
        }

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> TileSpec:
        """Parse :meth:`to_json_dict` output; every key is required, no others allowed."""
        if not isinstance(d, dict):
            raise ToolchainError(f"tile spec: expected a JSON object, got {type(d).__name__}")
        for key in d:
            if key not in _SPEC_KEYS:
                raise ToolchainError(f"tile spec: unknown key {key!r} (allowed: {', '.join(_SPEC_KEYS)})")
        for key in _SPEC_KEYS:
            if key not in d:
                raise ToolchainError(f"tile spec: missing key {key!r}")
        if d["version"] != SPEC_VERSION:
            raise ToolchainError(f"tile spec: unsupported version {d['version']!r} (expected {SPEC_VERSION})")
        try:
            pad_mode = PadMode(d["pad_mode"])
        except ValueError:
            allowed = ", ".join(m.value for m in PadMode)
            raise ToolchainError(
                f"tile spec: unknown pad_mode {d['pad_mode']!r} (allowed: {allowed})"
            ) from None
        problem = spec_problem(d["tile"], d["overlap"], d["scale"], pad_mode)
        if problem is not None:  # what failed only: the manifest reader adds its fix (re-export), as Kotlin
            raise ToolchainError(f"tile spec: {problem[0]}")
        return cls(tile=d["tile"], overlap=d["overlap"], scale=d["scale"], pad_mode=pad_mode)


def spec_problem(tile: object, overlap: object, scale: object, pad_mode: object) -> tuple[str, str] | None:
    """What is wrong with these tile spec values, and what to do about it; None if they are valid.

    The first part is the reason the Kotlin core gives word for word (``Tiling.kt``); the fix speaks
    to whoever chose the values (``toolchain upscale --tile/--overlap``, a preset's ``lr_tile``).
    """
    for name, value in (("tile", tile), ("overlap", overlap), ("scale", scale)):
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} must be an integer, got {value!r}", f"give {name} as a whole number of pixels"
    if tile < 1:
        return f"tile must be >= 1, got {tile}", "use --tile 1 or more"
    if not 0 <= overlap < tile:
        return (
            f"overlap must be in [0, tile={tile}), got {overlap}",
            f"use --overlap from 0 to {tile // 2}",
        )
    if 2 * overlap > tile:
        return (
            f"overlap must be <= tile/2 = {tile / 2:g}, got {overlap}",
            f"use --overlap {tile // 2} or less, or --tile {2 * overlap} or more",
        )
    if scale < 1:
        return f"scale must be >= 1, got {scale}", "use a model whose scale is 1 or more"
    if not isinstance(pad_mode, PadMode):
        allowed = ", ".join(m.value for m in PadMode)
        return f"pad_mode must be a PadMode, got {pad_mode!r}", f"use one of {allowed}"
    return None


def tile_count(length: int, spec: TileSpec) -> int:
    """Tiles along an axis of ``length`` LR px: 1 if it fits, else ``ceil((n - overlap) / stride)``.

    This is the smallest count whose tiles, starting at ``i * stride``, reach the end.
    """
    if length <= spec.tile:
        return 1
    return math.ceil((length - spec.overlap) / spec.stride)


@dataclass(frozen=True)
class Tile:
    """One grid cell: its row/column index and the LR top-left corner in the padded image."""

    row: int
    col: int
    y: int
    x: int


@dataclass(frozen=True)
class TilePlan:
    """The tiling of one ``height x width`` LR image; build it with :func:`plan_tiles`."""

    spec: TileSpec
    height: int
    width: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ToolchainError(f"tile plan: image size must be >= 1x1, got {self.height}x{self.width}")
        expected = (
            tile_count(self.height, self.spec),
            tile_count(self.width, self.spec),
        )
        if (self.rows, self.cols) != expected:
            raise ToolchainError(
                f"tile plan: rows x cols {self.rows}x{self.cols} do not match "
                f"{self.height}x{self.width} (expected {expected[0]}x{expected[1]})"
            )

    @property
    def padded_height(self) -> int:
        """LR height after bottom padding: ``(rows - 1) * stride + tile``."""
        return (self.rows - 1) * self.spec.stride + self.spec.tile

    @property
    def padded_width(self) -> int:
        """LR width after right padding: ``(cols - 1) * stride + tile``."""
        return (self.cols - 1) * self.spec.stride + self.spec.tile

    @property
    def out_height(self) -> int:
        """Height of the final (cropped) output."""
        return self.height * self.spec.scale

    @property
    def out_width(self) -> int:
        """Width of the final (cropped) output."""
        return self.width * self.spec.scale

    @property
    def tiles(self) -> list[Tile]:
        """All tiles in row-major order (the order :class:`TileAssembler` expects)."""
        stride = self.spec.stride
        return [
            Tile(row=r, col=c, y=r * stride, x=c * stride) for r in range(self.rows) for c in range(self.cols)
        ]

    @property
    def num_tiles(self) -> int:
        """``rows * cols``."""
        return self.rows * self.cols

    def to_json_dict(self) -> dict[str, Any]:
        """Spec, sizes, grid shape and the row-major ``[y, x]`` corners, for replaying."""
        return {
            "spec": self.spec.to_json_dict(),
            "height": self.height,
            "width": self.width,
            "padded_height": self.padded_height,
            "padded_width": self.padded_width,
            "out_height": self.out_height,
            "out_width": self.out_width,
            "rows": self.rows,
            "cols": self.cols,
            "tiles": [[t.y, t.x] for t in self.tiles],
        }


def plan_tiles(height: int, width: int, spec: TileSpec) -> TilePlan:
    """Lay the regular tile grid over a ``height x width`` LR image."""
    if height < 1 or width < 1:
        raise ToolchainError(f"tile plan: image size must be >= 1x1, got {height}x{width}")
    return TilePlan(
        spec=spec,
        height=height,
        width=width,
        rows=tile_count(height, spec),
        cols=tile_count(width, spec),
    )


def ramp(length: int) -> np.ndarray:
    """Rising blend weights over an overlap of ``length`` output px (float32).

    ``w[i] = smoothstep((i + 0.5) / length)`` with ``smoothstep(x) = 3x^2 - 2x^3``.
    Since ``smoothstep(1 - x) = 1 - smoothstep(x)``, ``ramp(L) + ramp(L)[::-1] == 1``:
    the rising edge of one tile and the falling edge of its neighbour sum to one.
    """
    x = (np.arange(length, dtype=np.float64) + 0.5) / length
    return (3.0 * x**2 - 2.0 * x**3).astype(np.float32)


def _axis_window(index: int, count: int, spec: TileSpec) -> np.ndarray:
    """1D window of one tile along one axis: ramps only towards existing neighbours."""
    size = spec.tile * spec.scale
    length = spec.overlap * spec.scale
    window = np.ones(size, dtype=np.float32)
    if length == 0:
        return window
    if index > 0:
        window[:length] *= ramp(length)
    if index < count - 1:
        window[size - length :] *= ramp(length)[::-1]
    return window


def blend_window(plan: TilePlan, tile: Tile) -> np.ndarray:
    """Blend weights for ``tile``'s output, shape ``(tile*scale, tile*scale)`` float32.

    The outer product of a vertical and a horizontal window; each side facing a
    neighbour tile ramps up from 0-ish over the ``overlap*scale`` output px at that
    edge (see :func:`ramp`), a side on the image border stays flat 1. Over the whole
    (padded) output the windows of all tiles sum to one.
    """
    wy = _axis_window(tile.row, plan.rows, plan.spec)
    wx = _axis_window(tile.col, plan.cols, plan.spec)
    return wy[:, None] * wx[None, :]


def _check_hwc(image: np.ndarray, what: str) -> None:
    if image.ndim != 3:
        raise ToolchainError(f"{what}: expected an HxWxC array, got shape {image.shape}")


def pad_image(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Pad an HxWxC LR image on the bottom/right to ``padded_height x padded_width``."""
    _check_hwc(image, "pad_image")
    if image.shape[:2] != (plan.height, plan.width):
        raise ToolchainError(
            f"pad_image: image is {image.shape[0]}x{image.shape[1]}, plan is for {plan.height}x{plan.width}"
        )
    pad = (
        (0, plan.padded_height - plan.height),
        (0, plan.padded_width - plan.width),
        (0, 0),
    )
    return np.pad(image, pad, mode=_NUMPY_PAD_MODE[plan.spec.pad_mode])


def extract_tile(padded: np.ndarray, plan: TilePlan, tile: Tile) -> np.ndarray:
    """The ``tile x tile x C`` LR input of ``tile`` (a view into the padded image)."""
    _check_hwc(padded, "extract_tile")
    if padded.shape[:2] != (plan.padded_height, plan.padded_width):
        raise ToolchainError(
            f"extract_tile: padded image is {padded.shape[0]}x{padded.shape[1]}, "
            f"expected {plan.padded_height}x{plan.padded_width} (use pad_image)"
        )
    size = plan.spec.tile
    return padded[tile.y : tile.y + size, tile.x : tile.x + size]


class TileAssembler:
    """Blend tile outputs, fed in row-major order, into finished output row bands.

    Tile row ``r`` covers output rows ``[r*S, r*S + T)`` with ``T = tile*scale`` and
    ``S = stride*scale``. The accumulator holds exactly those ``T`` rows (full
    ``out_width``, float32) plus a matching weight accumulator. When tile row ``r``
    is complete, rows ``[r*S, (r+1)*S)`` can no longer be touched by any later tile:
    they are normalised by the weight sum and returned, and the remaining
    ``T - S = overlap*scale`` rows shift to the top of the accumulator. The last tile
    row is flushed by :meth:`finish`. Columns and rows past the image (padding) are
    cropped away and never reach the output.

    Memory is therefore ``O(tile*scale * out_width * C)`` regardless of image height,
    and callers can convert each band as it arrives, e.g. to stream into uint8::

        for y0, rows in assembler.add(tile, out):
            dst[y0 : y0 + len(rows)] = np.clip(rows * 255 + 0.5, 0, 255).astype(np.uint8)
    """

    def __init__(self, plan: TilePlan, channels: int) -> None:
        if channels < 1:
            raise ToolchainError(f"tile assembler: channels must be >= 1, got {channels}")
        self._plan = plan
        self._tiles = plan.tiles
        self._next = 0
        size = plan.spec.tile * plan.spec.scale
        self._acc = np.zeros((size, plan.out_width, channels), dtype=np.float32)
        self._weight = np.zeros((size, plan.out_width), dtype=np.float32)

    @property
    def accumulator_rows(self) -> int:
        """Output rows held in memory: always ``tile * scale``."""
        return self._acc.shape[0]

    def add(self, tile: Tile, output: np.ndarray) -> list[Band]:
        """Blend one tile's ``(tile*scale, tile*scale, C)`` output; return finished bands."""
        plan = self._plan
        if self._next >= len(self._tiles):
            raise ToolchainError(f"tile assembler: all {len(self._tiles)} tiles already added")
        expected = self._tiles[self._next]
        if tile != expected:
            raise ToolchainError(
                f"tile assembler: got tile (row {tile.row}, col {tile.col}), expected "
                f"(row {expected.row}, col {expected.col}); add tiles in row-major order"
            )
        size = plan.spec.tile * plan.spec.scale
        shape = (size, size, self._acc.shape[2])
        if output.shape != shape:
            raise ToolchainError(f"tile assembler: tile output has shape {output.shape}, expected {shape}")
        self._next += 1
        x0 = tile.x * plan.spec.scale
        width = min(size, plan.out_width - x0)
        window = blend_window(plan, tile)[:, :width]
        self._acc[:, x0 : x0 + width] += output[:, :width].astype(np.float32) * window[..., None]
        self._weight[:, x0 : x0 + width] += window
        if tile.col < plan.cols - 1 or tile.row == plan.rows - 1:
            return []
        step = plan.spec.stride * plan.spec.scale
        band = self._normalised(step)
        keep = size - step
        self._acc[:keep] = self._acc[step:]
        self._acc[keep:] = 0.0
        self._weight[:keep] = self._weight[step:]
        self._weight[keep:] = 0.0
        return [(tile.row * step, band)]

    def finish(self) -> list[Band]:
        """Return the last tile row's band (cropped to ``out_height``) once all tiles are in."""
        plan = self._plan
        if self._next != len(self._tiles):
            raise ToolchainError(f"tile assembler: finish() after {self._next} of {len(self._tiles)} tiles")
        y0 = (plan.rows - 1) * plan.spec.stride * plan.spec.scale
        rows = min(self.accumulator_rows, plan.out_height - y0)
        return [(y0, self._normalised(rows))]

    def _normalised(self, rows: int) -> np.ndarray:
        return self._acc[:rows] / self._weight[:rows, :, None]


def upscale_tiled(
    image: np.ndarray,
    spec: TileSpec,
    upscale_batch: Callable[[np.ndarray, list[Tile]], np.ndarray],
    batch_size: int = 4,
    progress: Callable[[int], None] | None = None,
    out_dtype: type[np.floating] | type[np.uint8] = np.float32,
) -> np.ndarray:
    """Upscale an HxWxC float32 image tile by tile; returns ``(H*scale, W*scale, C)``.

    ``upscale_batch(tiles_nhwc, tiles)`` maps an ``N x tile x tile x C`` batch of LR tiles
    (and their plan entries, e.g. to crop a per-image noise field) to
    ``N x tile*scale x tile*scale x C``. At most ``batch_size`` tiles are in flight at a
    time; ``progress(done_tiles)`` is called after each batch. With ``out_dtype=np.uint8``
    each finished band is rounded to 8 bits as it arrives (values in [0, 1]), so the full
    float32 output never exists.
    """
    _check_hwc(image, "upscale_tiled")
    if batch_size < 1:
        raise ToolchainError(f"upscale_tiled: batch_size must be >= 1, got {batch_size}")
    image = np.asarray(image, dtype=np.float32)
    plan = plan_tiles(image.shape[0], image.shape[1], spec)
    channels = image.shape[2]
    padded = pad_image(image, plan)
    assembler = TileAssembler(plan, channels)
    result = np.empty((plan.out_height, plan.out_width, channels), dtype=out_dtype)

    def store(bands: list[Band]) -> None:
        for y0, rows in bands:
            if out_dtype is np.uint8:
                rows = np.clip(rows * 255.0 + 0.5, 0, 255).astype(np.uint8)
            result[y0 : y0 + rows.shape[0]] = rows

    tiles = plan.tiles
    size = spec.tile * spec.scale
    for start in range(0, len(tiles), batch_size):
        batch = tiles[start : start + batch_size]
        inputs = np.stack([extract_tile(padded, plan, t) for t in batch])
        outputs = np.asarray(upscale_batch(inputs, batch))
        expected = (len(batch), size, size, channels)
        if outputs.shape != expected:
            raise ToolchainError(
                f"upscale_tiled: upscale_batch returned shape {outputs.shape}, expected {expected}"
            )
        for t, out in zip(batch, outputs, strict=True):
            store(assembler.add(t, out))
        if progress is not None:
            progress(start + len(batch))
    store(assembler.finish())
    return result
