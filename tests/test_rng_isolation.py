"""The autouse RNG fixture (conftest.py): a test's draws leave no trace in the next test."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

_before: dict[str, object] = {}


def test_a_test_that_draws_from_every_generator() -> None:
    _before["python"] = random.getstate()
    _before["numpy"] = np.random.get_state()[1].copy()
    _before["torch_seeded"] = torch.random.get_rng_state().clone()
    random.random()
    np.random.rand()
    torch.rand(1)
    if torch.cuda.is_available():
        _before["cuda"] = [s.clone() for s in torch.cuda.get_rng_state_all()]
        torch.rand(1, device="cuda")


def test_the_next_test_starts_from_the_same_states() -> None:
    if not _before:
        pytest.skip("runs after test_a_test_that_draws_from_every_generator")
    assert random.getstate() == _before["python"]
    assert np.array_equal(np.random.get_state()[1], _before["numpy"])
    assert torch.equal(torch.random.get_rng_state(), _before["torch_seeded"])  # seeded with 0 again
    if "cuda" in _before:
        assert all(
            torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), _before["cuda"], strict=True)
        )
