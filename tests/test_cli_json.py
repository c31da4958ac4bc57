"""The CLI contract (issue 13, items 4 and 6): --json on every command that prints results, stdout
lines never wrapped, usage errors as one `error:` line with exit 1, refused option combinations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, invoke, photo
from test_manifest import bundle  # noqa: F401 - the fixture: a verified one-graph CPU bundle


def test_targets_json() -> None:
    result = invoke("targets", "--json")
    assert result.exit_code == 0, result.output
    by_name = {t["target"]: t for t in json.loads(result.stdout)}
    assert "SM8650" in by_name["s24-dsp"]["soc"] and "a16w8" in by_name["s24-dsp"]["precisions"]


def test_targets_piped_is_one_line_per_target() -> None:
    """Issue 26 item 10: `toolchain targets | cat` wrapped table cells over five lines."""
    from toolchain.deploy.targets import TARGETS

    result = invoke("targets")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(TARGETS)
    for line, target in zip(lines, TARGETS.values(), strict=True):
        cells = line.split("\t")
        assert cells[1:3] == [target.soc, target.description] and cells[5] == (target.note or "")
        assert cells[4] == ", ".join(p.value for p in target.precisions)


def test_verify_bundle_json_and_unwrapped_text(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    result = invoke("verify-bundle", bundle, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["manifest"]["model_id"] == "edge-sd-sr-test"
    deep = tmp_path / ("long-folder-name-" * 6) / "bundle"
    bundle.rename(deep.parent.mkdir(parents=True) or deep)
    result = invoke("verify-bundle", deep)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(f"{deep}: OK (edge-sd-sr-test, target cpu")
    assert result.stdout.splitlines()[0].endswith(")")


def test_verify_bundle_help_says_what_it_proves() -> None:
    text = " ".join(invoke("verify-bundle", "--help").stdout.split())
    assert "not signed" in text and "recorded accuracy" in text


def test_degrade_json(tmp_path: Path) -> None:
    hr = tmp_path / "hr"
    hr.mkdir()
    for i in range(2):
        photo(64, 64, seed=i).save(hr / f"{i}.png")
    (hr / "bad.png").write_bytes(b"not a png")
    result = invoke("degrade", hr, "-o", tmp_path / "pairs", "--kind", "bicubic", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 2 and len(report["skipped"]) == 1 and "bad.png" in report["skipped"][0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("upscale", "in.png"), "Missing option '--out'"),
        (("upscale", "in.png", "-o", "x.png", "--frobnicate"), "No such option: --frobnicate"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("upscale", "in.png", "-o", "x.png", "--tile", "big"), "Invalid value for '--tile'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_1(args: tuple[str, ...], needle: str) -> None:
    result = invoke(*args)
    assert_one_line_error(result, needle, "--help")


@pytest.mark.parametrize(
    "extra",
    [
        ("--tile", "64"),
        ("--device", "cpu"),
        ("-c", "models/nano"),
        ("--noise-scale", "0.5"),
        ("--engine", "torch"),
    ],
)
def test_bundle_refuses_torch_only_options(tmp_path: Path, bundle: Path, extra: tuple[str, ...]) -> None:  # noqa: F811
    photo(8, 8).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--bundle", bundle, *extra)
    flag = "--checkpoint" if extra[0] == "-c" else extra[0]
    assert_one_line_error(result, f"--bundle runs the bundle's own graph and tile plan, so {flag}")
    assert not (tmp_path / "o.png").exists()
