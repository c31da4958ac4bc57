"""The adversarial stage, held-out validation photos, fine-tuning from a checkpoint, per-stage switches."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_train import stage, train, write_recipe

from toolchain.data.datasets import holdout_paths
from toolchain.data.degradations import DegradationConfig
from toolchain.errors import ToolchainError
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.adversarial import (
    AdversarialConfig,
    PatchDiscriminator,
    UNetDiscriminator,
)
from toolchain.train.blend import blend_models
from toolchain.train.recipe import RecipeConfig, Stage, StageConfig, check_blend_start, load_recipe

NIQE = Path(__file__).resolve().parents[2] / "shared" / "metrics" / "niqe_pris_params.npz"


def edit(recipe: Path, **values) -> Path:
    data = json.loads(recipe.read_text())
    data.update(values)
    recipe.write_text(json.dumps(data))
    return recipe


def weights(folder: Path, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if k.startswith(prefix)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def log_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_discriminator_gives_patch_logits_and_features() -> None:
    logits, features = PatchDiscriminator(8)(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 8, 8)
    assert [f.shape[1] for f in features] == [8, 16, 32]


def test_unet_discriminator_gives_a_logit_per_pixel() -> None:
    image = torch.zeros(2, 3, 64, 64)
    image[1, :, 20:30, 40:50] = 1.0  # a local change moves the logits near it more than far from it
    logits, features = UNetDiscriminator(8)(image)
    assert logits.shape == (2, 1, 64, 64)
    assert [f.shape[1:] for f in features] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    change = (logits[1] - logits[0]).abs()[0]
    assert change[20:30, 40:50].mean() > 10 * change[50:, :10].mean()


def test_adversarial_stage_trains_with_the_unet_discriminator(tmp_path: Path) -> None:
    adversarial = {"discriminator": "unet", "disc_channels": 8}
    recipe = write_recipe(tmp_path, [stage("decoder", 1), stage("adversarial", 2, adversarial=adversarial)])
    assert train(recipe, tmp_path / "run") == tmp_path / "run" / "adversarial"
    losses = [r for r in log_of(tmp_path / "run") if r.get("stage") == "adversarial" and "d_loss" in r]
    assert losses and all(math.isfinite(r["d_loss"]) for r in losses)
    bad = write_recipe(
        tmp_path, [stage("decoder", 1), stage("adversarial", 2, adversarial={"discriminator": "pixel"})]
    )
    with pytest.raises(ToolchainError, match="'pixel' is not one of patch, unet"):
        load_recipe(bad)


def test_adversarial_stage_trains_only_the_decoder_by_default(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, [stage("decoder", 1), stage("adversarial", 3)])
    final = train(recipe, tmp_path / "run")
    assert final == tmp_path / "run" / "adversarial"
    before, after = tmp_path / "run" / "decoder", final
    assert same(weights(before, "unet."), weights(after, "unet."))
    assert not same(weights(before, "decoder."), weights(after, "decoder."))
    record = [r for r in log_of(tmp_path / "run") if r.get("stage") == "adversarial" and "loss" in r][-1]
    assert {"l1", "feature", "g_hinge", "d_loss", "d_real", "d_fake"} <= record.keys()
    assert all(np.isfinite(record[k]) for k in ("d_loss", "g_hinge"))
    state = torch.load(final / "train_state.pt", weights_only=True)
    assert set(state["adversarial"]) == {"discriminator", "optimizer"}


def test_adversarial_stage_may_train_the_unet_too(tmp_path: Path) -> None:
    stages = [stage("decoder", 1), stage("adversarial", 2, trainable=["decoder", "unet", "lr_encoder"])]
    final = train(write_recipe(tmp_path, stages), tmp_path / "run")
    assert not same(weights(tmp_path / "run" / "decoder", "unet."), weights(final, "unet."))


def test_adversarial_blend_interpolates_with_the_stage_start_and_follows_the_recipe(tmp_path: Path) -> None:
    stages = [stage("decoder", 1), stage("adversarial", 2, adversarial={"blend": 0.25})]
    recipe = write_recipe(tmp_path, stages)
    final = train(recipe, tmp_path / "run")
    assert final == tmp_path / "run" / "adversarial-blend"
    start = weights(tmp_path / "run" / "decoder", "decoder.")
    tuned = weights(tmp_path / "run" / "adversarial", "")
    blended = weights(final, "")
    for name, value in start.items():
        torch.testing.assert_close(blended[name], 0.75 * value + 0.25 * tuned[name])
    assert same(weights(final, "unet."), {k: v for k, v in tuned.items() if k.startswith("unet.")})
    assert not same(start, weights(final, "decoder."))
    assert json.loads((final / "config.json").read_text())["blend"]["alpha"] == 0.25
    # a new blend in the recipe is applied on --resume without retraining the stage
    recipe.write_text(recipe.read_text().replace('"blend": 0.25', '"blend": 0.5'))
    assert train(recipe, tmp_path / "run", resume=True) == final
    assert same(weights(tmp_path / "run" / "adversarial", ""), tuned)
    torch.testing.assert_close(weights(final, "decoder.")[name], 0.5 * start[name] + 0.5 * tuned[name])


def test_blend_refuses_other_architectures_and_out_of_range_alpha() -> None:
    tiny, small = EdgeSDSR(load_preset("tiny")), EdgeSDSR(load_preset("nano"))
    with pytest.raises(ToolchainError, match="different architectures"):
        blend_models(tiny, small, 0.5)
    with pytest.raises(ValueError, match="blend alpha must be in"):
        blend_models(tiny, tiny, 1.5)
    with pytest.raises(ValueError, match="blend must be in"):
        AdversarialConfig(blend=0.0)


def test_a_blend_with_nothing_to_blend_back_is_refused_before_training(tmp_path: Path) -> None:
    """The first stage's blend needs a start: an earlier stage or init_checkpoint (a teacher is neither)."""
    recipe = write_recipe(tmp_path, [stage("adversarial", 2, adversarial={"blend": 0.5})])
    with pytest.raises(ToolchainError, match="put a stage or init_checkpoint before it"):
        train(recipe, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_sd_vae_run_blends_back_its_init() -> None:
    """With --sd-vae the run starts from <out>/init and skips the autoencoder stage: a blend has a start."""
    blended = StageConfig(Stage.ADVERSARIAL, 2, 1e-3, 2, adversarial=AdversarialConfig(blend=0.5))
    autoencoder = StageConfig(Stage.AUTOENCODER, 2, 1e-3, 2)
    recipe = RecipeConfig(preset="tiny", train_data=("train",), stages=(autoencoder, blended))
    check_blend_start(recipe, from_sd_vae=True)
    check_blend_start(recipe, from_sd_vae=False)  # the autoencoder stage is its start
    alone = dataclasses.replace(recipe, stages=(blended,))
    check_blend_start(alone, from_sd_vae=True)
    with pytest.raises(ToolchainError, match="put a stage or init_checkpoint before it"):
        check_blend_start(alone, from_sd_vae=False)


def test_holdout_photos_are_left_out_and_become_the_validation_set(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, [stage("joint", 2, save_every=2)])
    for i in range(3, 6):  # 6 photos, 2 held out
        Image.fromarray(np.full((80, 96, 3), 40 * i, np.uint8)).save(tmp_path / "train" / f"{i}.png")
    edit(recipe, holdout=2, val_crop=64)
    config, folders = load_recipe(recipe)
    held = holdout_paths(folders, 2)
    assert [p.name for p in held] == ["0.png", "3.png"]
    train(recipe, tmp_path / "run")
    val = tmp_path / "run" / "val"
    assert sorted(p.name for p in (val / "HR").iterdir()) == ["000_0.png", "001_3.png"]
    assert Image.open(val / "HR" / "000_0.png").size == (64, 64)
    assert Image.open(val / "LR" / "000_0.png").size == (16, 16)
    vals = [r for r in log_of(tmp_path / "run") if "val_psnr_y" in r]
    assert vals and vals[-1]["val_images"] == 2


def test_holdout_may_not_take_most_of_the_data(tmp_path: Path) -> None:
    recipe = edit(write_recipe(tmp_path, [stage("joint", 1)]), holdout=2)
    with pytest.raises(ToolchainError, match="too few of the 3 training images"):
        train(recipe, tmp_path / "run")


@pytest.mark.skipif(not NIQE.is_file(), reason="needs ../shared/metrics")
def test_validation_logs_niqe(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, [stage("joint", 1, save_every=1)])
    for i in range(3, 6):  # smooth patterns with mild noise: NIQE is finite on them
        y, x = np.mgrid[0:200, 0:200]
        img = np.stack([np.sin(x / (4 + i)), np.cos(y / 6), np.sin((x + y) / 9)], -1) * 0.35 + 0.5
        img += np.random.default_rng(i).normal(0, 0.02, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "train" / f"{i}.png")
    edit(recipe, holdout=2, val_crop=192, val_niqe=str(NIQE), hr_crop=64)
    train(recipe, tmp_path / "run")
    vals = [r for r in log_of(tmp_path / "run") if "val_psnr_y" in r]
    assert np.isfinite(vals[-1]["val_niqe"])


def test_init_checkpoint_fine_tunes_a_trained_model(tmp_path: Path) -> None:
    base = train(write_recipe(tmp_path / "base", [stage("joint", 2)]), tmp_path / "base" / "run")
    recipe = edit(write_recipe(tmp_path / "ft", [stage("decoder", 1)]), init_checkpoint=str(base))
    final = train(recipe, tmp_path / "ft" / "run")
    assert same(weights(base, "unet."), weights(final, "unet."))  # trained by joint, frozen by decoder


def test_stage_clean_prob_overrides_the_recipe_degradation() -> None:
    recipe_deg = DegradationConfig.realesrgan_stablesr()
    cfg = StageConfig(Stage.ADVERSARIAL, steps=1, learning_rate=1e-4, batch_size=1, clean_prob=0.2)
    assert cfg.degradation_for(recipe_deg).clean_prob == 0.2
    plain = StageConfig(Stage.ADVERSARIAL, steps=1, learning_rate=1e-4, batch_size=1)
    assert plain.degradation_for(recipe_deg) is recipe_deg


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"trainable": ["decoder", "vae"]}, "trainable must name"),
        ({"trainable": []}, "trainable must name"),
        ({"clean_prob": 1.5}, "clean_prob must be in"),
    ],
)
def test_bad_stage_switches_are_refused(extra: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StageConfig(Stage.ADVERSARIAL, steps=1, learning_rate=1e-4, batch_size=1, **extra)


def test_adversarial_settings_only_on_the_adversarial_stage() -> None:
    with pytest.raises(ValueError, match="belong to the adversarial stage"):
        StageConfig(Stage.DECODER, 1, 1e-4, 1, adversarial=AdversarialConfig())
    with pytest.raises(ValueError, match="not all 0"):
        AdversarialConfig(l1_weight=0, feature_weight=0, gan_weight=0)


def test_recipe_switch_errors_name_the_file(tmp_path: Path) -> None:
    recipe = edit(write_recipe(tmp_path, [stage("joint", 1)]), val_niqe="missing.npz")
    with pytest.raises(ToolchainError, match="val_niqe .*missing.npz does not exist"):
        load_recipe(recipe)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_current_step_and_resume_continues(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM finishes the step in progress, saves it, and says how to resume."""
    recipe = write_recipe(tmp_path, [stage("joint", 500, save_every=1000)])
    cmd = [
        sys.executable,
        "-m",
        "toolchain.cli.main",
        "train",
        "--recipe",
        str(recipe),
        "-o",
        str(tmp_path / "run"),
    ]
    proc = subprocess.Popen(
        [*cmd, "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "run" / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err  # 143 / 130, as the README promises (issue 26 item 3)
    state = torch.load(tmp_path / "run" / "joint" / "train_state.pt", weights_only=True)
    assert 10 <= state["step"] < 500
    assert f"stopped at step {state['step']} ({signal.Signals(signum).name}), saved" in " ".join(err.split())
    assert "--resume" in out
    recipe.write_text(recipe.read_text().replace('"steps": 500', f'"steps": {state["step"] + 2}'))
    done = subprocess.run([*cmd, "--resume", "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (
        torch.load(tmp_path / "run" / "joint" / "train_state.pt", weights_only=True)["step"]
        == state["step"] + 2
    )
