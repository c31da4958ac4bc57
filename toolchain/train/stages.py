"""The training stages and their resumable loop.

Each stage writes ``<out>/<stage>/`` (a model checkpoint, atomically) plus
``train_state.pt`` (optimizer, step, RNG) and appends to ``<out>/log.jsonl``. A stage
resumes from its own folder; a fresh stage starts from the previous stage's weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from toolchain.data.datasets import HRCropSampler, downscale_bicubic
from toolchain.diffusion.forward import noisy_latent, unet_input
from toolchain.diffusion.sampler import predict_latent
from toolchain.diffusion.schedule import loss_weight, sample_t
from toolchain.errors import ToolchainError
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import WEIGHTS_NAME, EdgeSDSR
from toolchain.model.sd_vae import load_sd_vae, resolve_sd_vae_file
from toolchain.train.recipe import RecipeConfig, Stage, StageConfig

STATE_NAME = "train_state.pt"
TRAINABLE = {
    Stage.AUTOENCODER: ("hr_encoder", "decoder"),
    Stage.JOINT: ("lr_encoder", "unet"),
    Stage.DECODER: ("decoder",),
}
LossFn = Callable[[EdgeSDSR, torch.Tensor, torch.Generator], tuple[torch.Tensor, dict[str, float]]]


def autoencoder_loss(
    model: EdgeSDSR, hr: torch.Tensor, gen: torch.Generator, latent_reg: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 reconstruction through HR encoder + decoder, plus a small latent L2 pull."""
    z = model.encode_hr(hr * 2 - 1)
    rec = model.decode(z, downscale_bicubic(hr, model.config.scale))
    l1 = F.l1_loss(rec, hr * 2 - 1)
    return l1 + latent_reg * z.pow(2).mean(), {"l1": l1.item(), "z_std": z.std().item()}


def joint_loss(
    model: EdgeSDSR, hr: torch.Tensor, gen: torch.Generator, recipe: RecipeConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """omega(lambda_t) * ||Z_theta(z_t, t) - z_h||^2 with z_t from the bidirectional process."""
    cond = model.config.conditioning
    with torch.no_grad():
        z_h = model.encode_hr(hr * 2 - 1)
    z_l_mu, z_l_sigma = model.encode_lr(downscale_bicubic(hr, model.config.scale) * 2 - 1)
    t = sample_t(hr.shape[0], recipe.schedule, gen)
    eps = torch.randn(z_h.shape, generator=gen)
    z_t = noisy_latent(z_h, z_l_mu, z_l_sigma, t, eps, recipe.schedule, cond)
    pred = model.denoise(unet_input(z_t, z_l_mu, cond), t)
    per_sample = (pred - z_h).pow(2).mean(dim=(1, 2, 3))
    loss = (loss_weight(t, recipe.schedule) * per_sample).mean()
    stats = {
        "mse": per_sample.mean().item(),
        "sigma_mean": z_l_sigma.mean().item(),
        "sigma_at_floor": (z_l_sigma < model.config.lr_encoder.sigma_floor + 1e-3).float().mean().item(),
    }
    return loss, stats


def decoder_loss(
    model: EdgeSDSR, hr: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 between the decoded one-step latent and the HR image (UNet, LR encoder frozen)."""
    lr = downscale_bicubic(hr, model.config.scale)
    with torch.no_grad():
        z_h = predict_latent(model, lr)
    l1 = F.l1_loss(model.decode(z_h, lr), hr * 2 - 1)
    return l1, {"l1": l1.item()}


def loss_for(stage: Stage, recipe: RecipeConfig) -> LossFn:
    if stage is Stage.AUTOENCODER:
        return lambda m, hr, g: autoencoder_loss(m, hr, g, recipe.latent_reg)
    if stage is Stage.JOINT:
        return lambda m, hr, g: joint_loss(m, hr, g, recipe)
    return decoder_loss


def init_model(recipe: RecipeConfig) -> EdgeSDSR:
    """A freshly initialised model of the recipe's preset; the init is seeded by ``recipe.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        return EdgeSDSR(load_preset(recipe.preset))


def latent_std(model: EdgeSDSR, data: HRCropSampler, gen: torch.Generator, batches: int = 8) -> float:
    """Standard deviation of the unscaled HR latent (SD sets latent_scaling = 1 / this)."""
    with torch.no_grad():
        zs = [model.hr_encoder(data.batch(16, gen) * 2 - 1) for _ in range(batches)]
    return torch.cat(zs).std().item()


def run_stage(
    recipe: RecipeConfig,
    stage_cfg: StageConfig,
    data: HRCropSampler,
    out_dir: Path,
    init_from: Path | None,
    max_minutes: float | None,
    console: Console,
) -> bool:
    """Train one stage; returns True when it reached its final step (False: stopped early).

    It resumes from ``<out>/<stage>/train_state.pt`` when that exists.
    """
    stage = stage_cfg.stage
    stage_dir = out_dir / stage.value
    state_path = stage_dir / STATE_NAME
    gen = torch.Generator().manual_seed(recipe.seed)
    if state_path.is_file():
        model = EdgeSDSR.from_pretrained(stage_dir)
        state = torch.load(state_path, weights_only=True)
    elif init_from is not None:
        model, state = EdgeSDSR.from_pretrained(init_from), None
    else:
        model, state = init_model(recipe), None
    if model.config.name != recipe.preset:
        raise ToolchainError(
            f"{stage_dir}: checkpoint preset '{model.config.name}' "
            f"differs from the recipe's '{recipe.preset}'"
        )
    if state is not None and state["stage"] != stage.value:
        raise ToolchainError(f"{state_path} belongs to stage '{state['stage']}', not '{stage.value}'")

    names = TRAINABLE[stage]
    model.requires_grad_(False)
    params = [p for n in names for p in getattr(model, n).parameters()]
    for p in params:
        p.requires_grad_(True)
    model.train()
    opt = torch.optim.AdamW(params, lr=stage_cfg.learning_rate, weight_decay=0.0)
    step = 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step = int(state["step"])
    if step >= stage_cfg.steps:
        console.print(f"{stage.value}: already complete ({step} steps)")
        return True

    loss_fn = loss_for(stage, recipe)
    deadline = time.monotonic() + max_minutes * 60 if max_minutes else None
    log_path = out_dir / "log.jsonl"
    t0, seen = time.monotonic(), 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(stage.value, total=stage_cfg.steps, completed=step, info="")
        while step < stage_cfg.steps:
            hr = data.batch(stage_cfg.batch_size, gen)
            loss, stats = loss_fn(model, hr, gen)
            for group in opt.param_groups:
                group["lr"] = stage_cfg.learning_rate_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            seen += hr.shape[0]
            rate = seen / (time.monotonic() - t0)
            progress.update(task, completed=step, info=f"loss {loss.item():.4f} {rate:.1f} img/s")
            if step % 10 == 0 or step == stage_cfg.steps:
                record = {"stage": stage.value, "step": step, "loss": loss.item(), "img_per_s": rate, **stats}
                with log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            out_of_time = deadline is not None and time.monotonic() > deadline
            if step % stage_cfg.save_every == 0 or step == stage_cfg.steps or out_of_time:
                _save(model, opt, gen, step, stage, stage_dir, data if stage is Stage.AUTOENCODER else None)
            if out_of_time and step < stage_cfg.steps:
                console.print(f"{stage.value}: stopped at step {step} (time limit); rerun with --resume")
                return False
    return True


def _save(
    model: EdgeSDSR,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    step: int,
    stage: Stage,
    stage_dir: Path,
    calibrate: HRCropSampler | None,
) -> None:
    """Write weights and training state; the autoencoder stage also sets latent_scaling."""
    if calibrate is not None:
        std = latent_std(model, calibrate, torch.Generator().manual_seed(1234))
        model.config = dataclasses.replace(model.config, latent_scaling=1.0 / std)
    model.save_pretrained(stage_dir, extra={"stage": stage.value, "step": step})
    state = {"stage": stage.value, "step": step, "optimizer": opt.state_dict(), "generator": gen.get_state()}
    tmp = stage_dir / f".{STATE_NAME}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, stage_dir / STATE_NAME)


def run_recipe(
    recipe: RecipeConfig,
    folders: list[Path],
    out_dir: Path,
    resume: bool,
    max_minutes: float | None,
    console: Console,
    sd_vae: Path | None = None,
) -> Path | None:
    """Run the stages in order; returns the final checkpoint folder, or None if stopped early.

    With ``sd_vae`` (a local SD v1.5 VAE) the model starts from ``<out>/init``, whose HR
    encoder holds SD's weights; the autoencoder stage is then skipped and the compact
    decoder is trained by the decoder stage on the one-step latents.
    """
    if out_dir.is_dir() and any(out_dir.iterdir()) and not resume:
        raise ToolchainError(
            f"{out_dir} already holds a training run; pass --resume to continue it or pick another --out"
        )
    if sd_vae is not None:
        resolve_sd_vae_file(sd_vae)  # fail before the data is loaded
    out_dir.mkdir(parents=True, exist_ok=True)
    data = HRCropSampler.from_folders(folders, recipe.hr_crop, recipe.max_side, console)
    console.print(f"training data: {len(data.images)} images from {', '.join(map(str, folders))}")
    started = time.monotonic()
    previous: Path | None = None
    if sd_vae is not None:
        previous = out_dir / "init"
        if not (previous / WEIGHTS_NAME).is_file():
            model = init_model(recipe)
            console.print(load_sd_vae(model, sd_vae).summary(), highlight=False)
            model.save_pretrained(previous, extra={"sd_vae": str(sd_vae)})
    for stage_cfg in recipe.stages:
        if sd_vae is not None and stage_cfg.stage is Stage.AUTOENCODER:
            console.print("autoencoder: skipped (the HR encoder comes from --sd-vae)")
            continue
        left = None if max_minutes is None else max_minutes - (time.monotonic() - started) / 60
        if left is not None and left <= 0:
            return None
        done = run_stage(recipe, stage_cfg, data, out_dir, previous, left, console)
        if not done:
            return None
        previous = out_dir / stage_cfg.stage.value
    return previous
