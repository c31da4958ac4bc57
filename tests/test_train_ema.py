"""The ``ema_decay`` stage switch: the checkpoint is the EMA of the weights, and resume is exact."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from test_train import stage, train, write_recipe

from toolchain.errors import ToolchainError
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.ema import WeightEMA
from toolchain.train.recipe import Stage, StageConfig
from toolchain.train.stages import STATE_NAME


def test_the_average_follows_the_ema_formula() -> None:
    torch.manual_seed(0)
    model = EdgeSDSR(load_preset("tiny"))
    ema = WeightEMA(model, decay=0.75)
    name, param = next(iter(model.named_parameters()))
    values = [torch.randn_like(param) for _ in range(3)]
    expected = None
    for value in values:
        with torch.no_grad():
            param.copy_(value)
        ema.update()
        expected = value.clone() if expected is None else 0.75 * expected + 0.25 * value
    torch.testing.assert_close(dict(ema.averaged.named_parameters())[name], expected)


def test_the_checkpoint_is_the_average_and_the_state_keeps_the_raw_weights(tmp_path) -> None:
    recipe = write_recipe(tmp_path, [stage("decoder", 4, ema_decay=0.9)])
    final = train(recipe, tmp_path / "run")
    saved = load_file(str(final / "model.safetensors"))
    state = torch.load(final / STATE_NAME, weights_only=True)
    raw = state["ema"]["raw_weights"]
    assert state["ema"]["n_averaged"] == 4
    trained = [k for k in saved if k.startswith("decoder.")]
    assert any(not torch.equal(saved[k], raw[k]) for k in trained)  # the average lags the raw weights
    assert all(torch.equal(saved[k], raw[k]) for k in saved if k.startswith("unet."))  # frozen: equal


@pytest.mark.parametrize("name", ["decoder", "adversarial"])
def test_resume_with_ema_is_bit_identical(tmp_path, name: str) -> None:
    straight = write_recipe(tmp_path / "a", [stage(name, 4, ema_decay=0.8)])
    final_a = train(straight, tmp_path / "a" / "run")
    split = write_recipe(tmp_path / "b", [stage(name, 2, ema_decay=0.8)])
    train(split, tmp_path / "b" / "run")
    split.write_text(split.read_text().replace('"steps": 2', '"steps": 4'))
    final_b = train(split, tmp_path / "b" / "run", resume=True)
    wa, wb = load_file(str(final_a / "model.safetensors")), load_file(str(final_b / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_with_a_different_ema_setting_is_refused(tmp_path) -> None:
    recipe = write_recipe(tmp_path, [stage("decoder", 2)])
    train(recipe, tmp_path / "run")
    recipe.write_text(recipe.read_text().replace('"steps": 2', '"steps": 4, "ema_decay": 0.9'))
    with pytest.raises(ToolchainError, match="saved without ema_decay; resume with the recipe that started"):
        train(recipe, tmp_path / "run", resume=True)


def test_bad_ema_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\)"):
        StageConfig(Stage.DECODER, 1, 1e-3, 2, ema_decay=1.0)
    with pytest.raises(ValueError, match="autoencoder: ema_decay is for the later stages"):
        StageConfig(Stage.AUTOENCODER, 1, 1e-3, 2, ema_decay=0.99)
