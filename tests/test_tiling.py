"""Tests for toolchain.tiling: grid, padding, blending, streaming assembly."""

import json

import numpy as np
import pytest

from toolchain.errors import ToolchainError
from toolchain.tiling import (
    PadMode,
    Tile,
    TileAssembler,
    TilePlan,
    TileSpec,
    blend_window,
    extract_tile,
    pad_image,
    plan_tiles,
    ramp,
    tile_count,
    upscale_tiled,
)

SMALL = TileSpec(tile=16, overlap=4)


def nearest_batch(scale: int):
    def upscale(batch: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        assert len(tiles) == len(batch)
        return np.repeat(np.repeat(batch, scale, axis=1), scale, axis=2)

    return upscale


def nearest(image: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


# --- spec ---------------------------------------------------------------------------


def test_default_spec() -> None:
    spec = TileSpec()
    assert (spec.tile, spec.overlap, spec.scale, spec.pad_mode) == (
        128,
        32,
        4,
        PadMode.REPLICATE,
    )
    assert spec.stride == 96


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("nano", TileSpec()), ("tiny", TileSpec(32, 8, 4)), ("tiny-x2", TileSpec(64, 16, 2))],
)
def test_spec_for_model_is_the_graph_tile_with_a_quarter_overlap(preset: str, expected: TileSpec) -> None:
    from toolchain.model.config import load_preset

    assert TileSpec.for_model(load_preset(preset)) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile": 0, "overlap": 0}, "tile must be >= 1"),
        ({"overlap": -1}, "overlap must be in"),
        ({"tile": 16, "overlap": 16}, "overlap must be in"),
        ({"tile": 16, "overlap": 9}, "overlap must be <= tile/2"),
        ({"scale": 0}, "scale must be >= 1"),
        ({"tile": 16.0}, "tile must be an integer"),
        ({"pad_mode": "reflect"}, "pad_mode must be a PadMode"),
    ],
)
def test_spec_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ToolchainError, match=match):
        TileSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"tile": 0, "overlap": 0}, "; use --tile 1 or more"),
        ({"tile": 16, "overlap": 16}, "; use --overlap from 0 to 8"),
        ({"tile": 100, "overlap": 60}, "; use --overlap 50 or less, or --tile 120 or more"),
        ({"scale": 0}, "; use a model whose scale is 1 or more"),
    ],
)
def test_spec_errors_say_what_to_do(kwargs: dict, fix: str) -> None:
    """Issue 26 item 11: `upscale --tile 100 --overlap 60` said what failed but not what to do."""
    with pytest.raises(ToolchainError) as excinfo:
        TileSpec(**kwargs)
    assert str(excinfo.value).endswith(fix)


def test_a_manifest_spec_error_names_only_what_failed() -> None:
    """Read from a manifest, the fix is the reader's (re-export), word for word as the Kotlin core."""
    with pytest.raises(ToolchainError) as excinfo:
        TileSpec.from_json_dict({**TileSpec().to_json_dict(), "overlap": 200})
    assert str(excinfo.value) == "tile spec: overlap must be in [0, tile=128), got 200"


@pytest.mark.parametrize("spec", [TileSpec(), TileSpec(16, 4, 2, PadMode.REFLECT)])
def test_spec_json_round_trip(spec: TileSpec) -> None:
    d = json.loads(json.dumps(spec.to_json_dict()))
    assert d["version"] == 1
    assert TileSpec.from_json_dict(d) == spec


def test_spec_json_exact_form() -> None:
    assert TileSpec(pad_mode=PadMode.REFLECT).to_json_dict() == {
        "version": 1,
        "tile": 128,
        "overlap": 32,
        "scale": 4,
        "pad_mode": "reflect",
    }


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tiles": 3}, "unknown key 'tiles'"),
        ({"version": 2}, "unsupported version 2"),
        ({"pad_mode": "wrap"}, "unknown pad_mode 'wrap'"),
        ({"overlap": 200}, "overlap must be in"),
    ],
)
def test_spec_json_errors(change: dict, match: str) -> None:
    d = {**TileSpec().to_json_dict(), **change}
    with pytest.raises(ToolchainError, match=match):
        TileSpec.from_json_dict(d)


def test_spec_json_missing_key() -> None:
    d = TileSpec().to_json_dict()
    del d["scale"]
    with pytest.raises(ToolchainError, match="missing key 'scale'"):
        TileSpec.from_json_dict(d)


# --- plan ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "count"), [(512, 5), (128, 1), (129, 2), (1, 1), (224, 2), (225, 3)])
def test_tile_count_default(n: int, count: int) -> None:
    assert tile_count(n, TileSpec()) == count


def test_plan_512() -> None:
    plan = plan_tiles(512, 512, TileSpec())
    assert (plan.rows, plan.cols, plan.num_tiles) == (5, 5, 25)
    assert (plan.padded_height, plan.padded_width) == (512, 512)
    assert (plan.out_height, plan.out_width) == (2048, 2048)
    assert [t.x for t in plan.tiles[:5]] == [0, 96, 192, 288, 384]
    assert plan.tiles[5] == Tile(row=1, col=0, y=96, x=0)


def test_plan_1px() -> None:
    plan = plan_tiles(1, 1, TileSpec())
    assert plan.num_tiles == 1
    assert (plan.padded_height, plan.padded_width) == (128, 128)
    assert plan.tiles == [Tile(0, 0, 0, 0)]


@pytest.mark.parametrize("n", list(range(1, 80)))
def test_grid_reaches_end_minimally(n: int) -> None:
    rows = tile_count(n, SMALL)
    padded = (rows - 1) * SMALL.stride + SMALL.tile
    assert padded >= n
    assert (rows - 1) * SMALL.stride < n  # every tile starts inside the image
    if rows > 1:  # one fewer tile would not reach the end
        assert (rows - 2) * SMALL.stride + SMALL.tile < n


def test_plan_validation() -> None:
    with pytest.raises(ToolchainError, match="0x5"):
        plan_tiles(0, 5, SMALL)
    with pytest.raises(ToolchainError, match="do not match"):
        TilePlan(spec=SMALL, height=40, width=40, rows=1, cols=1)


def test_plan_json() -> None:
    plan = plan_tiles(30, 17, SMALL)
    d = json.loads(json.dumps(plan.to_json_dict()))
    assert TileSpec.from_json_dict(d["spec"]) == SMALL
    assert (d["height"], d["width"], d["rows"], d["cols"]) == (30, 17, 3, 2)
    assert (d["padded_height"], d["padded_width"]) == (40, 28)
    assert (d["out_height"], d["out_width"]) == (120, 68)
    assert d["tiles"] == [[0, 0], [0, 12], [12, 0], [12, 12], [24, 0], [24, 12]]


# --- padding / extraction -----------------------------------------------------------


@pytest.mark.parametrize("mode", list(PadMode))
@pytest.mark.parametrize(("h", "w"), [(1, 1), (16, 16), (17, 3), (40, 29)])
def test_pad_shapes(mode: PadMode, h: int, w: int) -> None:
    spec = TileSpec(tile=16, overlap=4, pad_mode=mode)
    plan = plan_tiles(h, w, spec)
    image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    padded = pad_image(image, plan)
    assert padded.shape == (plan.padded_height, plan.padded_width, 3)
    np.testing.assert_array_equal(padded[:h, :w], image)
    for t in plan.tiles:
        assert extract_tile(padded, plan, t).shape == (16, 16, 3)


def test_pad_values() -> None:
    row = np.array([1.0, 2.0, 3.0], dtype=np.float32)[None, :, None]
    rep = pad_image(row, plan_tiles(1, 3, TileSpec(tile=10, overlap=0)))
    np.testing.assert_array_equal(rep[0, :, 0], [1, 2, 3, 3, 3, 3, 3, 3, 3, 3])
    spec = TileSpec(tile=10, overlap=0, pad_mode=PadMode.REFLECT)
    ref = pad_image(row, plan_tiles(1, 3, spec))
    # documented rule: padded index i reads j = i mod 2n, mirrored when j >= n
    expected = [row[0, j if j < 3 else 5 - j, 0] for j in (i % 6 for i in range(10))]
    np.testing.assert_array_equal(ref[0, :, 0], expected)


def test_pad_and_extract_errors() -> None:
    plan = plan_tiles(20, 20, SMALL)
    with pytest.raises(ToolchainError, match="HxWxC"):
        pad_image(np.zeros((20, 20)), plan)
    with pytest.raises(ToolchainError, match="plan is for 20x20"):
        pad_image(np.zeros((20, 21, 1)), plan)
    with pytest.raises(ToolchainError, match="use pad_image"):
        extract_tile(np.zeros((20, 20, 1)), plan, plan.tiles[0])


# --- blending -----------------------------------------------------------------------


def test_ramp_golden() -> None:
    np.testing.assert_allclose(ramp(4), [0.04296875, 0.31640625, 0.68359375, 0.95703125])
    assert ramp(4).dtype == np.float32
    assert ramp(0).shape == (0,)
    r = ramp(128)
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-7)
    assert np.all(np.diff(r) > 0)
    assert r[0] > 0


def test_blend_window_edges() -> None:
    plan = plan_tiles(40, 16, SMALL)  # 3 rows, 1 col
    top, middle, bottom = (blend_window(plan, t) for t in plan.tiles)
    assert top.shape == (64, 64)
    assert top.dtype == np.float32
    np.testing.assert_array_equal(top[:48], 1.0)  # image border and interior flat
    np.testing.assert_allclose(top[48:, 0], ramp(16)[::-1])
    np.testing.assert_allclose(middle[:16, 0], ramp(16))
    np.testing.assert_allclose(middle[48:, 0], ramp(16)[::-1])
    np.testing.assert_array_equal(bottom[16:], 1.0)
    np.testing.assert_array_equal(middle[:, 0], middle[:, 63])  # no column neighbours


@pytest.mark.parametrize(
    ("spec", "h", "w"),
    [
        (SMALL, 1, 1),
        (SMALL, 40, 29),
        (TileSpec(tile=16, overlap=8, scale=2), 50, 33),
        (TileSpec(tile=8, overlap=0, scale=3), 20, 9),
        (TileSpec(), 513, 300),
    ],
)
def test_windows_partition_of_unity(spec: TileSpec, h: int, w: int) -> None:
    plan = plan_tiles(h, w, spec)
    size = spec.tile * spec.scale
    total = np.zeros((plan.padded_height * spec.scale, plan.padded_width * spec.scale))
    for t in plan.tiles:
        y, x = t.y * spec.scale, t.x * spec.scale
        total[y : y + size, x : x + size] += blend_window(plan, t)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


# --- assembly -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(PadMode))
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize(("spec", "h", "w"), [(SMALL, 1, 1), (SMALL, 127, 129), (TileSpec(), 513, 300)])
def test_nearest_equals_whole_image(spec: TileSpec, h: int, w: int, batch_size: int, mode: PadMode) -> None:
    spec = TileSpec(spec.tile, spec.overlap, spec.scale, mode)
    image = np.random.default_rng(h * w).random((h, w, 3), dtype=np.float32)
    done: list[int] = []
    out = upscale_tiled(image, spec, nearest_batch(spec.scale), batch_size, done.append)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, nearest(image, spec.scale), atol=1e-4)
    num_tiles = plan_tiles(h, w, spec).num_tiles
    assert done == [min(i + batch_size, num_tiles) for i in range(0, num_tiles, batch_size)]


def test_batches_never_exceed_batch_size() -> None:
    sizes: list[int] = []

    def upscale(batch: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        sizes.append(len(batch))
        return nearest_batch(4)(batch, tiles)

    upscale_tiled(np.zeros((60, 60, 1), np.float32), SMALL, upscale, batch_size=4)
    assert max(sizes) == 4
    assert sum(sizes) == plan_tiles(60, 60, SMALL).num_tiles


@pytest.mark.parametrize(("spec", "h", "w"), [(SMALL, 1, 1), (SMALL, 75, 30), (TileSpec(), 513, 300)])
def test_assembler_bands_and_memory_bound(spec: TileSpec, h: int, w: int) -> None:
    plan = plan_tiles(h, w, spec)
    image = np.random.default_rng(1).random((h, w, 2), dtype=np.float32)
    padded = pad_image(image, plan)
    assembler = TileAssembler(plan, channels=2)
    assert assembler.accumulator_rows == spec.tile * spec.scale
    upscale = nearest_batch(spec.scale)
    bands = []
    for t in plan.tiles:
        bands += assembler.add(t, upscale(extract_tile(padded, plan, t)[None], [t])[0])
        assert assembler.accumulator_rows == spec.tile * spec.scale
    bands += assembler.finish()
    # bands are contiguous, ordered, cropped to the output, each fits the accumulator
    y = 0
    for y0, rows in bands:
        assert y0 == y
        assert rows.shape[1:] == (plan.out_width, 2)
        assert rows.dtype == np.float32
        assert 0 < rows.shape[0] <= assembler.accumulator_rows
        y += rows.shape[0]
    assert y == plan.out_height
    np.testing.assert_allclose(np.concatenate([r for _, r in bands]), nearest(image, spec.scale), atol=1e-4)


def test_assembler_errors() -> None:
    plan = plan_tiles(20, 20, SMALL)
    tiles = plan.tiles
    assembler = TileAssembler(plan, channels=3)
    good = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(ToolchainError, match="row-major"):
        assembler.add(tiles[1], good)
    with pytest.raises(ToolchainError, match="shape"):
        assembler.add(tiles[0], np.zeros((64, 64, 1), np.float32))
    with pytest.raises(ToolchainError, match="finish"):
        assembler.finish()
    for t in tiles:
        assembler.add(t, good)
    with pytest.raises(ToolchainError, match="already added"):
        assembler.add(tiles[0], good)


def test_upscale_tiled_errors() -> None:
    image = np.zeros((20, 20, 3), np.float32)
    with pytest.raises(ToolchainError, match="batch_size"):
        upscale_tiled(image, SMALL, nearest_batch(4), batch_size=0)
    with pytest.raises(ToolchainError, match="upscale_batch returned shape"):
        upscale_tiled(image, SMALL, nearest_batch(2))
