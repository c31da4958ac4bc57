"""Model-output goldens: the one-step inference path of the ``tiny`` preset on a fixed input.

The weights are a pure function of each parameter's name and shape (not of the init code or the
global RNG), so these goldens change only when the forward computation changes. The comparison
follows torchvision's ``_assert_expected``: stored outputs, an absolute tolerance, and the files
are rewritten only on purpose with ``UPDATE_GOLDEN=1 pytest tests/test_model_golden.py``
(then review why the numbers moved).
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from toolchain.model.config import LRSkip, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import OneStepSR

GOLDEN = Path(__file__).parent / "golden" / "model"
ATOL = 1e-4  # float32 CPU kernels differ by ~1e-6 across thread counts; a real change moves far more
CASES = {
    "tiny-no-skip-eps0": (LRSkip.NONE, 0.0),
    "tiny-bicubic-skip-noise": (LRSkip.BICUBIC, 1.0),
}


def fixed_model(lr_skip: LRSkip) -> EdgeSDSR:
    """The tiny preset with weights seeded by each parameter's name (fan-in scaled normals)."""
    model = EdgeSDSR(dataclasses.replace(load_preset("tiny"), lr_skip=lr_skip)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            noise = rng.standard_normal(tuple(param.shape))
            if param.ndim >= 2:
                values = noise / math.sqrt(param[0].numel())
            elif name.endswith("weight"):  # norm scales
                values = 1.0 + 0.1 * noise
            else:  # biases
                values = 0.1 * noise
            param.copy_(torch.from_numpy(values.astype(np.float32)))
    return model


def fixed_input(side: int) -> torch.Tensor:
    """A smooth gradient with an edge and a fine texture, (1, 3, side, side) in [0.2, 0.8]; no RNG."""
    y, x = torch.meshgrid(torch.arange(side) / side, torch.arange(side) / side, indexing="ij")
    r = 0.2 + 0.6 * x
    g = (y > 0.5).float() * 0.5 + 0.25
    b = 0.5 + 0.3 * torch.sin(x * 20.0) * torch.cos(y * 13.0)
    return torch.stack([r, g, b])[None].float()


def model_output(name: str) -> np.ndarray:
    """OneStepSR of the fixed model on the fixed input; every other output pixel (keeps files small)."""
    lr_skip, noise_scale = CASES[name]
    model = fixed_model(lr_skip)
    lr = fixed_input(model.config.lr_tile)
    half = model.config.lr_tile // 2
    eps = torch.cos(torch.arange(model.config.latent_channels * half * half, dtype=torch.float32))
    eps = eps.reshape(1, model.config.latent_channels, half, half)
    with torch.inference_mode():
        hr = OneStepSR(model, noise_scale)(lr, eps)
    return hr[0, :, ::2, ::2].numpy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_output_matches_golden(name: str) -> None:
    path = GOLDEN / f"{name}.npy"
    out = model_output(name)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    assert path.is_file(), f"missing {path}: run UPDATE_GOLDEN=1 pytest tests/test_model_golden.py"
    expected = np.load(path)
    assert out.shape == expected.shape
    clamped = float(np.mean((expected <= 0.0) | (expected >= 1.0)))
    assert clamped < 0.2 and expected.std() > 0.02, "the golden must exercise the model, not the clamp"
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL, err_msg=f"{name} drifted from {path}")


def test_golden_cases_differ() -> None:
    """The noise and the skip reach the output: the two goldens are not the same numbers."""
    a, b = (np.load(GOLDEN / f"{name}.npy") for name in sorted(CASES))
    assert np.abs(a - b).max() > 0.05
