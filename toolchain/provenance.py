"""Where an artifact came from: the git commit of this toolchain and a UTC timestamp."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the repository holding this package; None if unavailable."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        return None
    return commit


def utc_now() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (e.g. a manifest's ``created_utc``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
