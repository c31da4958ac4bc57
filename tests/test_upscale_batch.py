"""`batch.upscale_batch`: the batch loop, the output-collision check and the failure policy that
`toolchain upscale` prints (issue 27 item 5), and huge inputs refused from their header before any
model loads (issue 26 item 12)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import assert_one_line_error, invoke, photo

from toolchain.batch import BatchListener, RunnerSource, upscale_batch
from toolchain.errors import ToolchainError
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.tiling import Tile, TilePlan, TileSpec

SPEC = TileSpec(tile=16, overlap=4)


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR declares ``width`` x ``height`` (8-bit RGB) but holds one row of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" + b"\0" * 3 * 8)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


class NearestRunner:
    """A tile runner without a model: nearest-neighbour x4."""

    def start_image(self, plan: TilePlan) -> None:
        pass

    def __call__(self, tiles_nhwc: np.ndarray, tiles: list[Tile]) -> np.ndarray:
        return np.repeat(np.repeat(tiles_nhwc, 4, axis=1), 4, axis=2)


class CountingSource:
    """A :class:`RunnerSource` that counts how often it was opened."""

    def __init__(self) -> None:
        self.opened = 0

    def source(self) -> RunnerSource:
        def open_runner() -> tuple[NearestRunner, TileSpec]:
            self.opened += 1
            return NearestRunner(), SPEC

        return RunnerSource("nearest", open_runner)


@pytest.mark.parametrize(("width", "height"), [(5000, 5000), (30000, 30000)])
def test_a_huge_input_is_refused_from_its_header_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    """25 MP and 900 MP inputs used to be refused only after ~10 s of model loading."""
    loads: list[Path] = []

    def no_model(checkpoint: Path, *args, **kwargs) -> EdgeSDSR:
        loads.append(checkpoint)
        raise AssertionError("the model was loaded for an input that its header already refuses")

    monkeypatch.setattr(EdgeSDSR, "from_pretrained", no_model)
    huge = png_header(tmp_path / "huge.png", width, height)
    result = invoke("upscale", huge, "-o", tmp_path / "out.png", "-c", tmp_path / "ckpt")
    assert_one_line_error(result, f"huge.png is {width}x{height}", "over the 16.8 MP limit")
    assert loads == [] and not (tmp_path / "out.png").exists()


def test_a_batch_opens_its_runner_once_and_only_for_an_input_that_fits(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    png_header(folder / "a_huge.png", 30000, 30000)
    photo(20, 12).save(folder / "b.png")
    photo(12, 20).save(folder / "c.png")
    counting = CountingSource()
    written: list[dict[str, object]] = []
    failed: list[str] = []
    report = upscale_batch(
        [folder],
        tmp_path / "out",
        counting.source(),
        listener=BatchListener(written=written.append, failed=failed.append),
    )
    assert counting.opened == 1
    assert [(r["input"], r["width"], r["height"]) for r in report.written] == [
        (str(folder / "b.png"), 80, 48),
        (str(folder / "c.png"), 48, 80),
    ]
    assert written == report.written
    assert len(failed) == 1 and "a_huge.png is 30000x30000" in failed[0]
    assert report.failed == [{"input": str(folder / "a_huge.png"), "error": failed[0]}]
    assert report.summary() == "2 written, 1 failed, 0 skipped (not images)"
    assert Image.open(tmp_path / "out" / "b.png").size == (80, 48)


def test_a_single_input_raises_and_a_batch_of_refused_inputs_never_opens_the_runner(tmp_path: Path) -> None:
    huge = png_header(tmp_path / "huge.png", 30000, 30000)
    counting = CountingSource()
    with pytest.raises(ToolchainError, match="huge.png is 30000x30000"):
        upscale_batch([huge], tmp_path / "x.png", counting.source())
    other = png_header(tmp_path / "other.png", 5000, 5000)
    report = upscale_batch([huge, other], tmp_path / "out", counting.source())
    assert counting.opened == 0 and len(report.failed) == 2 and report.written == []


def test_fail_fast_raises_at_the_first_failure(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    photo(20, 12).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    photo(12, 20).save(folder / "c.png")
    with pytest.raises(ToolchainError, match="b.png"):
        upscale_batch([folder], tmp_path / "out", CountingSource().source(), fail_fast=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_two_inputs_for_one_output_are_refused_before_any_work(tmp_path: Path) -> None:
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        photo(8, 8).save(tmp_path / name / "same.png")
    counting = CountingSource()
    with pytest.raises(ToolchainError, match="would both be written to .*same.png; rename one"):
        upscale_batch([tmp_path / "x", tmp_path / "y"], tmp_path / "out", counting.source())
    assert counting.opened == 0 and not (tmp_path / "out").exists()


def test_a_runner_that_cannot_open_stops_the_batch(tmp_path: Path) -> None:
    """A bad checkpoint or bundle is not one image's failure: the whole batch stops on it."""
    folder = tmp_path / "in"
    folder.mkdir()
    photo(8, 8).save(folder / "a.png")
    photo(8, 8).save(folder / "b.png")

    def broken() -> tuple[NearestRunner, TileSpec]:
        raise ToolchainError("checkpoint ckpt has no config.json; pass --checkpoint")

    with pytest.raises(ToolchainError, match="no config.json"):
        upscale_batch([folder], tmp_path / "out", RunnerSource("broken", broken))
