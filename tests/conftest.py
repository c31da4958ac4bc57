"""Shared pytest fixtures."""

import random
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
    """Seed torch with 0 for each test; afterwards restore every global RNG a test can draw from.

    That is torch's CPU generator (and the CUDA ones when CUDA is up), numpy's legacy global
    state and Python's ``random``, so no test's draws depend on which tests ran before it.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(0)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
