"""File digests shared by checkpoints (``weights_sha256``) and export bundles (every file's sha256)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed (never the whole file in memory)."""
    with Path(path).open("rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()
