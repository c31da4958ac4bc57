"""USM-sharpened HR targets (train/sharpen.py) and the ``sharpen_target`` stage switch."""

from __future__ import annotations

import pytest
import torch

from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.adversarial import AdversarialConfig, AdversarialLoss
from toolchain.train.losses import decoder_loss
from toolchain.train.recipe import Stage, StageConfig
from toolchain.train.sharpen import usm_sharpen


def step_edge() -> torch.Tensor:
    img = torch.full((1, 3, 64, 64), 0.3)
    img[..., 32:] = 0.7
    return img


def test_zero_amount_is_the_identity() -> None:
    img = torch.rand(1, 3, 48, 48)
    assert usm_sharpen(img, 0.0) is img


def test_flat_areas_are_left_alone() -> None:
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert torch.allclose(usm_sharpen(flat, 0.5), flat)


def test_an_edge_gets_more_contrast_and_stays_in_range() -> None:
    img = step_edge()
    sharp = usm_sharpen(img, 0.5)
    row = sharp[0, 0, 32]
    assert row[31] < 0.3 - 0.02 and row[32] > 0.7 + 0.02  # overshoot on both sides of the edge
    assert row[0] == pytest.approx(0.3, abs=0.02)  # far from the edge: nearly unchanged
    strong = usm_sharpen(torch.rand(2, 3, 64, 64) ** 4, 2.0)
    assert strong.min() >= 0 and strong.max() <= 1


def test_the_switch_is_refused_outside_the_pixel_stages() -> None:
    with pytest.raises(ValueError, match="sharpen_target is for the decoder and adversarial stages"):
        StageConfig(Stage.JOINT, 1, 1e-3, 2, sharpen_target=0.5)
    with pytest.raises(ValueError, match=r"sharpen_target must be in \[0, 2\]"):
        StageConfig(Stage.DECODER, 1, 1e-3, 2, sharpen_target=-1.0)
    assert StageConfig(Stage.ADVERSARIAL, 1, 1e-3, 2, sharpen_target=0.5).sharpen_target == 0.5


def test_losses_compare_against_the_sharpened_target() -> None:
    torch.manual_seed(0)
    model = EdgeSDSR(load_preset("nano"))
    hr, lr = step_edge(), torch.full((1, 3, 16, 16), 0.5)
    plain = decoder_loss(model, hr, lr, torch.Generator().manual_seed(0))[0]
    sharp = decoder_loss(model, hr, lr, torch.Generator().manual_seed(0), sharpen=0.5)[0]
    assert sharp.item() != pytest.approx(plain.item(), abs=1e-6)
    adv = AdversarialLoss(AdversarialConfig(), False, torch.device("cpu"), seed=0, sharpen=0.5)
    _, stats = adv(model, hr, lr, torch.Generator().manual_seed(0))
    assert stats["l1"] == pytest.approx(sharp.item(), abs=1e-5)  # the same target as the decoder stage
    assert adv._real is not None and torch.equal(adv._real, hr * 2 - 1)  # D's real batch: the plain HR tile
