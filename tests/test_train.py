"""Training stages: losses decrease, resume is bit-exact, the learning-rate schedule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from toolchain.train import stages
from toolchain.train.recipe import Stage, StageConfig, load_recipe
from toolchain.train.stages import autoencoder_psnr_y as real_ceiling
from toolchain.train.stages import run_recipe


def make_data(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        y, x = np.mgrid[0:80, 0:96]
        img = np.stack([np.sin(x / (3 + i)), np.cos(y / 4), np.sin((x + y) / 5)], -1) * 0.4 + 0.5
        img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(root / f"{i}.png")


def write_recipe(tmp_path: Path, stages: list[dict]) -> Path:
    make_data(tmp_path / "train")
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"preset": "tiny", "train_data": ["train"], "hr_crop": 64, "stages": stages}))
    return path


def stage(name: str, steps: int, **extra) -> dict:
    base = {"stage": name, "steps": steps, "learning_rate": 2e-3, "batch_size": 2, "save_every": 2}
    base.update({"warmup_steps": 0, "min_lr_ratio": 1.0})
    base.update(extra)
    return base


def train(recipe: Path, out: Path, resume: bool = False) -> Path | None:
    config, folders = load_recipe(recipe)
    return run_recipe(config, folders, out, resume, None, Console(quiet=True))


LDL = {"ema_decay": 0.9, "adversarial": {"artifact_weight": 1.0}}  # the EMA is state too


@pytest.mark.parametrize(
    ("name", "extra"),
    [("joint", {}), ("adversarial", {}), ("adversarial", LDL)],  # adversarial: the discriminator is state too
)
def test_resume_is_bit_identical(tmp_path: Path, name: str, extra: dict) -> None:
    straight = write_recipe(tmp_path / "a", [stage(name, 4, **extra)])
    final_a = train(straight, tmp_path / "a" / "run")
    split = write_recipe(tmp_path / "b", [stage(name, 2, **extra)])
    train(split, tmp_path / "b" / "run")
    split.write_text(split.read_text().replace('"steps": 2', '"steps": 4'))
    final_b = train(split, tmp_path / "b" / "run", resume=True)
    from safetensors.torch import load_file

    wa, wb = load_file(str(final_a / "model.safetensors")), load_file(str(final_b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize("name", ["autoencoder", "joint", "decoder"])
def test_each_stage_reduces_its_loss(tmp_path: Path, name: str) -> None:
    recipe = write_recipe(tmp_path, [stage(name, 30, save_every=30, learning_rate=3e-3)])
    train(recipe, tmp_path / "run")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0], losses


def test_learning_rate_schedule() -> None:
    cfg = StageConfig(
        Stage.JOINT, steps=100, learning_rate=1.0, batch_size=1, warmup_steps=10, min_lr_ratio=0.1
    )
    assert cfg.learning_rate_at(0) == pytest.approx(0.1)
    assert cfg.learning_rate_at(9) == pytest.approx(1.0)
    assert cfg.learning_rate_at(10) == pytest.approx(1.0)
    assert cfg.learning_rate_at(99) == pytest.approx(0.1, abs=1e-3)
    rates = [cfg.learning_rate_at(s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_resume_from_another_preset_is_refused(tmp_path: Path) -> None:
    from toolchain.errors import ToolchainError

    recipe = write_recipe(tmp_path, [stage("joint", 2)])
    train(recipe, tmp_path / "run")
    data = json.loads(recipe.read_text())
    data["preset"] = "nano"
    recipe.write_text(json.dumps(data))
    with pytest.raises(ToolchainError, match="preset 'tiny'"):
        train(recipe, tmp_path / "run", resume=True)


@pytest.mark.slow
def test_two_process_gloo_ddp_stays_in_sync(tmp_path: Path) -> None:
    import subprocess
    import sys

    recipe = write_recipe(tmp_path, [stage("joint", 3, save_every=3)])
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "toolchain.cli.main",
        "train",
        "--recipe",
        str(recipe),
        "-o",
        str(tmp_path / "run"),
        "--threads",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("ranks_in_sync") for r in log)
    assert all(r.get("world_size", 2) == 2 for r in log)
    state = torch.load(tmp_path / "run" / "joint" / "train_state.pt", weights_only=True)
    assert len(state["generators"]) == 2 and not torch.equal(state["generators"][0], state["generators"][1])


def test_recipe_with_realesrgan_degradation_trains(tmp_path: Path) -> None:
    from toolchain.configio import to_dict
    from toolchain.data.degradations import DegradationConfig

    recipe = write_recipe(tmp_path, [stage("joint", 2)])
    data = json.loads(recipe.read_text())
    degradation = to_dict(DegradationConfig.realesrgan_stablesr())
    del degradation["scale"]  # training sets it (the model's scale); a recipe must not
    data["degradation"] = degradation
    recipe.write_text(json.dumps(data))
    config, _ = load_recipe(recipe)
    assert config.degradation.kind.value == "realesrgan"
    assert train(recipe, tmp_path / "run") == tmp_path / "run" / "joint"


def test_periodic_validation_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = write_recipe(tmp_path, [stage("autoencoder", 1, save_every=1), stage("joint", 2, save_every=1)])
    val = tmp_path / "val"
    for sub in ("HR", "LR"):
        (val / sub).mkdir(parents=True)
    hr = Image.open(tmp_path / "train" / "0.png").crop((0, 0, 60, 44))  # not a multiple of 8: cropped
    hr.save(val / "HR" / "a.png")
    hr.resize((15, 11), Image.Resampling.BICUBIC).save(val / "LR" / "a.png")
    data = json.loads(recipe.read_text())
    data["val_data"] = "val"
    recipe.write_text(json.dumps(data))
    ceilings: list[float] = []

    def counted_ceiling(*args: object) -> float:
        ceilings.append(real_ceiling(*args))
        return ceilings[-1]

    monkeypatch.setattr(stages, "autoencoder_psnr_y", counted_ceiling)
    train(recipe, tmp_path / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val_ae_psnr_y" in r]
    assert [(r["stage"], r["step"]) for r in vals] == [("autoencoder", 1), ("joint", 1), ("joint", 2)]
    assert "val_psnr_y" not in vals[0]  # the UNet is untrained after the autoencoder stage
    assert all(r["val_psnr_y"] > 5 for r in vals[1:]) and all(r["val_ae_psnr_y"] > 5 for r in vals)
    # the joint stage trains neither the HR encoder nor the decoder: its ceiling is computed once
    assert len(ceilings) == 2 and vals[1]["val_ae_psnr_y"] == vals[2]["val_ae_psnr_y"] == ceilings[1]


def test_scale_distillation_recipe(tmp_path: Path) -> None:
    stages = [stage("joint", 2), stage("teacher", 4), stage("distill", 30, save_every=30, learning_rate=3e-3)]
    recipe = write_recipe(tmp_path, stages)
    data = json.loads(recipe.read_text())
    data["teacher_preset"] = "tiny-x2"
    recipe.write_text(json.dumps(data))
    final = train(recipe, tmp_path / "run")
    assert final == tmp_path / "run" / "distill"
    from toolchain.model.edge_sdsr import EdgeSDSR

    assert EdgeSDSR.from_pretrained(tmp_path / "run" / "teacher").config.scale == 2
    student = EdgeSDSR.from_pretrained(final)
    assert student.config.name == "tiny"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    distill = [r["loss"] for r in log if r.get("stage") == "distill" and "loss" in r]
    assert distill[-1] < distill[0]
    assert all("mse_to_teacher" in r for r in log if r.get("stage") == "distill" and "loss" in r)


def test_distill_needs_a_teacher(tmp_path: Path) -> None:
    from toolchain.errors import ToolchainError

    recipe = write_recipe(tmp_path, [stage("distill", 2)])
    with pytest.raises(ToolchainError, match="teacher stage"):
        load_recipe(recipe)


def test_shipped_recipes_parse() -> None:
    from toolchain.configio import from_dict, read_json
    from toolchain.model.config import load_preset
    from toolchain.train.recipe import RecipeConfig

    root = Path(__file__).resolve().parents[1] / "models"
    for name in ("nano", "edge"):
        recipe = from_dict(RecipeConfig, read_json(root / name / "recipe.json"))
        assert load_preset(recipe.preset).name == name
    edge = from_dict(RecipeConfig, read_json(root / "edge" / "recipe.json"))
    assert edge.degradation.kind.value == "realesrgan" and load_preset(edge.teacher_preset).scale == 2


def test_a_recipe_may_not_set_what_training_overrides(tmp_path: Path) -> None:
    from toolchain.errors import ToolchainError

    path = write_recipe(tmp_path, [stage("joint", 1)])
    data = json.loads(path.read_text())
    data["degradation"] = {"kind": "bicubic", "scale": 4}
    path.write_text(json.dumps(data))
    with pytest.raises(ToolchainError, match="degradation.scale is set by training"):
        load_recipe(path)
    del data["degradation"]["scale"]
    path.write_text(json.dumps(data))
    assert load_recipe(path)[0].degradation.kind.value == "bicubic"


def test_shipped_recipes_load() -> None:
    """The recipes in models/ parse (they must not set values training overrides)."""
    root = Path(__file__).resolve().parents[1] / "models"
    for name in ("nano", "edge"):
        data = json.loads((root / name / "recipe.json").read_text())
        assert "scale" not in data.get("degradation", {}), name
