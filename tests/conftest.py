"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ``shared`` folder beside the repository root; skips the test if absent."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found")
    return path
