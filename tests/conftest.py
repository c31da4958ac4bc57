"""Shared pytest fixtures."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ``shared`` folder beside the repository root; skips the test if absent."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found")
    return path


@pytest.fixture(autouse=True)
def _isolated_rng() -> Iterator[None]:
    """Seed torch with 0 for each test and restore torch's and numpy's global RNG state afterwards."""
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()
    torch.manual_seed(0)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(numpy_state)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/golden/*.json")
