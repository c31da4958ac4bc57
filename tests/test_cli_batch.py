"""Batches finish and report (issue 13, items 3, 4 and 6): every readable input is processed, each
failure is one line, a summary counts written / failed / skipped, and stdout stays parseable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, invoke, make_pairs, photo

from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


def mixed_folder(root: Path) -> Path:
    """a.png, c.jpg good; b.png corrupt, d.png truncated; notes.txt and .DS_Store not images."""
    root.mkdir()
    photo(20, 16).save(root / "a.png")
    (root / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    photo(16, 20).save(root / "c.jpg")
    photo(24, 24).save(root / "full.png")
    (root / "d.png").write_bytes((root / "full.png").read_bytes()[:120])
    (root / "full.png").unlink()
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\0")
    return root


def test_a_batch_processes_every_readable_input_and_reports_each_failure(tmp_path: Path, tiny_ckpt: Path):
    src = mixed_folder(tmp_path / "in")
    result = invoke("upscale", src, "-o", tmp_path / "out", "-c", tiny_ckpt)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{src / 'a.png'} -> {tmp_path / 'out' / 'a.png'} (80x64)",
        f"{src / 'c.jpg'} -> {tmp_path / 'out' / 'c.jpg'} (64x80)",
    ]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "b.png" in errors[0] and "d.png" in errors[1], result.stderr
    assert "2 written, 2 failed, 2 skipped (not images)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.jpg"]


def test_fail_fast_stops_at_the_first_failure(tmp_path: Path, tiny_ckpt: Path) -> None:
    src = mixed_folder(tmp_path / "in")
    result = invoke("upscale", src, "-o", tmp_path / "out", "-c", tiny_ckpt, "--fail-fast")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.strip()][-1].startswith("error: ")
    assert "b.png" in result.stderr and "d.png" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_upscale_json_lists_written_failed_and_skipped(tmp_path: Path, tiny_ckpt: Path) -> None:
    src = mixed_folder(tmp_path / "in")
    result = invoke("upscale", src, "-o", tmp_path / "out", "-c", tiny_ckpt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [w["output"] for w in report["written"]] == [str(tmp_path / "out" / n) for n in ("a.png", "c.jpg")]
    assert report["written"][0]["width"] == 80 and report["written"][0]["height"] == 64
    assert [Path(f["input"]).name for f in report["failed"]] == ["b.png", "d.png"]
    assert sorted(Path(p).name for p in report["skipped"]) == [".DS_Store", "notes.txt"]


def test_a_clean_batch_exits_0(tmp_path: Path, tiny_ckpt: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("x.png", "y.png"):
        photo(12, 12).save(src / name)
    result = invoke("upscale", src, "-o", tmp_path / "out", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"2 written, 0 failed, 0 skipped (not images) with {tiny_ckpt} (onnxruntime)"
    ]


def test_piped_stdout_lines_are_never_wrapped(tmp_path: Path, tiny_ckpt: Path) -> None:
    deep = tmp_path / ("a-very-long-folder-name-" * 4) / "and-another-long-one"
    deep.mkdir(parents=True)
    photo(12, 12).save(deep / "in.png")
    result = invoke("upscale", deep / "in.png", "-o", deep / "out.png", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{deep / 'in.png'} -> {deep / 'out.png'} (48x48)\n"


def test_eval_scores_the_other_pairs_and_reports_a_corrupt_one(tmp_path: Path) -> None:
    data = make_pairs(tmp_path / "set", n=3)
    (data / "LR" / "im1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    out = tmp_path / "ev"
    result = invoke("eval", "--data", data, "--baseline", "bicubic", "-o", out, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 2 and list(report["failed"]) == ["im1.png"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "im1.png" in errors[0]
    assert "2 scored, 1 failed" in result.stderr
    rows = (out / "set-bicubic.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["im0.png", "im2.png"]


def test_eval_scores_the_other_pairs_when_an_hr_image_has_no_lr_twin(tmp_path: Path) -> None:
    """Issue 26 item 9: one HR file without its LR twin refused the whole set; the batch rule applies."""
    data = make_pairs(tmp_path / "set", n=3)
    (data / "LR" / "im1.png").unlink()
    out = tmp_path / "ev"
    result = invoke("eval", "--data", data, "--baseline", "bicubic", "-o", out, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 2 and list(report["failed"]) == ["im1.png"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: im1.png: no LR twin ({data / 'LR' / 'im1.png'} is missing); add it, or move the HR "
        "image out of the set"
    ]
    assert "2 scored, 1 failed" in result.stderr
    rows = (out / "set-bicubic.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["im0.png", "im2.png"]


def test_eval_data_errors_name_the_problem(tmp_path: Path, monkeypatch) -> None:
    assert_one_line_error(
        invoke("eval", "--data", tmp_path / "nope", "--baseline", "bicubic"), "nope does not exist", "HR/"
    )
    data = make_pairs(tmp_path / "myset")
    monkeypatch.chdir(data)
    result = invoke("eval", "--data", ".", "--baseline", "bicubic", "-o", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ev" / "myset-bicubic.csv").is_file()
    assert not (tmp_path / "ev" / "-bicubic.csv").exists()
