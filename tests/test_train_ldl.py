"""LDL (train/ldl.py): the artifact map, and the term inside the adversarial stage."""

from __future__ import annotations

import pytest
import torch
from test_train import stage, train, write_recipe
from test_train_adversarial import log_of

from toolchain.train.adversarial import AdversarialConfig
from toolchain.train.ldl import artifact_loss, artifact_map, local_variance
from toolchain.train.recipe import Stage, StageConfig


def test_local_variance_matches_the_unfolded_window_variance() -> None:
    x = torch.rand(2, 1, 12, 10, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3), mode="reflect")
    windows = torch.nn.functional.unfold(padded, 7)  # (B, 49, H*W)
    expected = windows.var(dim=1, unbiased=True).view(2, 1, 12, 10)
    torch.testing.assert_close(local_variance(x, 7), expected, atol=1e-6, rtol=1e-5)


def test_flat_residuals_carry_no_weight_and_patchy_ones_do() -> None:
    hr = torch.full((1, 3, 16, 16), 0.5)
    uniform = hr + 0.1  # the same error everywhere: not an artifact
    ema = hr  # an exact EMA never masks: the output is nowhere closer to the HR than it
    assert artifact_map(hr, uniform, ema).abs().max() == 0
    blotch = uniform.clone()
    blotch[..., 6:10, 6:10] += 0.3
    weight = artifact_map(hr, blotch, ema)
    assert weight[..., 8, 8] > 0 and weight[..., 0, 0] == 0  # around the blotch, not in the flat corner


def test_pixels_where_the_output_beats_the_ema_are_not_penalised() -> None:
    gen = torch.Generator().manual_seed(1)
    hr = torch.rand(1, 3, 16, 16, generator=gen)
    output = hr + 0.2 * torch.rand(1, 3, 16, 16, generator=gen)
    assert artifact_map(hr, output, hr).abs().max() > 0  # the EMA is exact: the output is to blame
    assert artifact_map(hr, output, hr + 0.5).abs().max() == 0  # the output beats the EMA everywhere


def test_the_loss_sends_gradient_to_the_output_only() -> None:
    gen = torch.Generator().manual_seed(2)
    hr = torch.rand(1, 3, 16, 16, generator=gen)
    output = (hr + 0.3 * torch.rand(1, 3, 16, 16, generator=gen)).requires_grad_(True)
    loss = artifact_loss(hr, output, hr)
    loss.backward()
    assert loss > 0 and output.grad is not None and output.grad.abs().sum() > 0


def test_artifact_weight_needs_the_ema_and_a_finite_value() -> None:
    with pytest.raises(ValueError, match="set ema_decay"):
        StageConfig(Stage.ADVERSARIAL, 2, 1e-4, 2, adversarial=AdversarialConfig(artifact_weight=1.0))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="artifact_weight must be finite"):
            AdversarialConfig(artifact_weight=bad)


def test_the_adversarial_stage_logs_the_ldl_term(tmp_path) -> None:
    adversarial = stage("adversarial", 2, ema_decay=0.9, adversarial={"artifact_weight": 1.0})
    recipe = write_recipe(tmp_path, [stage("decoder", 1), adversarial])
    train(recipe, tmp_path / "run")
    records = [r for r in log_of(tmp_path / "run") if r.get("stage") == "adversarial" and "loss" in r]
    assert records and all("artifacts" in r and r["artifacts"] >= 0 for r in records)
