"""Messages that name the real problem (issue 13, item 6)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from toolchain.errors import ToolchainError
from toolchain.imageio import check_free_space, check_writable_output, load_image


def test_a_png_with_large_metadata_is_not_called_corrupt(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (2 * PngImagePlugin.MAX_TEXT_CHUNK), zip=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "meta.png", pnginfo=info)
    with pytest.raises(ToolchainError, match="text metadata exceeds") as excinfo:
        load_image(tmp_path / "meta.png", 1 << 20)
    assert "corrupt" not in str(excinfo.value) and "without metadata" in str(excinfo.value)


def test_write_errors_name_the_users_path_not_a_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def refuse(dir: Path):  # noqa: A002 - tempfile's own keyword
        raise PermissionError(13, "Permission denied", str(Path(dir) / "tmp3rykp9ko"))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(ToolchainError) as excinfo:
        check_writable_output(tmp_path / "out.png")
    message = str(excinfo.value)
    assert str(tmp_path / "out.png") in message and "Permission denied" in message
    assert "tmp3rykp9ko" not in message


def test_too_little_free_space_is_found_before_the_work(tmp_path: Path, monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(
        ToolchainError, match=r"not enough free space .* needs about 144 MB, .* has 1 MB free"
    ):
        check_free_space(tmp_path / "out.png", 4 * 4000, 4 * 3000, 3)  # a 12 MP photo, x4
    check_free_space(tmp_path / "small.png", 100, 100, 3)  # 7.5 kB fits in 1 MB


def test_upscale_checks_free_space_before_computing(tmp_path: Path, monkeypatch) -> None:
    import shutil

    from test_cli import assert_one_line_error, invoke, photo

    import toolchain.upscaler as upscaler

    def never(*args, **kwargs):
        raise AssertionError("the model ran although the output cannot fit")

    monkeypatch.setattr(upscaler.TorchTileRunner, "__call__", never)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    photo(64, 64).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--engine", "torch")
    assert_one_line_error(result, "not enough free space", "256x256 PNG", "choose another -o")
    assert not (tmp_path / "o.png").exists()


def test_a_terminal_sees_that_torch_is_loading_and_the_line_is_erased() -> None:
    """The console script shows a status line while the CLI (torch) imports, then clears it."""
    import os
    import pty
    import subprocess
    import sys

    from toolchain.cli.launch import ERASE_LINE, LOADING

    script = "import sys; sys.argv = ['toolchain', 'targets']; from toolchain.cli.launch import run; run()"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out, _ = proc.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0 and b"s24-dsp" in out
    assert seen.decode() == LOADING + ERASE_LINE


@pytest.mark.parametrize("name", ["[/b].png", "scan [final].png", "[bold]x.png"])
def test_user_strings_print_literally_not_as_rich_markup(tmp_path: Path, name: str) -> None:
    """Issue 26, item 1: a path with brackets is neither styled, swallowed nor a MarkupError."""
    from test_cli import assert_one_line_error, invoke, photo

    from toolchain.model.config import load_preset
    from toolchain.model.edge_sdsr import EdgeSDSR

    ckpt = tmp_path / "ckpt"
    EdgeSDSR(load_preset("tiny")).save_pretrained(ckpt)
    folder = tmp_path / "[x]"
    out = folder / f"out {name}"
    for path in (folder / name, out):
        path.parent.mkdir(parents=True, exist_ok=True)  # "[/b].png" is the file "b].png" in "["
    photo(40, 30).save(folder / name)
    result = invoke("upscale", folder / name, "-o", out, "-c", ckpt)
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.output
    missing = invoke("upscale", folder / f"missing {name}", "-o", tmp_path / "o.png", "-c", ckpt)
    assert_one_line_error(missing, f"missing {name}")


def test_hints_keep_their_brackets() -> None:
    from rich.console import Console

    from toolchain.cli import common

    console = Console(file=None, record=True, markup=False, highlight=False, width=200)
    console.print(common.labelled("error:", "bold red", "install `.[bench]` or [bold]this[/]"))
    assert console.export_text().strip() == "error: install `.[bench]` or [bold]this[/]"


def test_corrupt_training_images_are_called_unreadable_not_too_few(tmp_path: Path) -> None:
    """Issue 26 item 11: three corrupt photos were reported as 'too few of the 3 training images'."""
    from toolchain.data.datasets import holdout_paths

    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ToolchainError) as excinfo:
        holdout_paths([tmp_path], 2)
    assert str(excinfo.value) == (
        f"3 of the 3 training images are unreadable (corrupt or not images, e.g. {tmp_path / '0.png'}); "
        "replace or remove them (holdout 2 needs 4 readable ones)"
    )
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(ToolchainError, match="too few of the 3 training images; lower holdout to 1 or add"):
        holdout_paths([tmp_path], 2)


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        (
            "quality.py",
            ["--niqe-params", "missing.npz", "--out", "out"],
            "NIQE params file missing.npz not found",
        ),
        ("blend_sweep.py", ["--val", "missing", "--start", "a", "--tuned", "b"], "missing/HR does not exist"),
    ],
)
def test_benchmark_scripts_end_bad_input_with_one_error_line(
    tmp_path: Path, script: str, args: list[str], message: str
) -> None:
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / script
    proc = subprocess.run(
        [sys.executable, str(bench), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
