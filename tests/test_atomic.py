"""toolchain.atomic: the one implementation of atomic file and folder replacement."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from toolchain import atomic
from toolchain.atomic import atomic_dir, atomic_path, check_writable_folder, write_text_atomic
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


def make_read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``folder`` refuses new files: mode 0o555, and where that does not bite (tests run as root)
    every file operation under it fails with EROFS, as on a read-only mount (unlink included)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return
    root = folder.resolve()

    def refusing(real):  # noqa: ANN001, ANN202 - wraps os/io functions of any signature
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            for arg in args[:2]:
                if isinstance(arg, str | Path) and Path(arg).resolve().is_relative_to(root):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(arg))
            return real(*args, **kwargs)

        return call

    for module, name in ((os, "open"), (os, "replace"), (os, "rename"), (os, "unlink"), (io, "open")):
        monkeypatch.setattr(module, name, refusing(getattr(module, name)))


def test_cleanup_never_replaces_the_error_on_a_read_only_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 item 2: on EROFS even the temporary file's unlink fails; the user sees one line."""

    def erofs(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.os, "replace", erofs)
    monkeypatch.setattr(Path, "unlink", erofs)
    with pytest.raises(ToolchainError, match=r"cannot write .*r.json: Read-only file system; choose"):
        write_text_atomic(tmp_path / "r.json", "{}", "; choose another -o")


def test_a_read_only_folder_is_one_line_and_found_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    make_read_only(folder, monkeypatch)
    with pytest.raises(ToolchainError, match=r"cannot write .*ro/sub: .*; choose another -o$"):
        check_writable_folder(folder / "sub", "; choose another -o")
    with pytest.raises(ToolchainError, match=r"cannot write .*ro/a.json: "):
        write_text_atomic(folder / "a.json", "{}")
    check_writable_folder(tmp_path / "new" / "deeper")  # made later by the writer: fine
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ToolchainError, match=r"cannot write .*file/sub: .*file is a file, not a folder"):
        check_writable_folder(tmp_path / "file" / "sub")
