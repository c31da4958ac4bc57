"""Signals end the CLI cleanly (issue 13, item 5): real subprocesses get SIGTERM / SIGINT while
saving and during start-up; each run must end with one stderr line, exit 128 + signal and no
leftover (temporary or partial) files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import photo

from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR

# Runs the real console-script entry point, with PIL's save replaced by one that writes part of the
# file, touches a marker and waits: the signal then arrives in the middle of writing the output.
SLOW_SAVE = """
import pathlib, sys, time
from PIL import Image

marker = pathlib.Path(sys.argv[1])

def stalled_save(self, fp, *args, **kwargs):
    fp.write(b"half an image")
    fp.flush()
    marker.touch()
    time.sleep(120)

Image.Image.save = stalled_save
sys.argv = ["toolchain", *sys.argv[2:]]
from toolchain.cli.launch import run
run()
"""


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


def _finish(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    _, err = proc.communicate(timeout=60)
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_while_saving_leaves_no_file(tmp_path: Path, tiny_ckpt: Path, signum, code, word) -> None:
    photo(20, 20).save(tmp_path / "in.png")
    out, marker = tmp_path / "out", tmp_path / "saving"
    args = [str(marker), "upscale", str(tmp_path / "in.png"), "-o", str(out / "x.png"), "-c", str(tiny_ckpt)]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the upscale never reached the save: {proc.communicate()}")
        time.sleep(0.05)
    assert [p.name for p in out.iterdir()] != [], "the temporary file should exist while saving"
    proc.send_signal(signum)
    rc, err = _finish(proc)
    assert rc == code and len(err) == 1 and err[0].startswith(f"error: {word}"), (rc, err)
    assert list(out.iterdir()) == []


def test_ctrl_c_during_start_up_is_one_line(tmp_path: Path) -> None:
    """A command that runs a model imports torch for seconds (`info` of the default checkpoint; the CLI
    itself starts without it); Ctrl-C then must not print a traceback."""
    script = Path(sys.executable).with_name("toolchain")
    if not script.is_file():
        pytest.skip(f"console script {script} is not installed")
    proc = subprocess.Popen(
        [str(script), "info"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(0.5)  # the interpreter is up, torch is still loading (it takes seconds)
    os.kill(proc.pid, signal.SIGINT)
    rc, err = _finish(proc)
    assert rc == 130 and err == ["error: interrupted (Ctrl-C); unfinished outputs were not written"], (
        rc,
        err,
    )
    assert list(tmp_path.iterdir()) == []


# Ctrl-C lands while torch's C extension imports numpy: torch ignores any exception of that import,
# so without numpy imported first the interrupt was lost (exit 0) or left numpy half-imported.
INTERRUPT_IN_TORCHS_NUMPY_IMPORT = """
import os, signal, sys
from toolchain.cli.signals import install_signal_handlers

class CtrlCOnNumpy:
    def find_spec(self, name, path, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

install_signal_handlers()
sys.meta_path.insert(0, CtrlCOnNumpy())
try:
    import torch
except KeyboardInterrupt:
    print("interrupted")
else:
    print("lost")
"""


def test_ctrl_c_while_torch_imports_numpy_is_not_lost() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPT_IN_TORCHS_NUMPY_IMPORT], capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip() == "interrupted", (proc.stdout, proc.stderr[-2000:])


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_a_library_swallows_still_ends_the_command(monkeypatch, signum, code, word) -> None:
    """A library that catches and drops the signal's exception (an `except BaseException`, a weakref
    callback) does not turn a Ctrl-C or SIGTERM into exit 0: the command ends as interrupted."""
    from test_cli import invoke

    import toolchain.budget
    from toolchain.cli import signals

    measure = toolchain.budget.measure_budget

    def swallowing(config):
        handler = signals._raise_interrupt if signum == signal.SIGINT else signals._raise_terminated
        try:
            handler(signum, None)
        except BaseException:  # what the library does
            pass
        return measure(config)

    monkeypatch.setattr(toolchain.budget, "measure_budget", swallowing)
    result = invoke("info", "--preset", "tiny")
    assert result.exit_code == code, result.output
    assert result.output.splitlines()[-1].startswith(f"error: {word}"), result.output
    monkeypatch.undo()
    assert invoke("info", "--preset", "tiny").exit_code == 0  # the record is cleared once reported


def test_ctrl_c_stops_at_the_next_tile_and_writes_nothing(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch
) -> None:
    """Ctrl-C arriving during tile batch 2 of 9 ends the run there: no further tile, no file."""
    from test_cli import invoke

    import toolchain.upscaler as upscaler

    calls: list[int] = []
    original = upscaler.TorchTileRunner.__call__

    def interrupted_on_second(self, tiles_nhwc, tiles):
        calls.append(len(tiles))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, tiles_nhwc, tiles)

    monkeypatch.setattr(upscaler.TorchTileRunner, "__call__", interrupted_on_second)
    photo(72, 72).save(tmp_path / "in.png")  # 3x3 tiles of the tiny model (32 px, 8 px overlap)
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", tiny_ckpt, "--batch-size", "1")
    result = invoke(*args, "--engine", "torch")
    assert result.exit_code == 130 and calls == [1, 1]
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "error: interrupted (Ctrl-C); unfinished outputs were not written"
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "in.png"]
