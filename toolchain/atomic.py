"""Atomic file writes: write a temporary sibling, then ``os.replace`` it onto the target.

A failure never leaves a half-written file, and an existing target stays unchanged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from toolchain.errors import ToolchainError


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
        raise ToolchainError(f"cannot write {path}: {exc.strerror or exc}{hint}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, hint: str = "") -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path, hint) as tmp, tmp.open("w", encoding="utf-8", newline="") as fp:
        fp.write(text)
        fp.flush()
        os.fsync(fp.fileno())
