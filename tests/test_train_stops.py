"""Stopping a training run (issue 26, items 2-4): a stop request survives stage boundaries, and
every number and folder is checked before anything is written."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from rich.console import Console
from test_cli import assert_one_line_error, invoke
from test_train import stage, write_recipe

from toolchain import atomic
from toolchain.train import stages
from toolchain.train.recipe import load_recipe
from toolchain.train.stages import TrainingInterrupted, run_recipe


def _signal_during_last_save(monkeypatch: pytest.MonkeyPatch, signum: int, at_stage: str) -> None:
    """Send ``signum`` to this process while ``at_stage`` writes its final checkpoint."""
    checkpoint = stages._checkpoint

    def checkpoint_then_signal(run, *args):
        checkpoint(run, *args)
        step = args[-1]  # _checkpoint(run, ..., step)
        if run.stage.stage.value == at_stage and step == run.stage.steps:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(stages, "_checkpoint", checkpoint_then_signal)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_stages_last_save_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """Before: the request was dropped with the stage's handlers and the next stage ran."""
    recipe = write_recipe(tmp_path, [stage("joint", 2), stage("decoder", 2)])
    _signal_during_last_save(monkeypatch, signum, "joint")
    config, folders = load_recipe(recipe)
    with pytest.raises(TrainingInterrupted) as stopped:
        run_recipe(config, folders, tmp_path / "run", False, None, Console(quiet=True))
    assert stopped.value.exit_code == 128 + signum
    state = torch.load(tmp_path / "run" / "joint" / "train_state.pt", weights_only=True)
    assert state["step"] == 2
    assert not (tmp_path / "run" / "decoder").exists()


def test_a_signal_during_the_last_stage_still_ends_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = write_recipe(tmp_path, [stage("joint", 2)])
    _signal_during_last_save(monkeypatch, signal.SIGTERM, "joint")
    config, folders = load_recipe(recipe)
    with pytest.raises(TrainingInterrupted, match="SIGTERM"):
        run_recipe(config, folders, tmp_path / "run", False, None, Console(quiet=True))
    assert (tmp_path / "run" / "joint" / "model.safetensors").is_file()


def test_the_cli_exits_143_after_saving_and_names_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = write_recipe(tmp_path, [stage("joint", 2), stage("decoder", 2)])
    _signal_during_last_save(monkeypatch, signal.SIGTERM, "joint")
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run")
    assert result.exit_code == 143, result.output
    assert "--resume" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_max_minutes_must_be_finite_and_positive(tmp_path: Path, value: str) -> None:
    """Before: -1 stopped at once with exit 0, and nan was ignored."""
    recipe = write_recipe(tmp_path, [stage("joint", 1)])
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run", "--max-minutes", value)
    assert_one_line_error(result, "--max-minutes", "finite number")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_recipe_number_is_one_line_before_any_folder(tmp_path: Path, value: float) -> None:
    """Before: a NaN learning rate gave a traceback once training started."""
    recipe = write_recipe(tmp_path, [stage("joint", 1, learning_rate=value)])
    assert "NaN" in recipe.read_text() or "Infinity" in recipe.read_text()  # what Python's json writes
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run")
    assert_one_line_error(result, "learning_rate", "finite number")
    assert not (tmp_path / "run").exists()


def test_an_unknown_preset_fails_before_the_run_folder_is_written(tmp_path: Path) -> None:
    """Before: the preset was read by the first stage, after <out>/val had been written."""
    recipe = write_recipe(tmp_path, [stage("joint", 1)])
    data = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**data, "preset": "no-such-preset", "holdout": 1}))
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run")
    assert_one_line_error(result, "unknown preset 'no-such-preset'")
    assert not (tmp_path / "run").exists()


def test_a_read_only_run_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated (tests may run as root, where chmod does not bite): the probe write fails with EROFS."""
    recipe = write_recipe(tmp_path, [stage("joint", 1)])

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", read_only)
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run")
    assert_one_line_error(
        result, f"cannot write {tmp_path / 'run'}", "Read-only file system", "writable --out"
    )
    assert not (tmp_path / "run").exists()
