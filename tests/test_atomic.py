"""toolchain.atomic: the one implementation of atomic file and folder replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolchain import atomic
from toolchain.atomic import atomic_dir, atomic_path, write_text_atomic
from toolchain.errors import ToolchainError


def test_write_text_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_atomic_path_keeps_the_old_file_when_the_body_fails(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(ToolchainError, match=r"cannot write .*a.txt: disk full; free space"):
        with atomic_path(target, "; free space") as tmp:
            tmp.write_text("half")
            raise OSError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_replaces_a_folder_and_removes_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (tmp_path / ".out.old").mkdir()  # stale, from an interrupted swap
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").exists()  # untouched until the body succeeds
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_leaves_the_target_unchanged_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(ToolchainError, match=r"cannot write .*out: no space; the previous one is unchanged"):
        with atomic_dir(target, "; the previous one is unchanged") as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise OSError("no space")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_check_runs_before_the_work_and_again_before_the_swap(tmp_path: Path) -> None:
    target = tmp_path / "out"
    calls: list[bool] = []

    def check(path: Path) -> None:
        calls.append(path.exists())
        if path.exists():
            raise ToolchainError(f"{path} appeared meanwhile")

    with pytest.raises(ToolchainError, match="appeared meanwhile"):
        with atomic_dir(target, check=check):
            target.mkdir()  # another process wins the race
            (target / "theirs.txt").write_text("keep")
    assert calls == [False, True]
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_puts_the_old_folder_back_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = os.rename

    def failing_rename(src: Path, dst: Path) -> None:
        if Path(src).name.startswith(".out.partial-"):
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", failing_rename)
    with pytest.raises(ToolchainError, match="No space left on device"):
        with atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
