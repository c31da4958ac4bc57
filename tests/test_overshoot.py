"""Overshoot (metrics/overshoot.py): halos are charged, texture inside the HR's range is not; the
score in evaluation and the term in the adversarial stage are the same definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import stage, train, write_recipe
from test_train_adversarial import log_of

from toolchain.metrics.overshoot import EDGE_LEVELS, local_range, near_edges, overshoot, overshoot_loss
from toolchain.train.adversarial import AdversarialConfig


def stroke(paper: int = 200, ink: int = 40) -> np.ndarray:
    """A 24x24 HR: light paper with a dark vertical stroke in columns 10 to 13."""
    hr = np.full((24, 24, 3), paper, np.uint8)
    hr[:, 10:14] = ink
    return hr


def as_levels(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> (1, 3, H, W) float in 8-bit levels, the score's units."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def as_unit(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> (1, 3, H, W) in [-1, 1], the adversarial stage's units."""
    return as_levels(image) / 127.5 - 1


def test_the_local_range_is_the_windows_min_and_max() -> None:
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    low, high = local_range(x, 3)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    windows = torch.nn.functional.unfold(padded.flatten(0, 1)[:, None], 3).view(6, 9, 9, 7)
    torch.testing.assert_close(high, windows.amax(1).view(2, 3, 9, 7))
    torch.testing.assert_close(low, windows.amin(1).view(2, 3, 9, 7))


def test_a_rim_beside_a_stroke_is_charged_and_texture_within_the_range_is_not() -> None:
    hr = stroke()
    assert overshoot(hr, hr) == 0
    textured = hr.copy()
    textured[:, 11:13] = 90  # a lighter core: inside the stroke's window range (40 to 200)
    assert overshoot(textured, hr) == 0
    rim = hr.copy()
    rim[:, 14] = 230  # a halo: 30 levels above the paper, one column wide
    assert overshoot(rim, hr) == pytest.approx(30 / 24)  # one column of 24, all three channels
    ringing = hr.copy()
    ringing[:, 17] = 215  # 15 above the paper, in flat paper four pixels away from the stroke
    assert overshoot(ringing, hr) == pytest.approx(15 / 24)


def test_error_away_from_edges_is_not_charged() -> None:
    hr = stroke()
    far = hr.copy()
    far[:, 19:] = 215  # beyond EDGE_REACH // 2 of the stroke: flat paper, where any error leaves the range
    assert overshoot(far, hr) == 0
    flat = np.full((24, 24, 3), 120, np.uint8)
    noisy = (flat + np.random.default_rng(0).integers(-3, 4, flat.shape)).astype(np.uint8)
    assert overshoot(noisy, flat) == 0


def test_the_edge_mask_reaches_four_pixels_from_a_strong_edge_only() -> None:
    hr = as_levels(stroke())
    assert near_edges(hr, EDGE_LEVELS)[0, 0, 0].tolist() == [0.0] * 6 + [1.0] * 12 + [0.0] * 6
    faint = as_levels(stroke(paper=120, ink=120 - EDGE_LEVELS + 1))
    assert near_edges(faint, EDGE_LEVELS).sum() == 0  # texture of less than EDGE_LEVELS is not an edge


def test_a_colour_fringe_is_charged_per_channel() -> None:
    hr = stroke()
    fringe = hr.copy()
    fringe[:, 14, 0] = 220  # only red overshoots: a warm rim
    assert overshoot(fringe, hr) == pytest.approx(20 / 24 / 3)


def test_the_loss_sends_gradient_only_where_the_output_leaves_the_range() -> None:
    hr = as_unit(stroke())
    output = hr.clone()
    output[..., 8] += 0.2  # two pixels beside the stroke
    output.requires_grad_(True)
    overshoot_loss(hr, output, EDGE_LEVELS * 2 / 255).backward()
    assert output.grad is not None
    assert output.grad[..., 8].abs().min() > 0
    assert output.grad[..., :8].abs().max() == 0 and output.grad[..., 9:].abs().max() == 0


def test_even_or_empty_windows_are_refused() -> None:
    for bad in (0, 4):
        with pytest.raises(ValueError, match="kernel must be odd"):
            local_range(torch.zeros(1, 3, 8, 8), bad)


def test_overshoot_weight_must_be_finite_and_not_negative() -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="overshoot_weight must be finite"):
            AdversarialConfig(overshoot_weight=bad)
    for bad in (0, 300):
        with pytest.raises(ValueError, match="overshoot_edge_levels must be in"):
            AdversarialConfig(overshoot_edge_levels=bad)


def test_the_adversarial_stage_logs_the_overshoot_term(tmp_path) -> None:
    adversarial = stage("adversarial", 2, adversarial={"overshoot_weight": 10.0})
    recipe = write_recipe(tmp_path, [stage("decoder", 1), adversarial])
    train(recipe, tmp_path / "run")
    records = [r for r in log_of(tmp_path / "run") if r.get("stage") == "adversarial" and "loss" in r]
    assert records and all("overshoot" in r and r["overshoot"] >= 0 for r in records)


def test_a_higher_edge_level_leaves_rims_of_faint_edges_to_the_score_only() -> None:
    hr = stroke(paper=200, ink=140)  # a 60-level edge
    rim = hr.copy()
    rim[:, 14] = 230
    assert overshoot_loss(as_unit(hr), as_unit(rim), 32 * 2 / 255) > 0
    assert overshoot_loss(as_unit(hr), as_unit(rim), 128 * 2 / 255) == 0
