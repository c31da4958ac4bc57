"""Atomic writes of files and folders: build a temporary sibling, then rename it onto the target.

A failure never leaves a half-written file or folder, and an existing target stays unchanged.
This is the only place that replaces outputs: manifests, reports, LiteRT graphs, checkpoints
and export bundles all go through :func:`atomic_path` or :func:`atomic_dir`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from toolchain.errors import ToolchainError


def _cannot_write(path: Path, exc: OSError, hint: str) -> ToolchainError:
    return ToolchainError(f"cannot write {path}: {exc.strerror or exc}{hint}")


@contextlib.contextmanager
def atomic_path(path: Path, hint: str = "") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffix); it replaces ``path`` on success.

    OS errors become a one-line ToolchainError naming ``path`` (plus ``hint``, e.g. the fix).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise _cannot_write(path, exc, hint) from None
    finally:
        _remove_quietly(tmp)


def _remove_quietly(tmp: Path) -> None:
    """Remove a temporary file if it is there; cleanup never raises (on a read-only or vanished
    folder ``unlink`` fails with EROFS or ENOENT, which must not replace the error being reported)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def check_writable_folder(folder: Path, hint: str = "") -> None:
    """Fail now, not after the work, if ``folder`` cannot receive a new file.

    Nothing is left behind: the nearest existing ancestor of ``folder`` (created later by the
    writers) must be a folder, which is probed with an anonymous temporary file. Errors are the
    writers' one line, naming ``folder`` plus ``hint``.
    """
    folder = Path(folder)
    ancestor = nearest_existing(folder)
    try:
        if not ancestor.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{ancestor} is a file, not a folder")
        probe_new_file(ancestor)
    except OSError as exc:
        raise _cannot_write(folder, exc, hint) from None


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing ancestor (where a writer's mkdir starts)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def probe_new_file(folder: Path) -> None:
    """Raise the OSError that creating a file in the existing ``folder`` would raise; nothing is left
    behind (an anonymous temporary file). Callers word the error."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_text_atomic(path: Path, text: str, hint: str = "") -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path, hint) as tmp, tmp.open("w", encoding="utf-8", newline="") as fp:
        fp.write(text)
        fp.flush()
        os.fsync(fp.fileno())


@contextlib.contextmanager
def atomic_dir(path: Path, hint: str = "", check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it takes ``path``'s place.

    ``check(path)`` runs before the folder is made and again just before the swap: it raises to
    refuse replacing what is at ``path`` (something may appear there meanwhile). An existing
    folder is moved aside to ``.<name>.old`` (a stale one from an interrupted swap is removed
    first), the new folder is renamed in, then the old one is deleted; if the rename fails the
    old folder is put back. On any exception the temporary folder is removed and ``path`` is
    left as it was. OS errors become a one-line ToolchainError naming ``path`` plus ``hint``.
    """
    path = Path(path)
    if check is not None:
        check(path)
    tmp = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise _cannot_write(path, exc, hint) from None
    try:
        yield tmp
        if check is not None:
            check(path)
        _swap_in(tmp, path)
    except OSError as exc:
        raise _cannot_write(path, exc, hint) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename folder ``tmp`` onto ``path``, moving an existing ``path`` aside and deleting it after."""
    if not path.exists():
        os.rename(tmp, path)
        return
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)  # left by an interrupted swap; renaming onto it would fail
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except OSError:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
