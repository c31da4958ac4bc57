"""The training stages and their resumable loop.

Each stage writes ``<out>/<stage>/`` (a model checkpoint, atomically) plus
``train_state.pt`` (optimizer, step, RNG) and appends to ``<out>/log.jsonl`` (train/runlog.py). A stage
resumes from its own folder; a fresh stage starts from the previous stage's weights. With
``ema_decay`` the checkpoint holds the EMA of the weights and ``train_state.pt`` the raw ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from toolchain.atomic import atomic_dir, atomic_path, check_writable_folder
from toolchain.data.datasets import HRCropSampler, holdout_paths, pair_paths
from toolchain.data.degradations import degrade
from toolchain.data.synthetic_pairs import make_holdout_pairs
from toolchain.data.training_batches import BatchSpec, TrainingBatches, default_workers, degrades_on_host
from toolchain.errors import ToolchainError
from toolchain.evaluate import evaluate_pairs, summarize, to_uint8
from toolchain.imageio import MAX_INPUT_PIXELS, load_image
from toolchain.metrics.fidelity import psnr_y
from toolchain.metrics.niqe import NiqeParams, load_niqe_params
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import WEIGHTS_NAME, EdgeSDSR
from toolchain.model.sd_vae import load_sd_vae, resolve_sd_vae_file
from toolchain.train.adversarial import AdversarialConfig, AdversarialLoss
from toolchain.train.blend import blend_checkpoints
from toolchain.train.ddp import DistContext, barrier, broadcast_object, gather_objects, params_in_sync
from toolchain.train.ema import WeightEMA
from toolchain.train.losses import LossFn, autoencoder_loss, decoder_loss, distill_loss, joint_loss
from toolchain.train.recipe import RecipeConfig, Stage, StageConfig, check_blend_start
from toolchain.train.runlog import RunLog
from toolchain.upscaler import reference_upscale

STATE_NAME = "train_state.pt"
TRAINABLE = {
    Stage.AUTOENCODER: ("hr_encoder", "decoder"),
    Stage.JOINT: ("lr_encoder", "unet"),
    Stage.TEACHER: ("lr_encoder", "unet"),
    Stage.DISTILL: ("lr_encoder", "unet"),
    Stage.DECODER: ("decoder",),
    Stage.ADVERSARIAL: ("decoder",),
}


class StageLoss(nn.Module):
    """The model plus one stage's loss, as one module so DistributedDataParallel can wrap it.

    Its state dict is the model's, prefixed ``model.``; checkpoints save ``model`` itself.
    """

    def __init__(self, model: EdgeSDSR, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(
        self, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss_fn(self.model, hr, lr, gen)


def loss_for(stage_cfg: StageConfig, recipe: RecipeConfig, teacher: EdgeSDSR | None = None) -> LossFn:
    stage = stage_cfg.stage
    if stage is Stage.AUTOENCODER:
        return functools.partial(autoencoder_loss, latent_reg=recipe.latent_reg)
    if stage in (Stage.JOINT, Stage.TEACHER):
        return functools.partial(joint_loss, schedule=recipe.schedule)
    if stage is Stage.DISTILL:
        if teacher is None:
            raise ValueError("the distill stage needs its teacher")
        scale = teacher.config.scale
        return functools.partial(
            distill_loss,
            teacher=teacher,
            schedule=recipe.schedule,
            teacher_lr=lambda hr, g: degrade(hr, recipe.degradation, g, scale),
        )
    return functools.partial(decoder_loss, sharpen=stage_cfg.sharpen_target)


def init_model(recipe: RecipeConfig, preset: str | None = None) -> EdgeSDSR:
    """A fresh model (the recipe's preset by default), seeded by ``recipe.seed``.

    With ``recipe.init_autoencoder`` its HR encoder and decoder come from that checkpoint.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = EdgeSDSR(load_preset(preset or recipe.preset))
    if recipe.init_autoencoder is not None:
        copy_autoencoder(model, Path(recipe.init_autoencoder))
    return model


def copy_autoencoder(model: EdgeSDSR, source_dir: Path) -> None:
    """Load the HR encoder, decoder and latent scaling of another checkpoint (same z_h space)."""
    source = EdgeSDSR.from_pretrained(source_dir)
    try:
        model.hr_encoder.load_state_dict(source.hr_encoder.state_dict())
        model.decoder.load_state_dict(source.decoder.state_dict())
    except RuntimeError:
        raise ToolchainError(
            f"the autoencoder of {source_dir} ('{source.config.name}') does not fit preset "
            f"'{model.config.name}'; start from a checkpoint of the same preset family"
        ) from None
    model.latent_scaling = source.latent_scaling


def init_teacher(recipe: RecipeConfig, autoencoder_from: Path | None) -> EdgeSDSR:
    """The x2 teacher, sharing the student's HR encoder and decoder (the same z_h space)."""
    teacher = init_model(recipe, recipe.teacher_preset)
    if autoencoder_from is not None:
        copy_autoencoder(teacher, autoencoder_from)
    return teacher


def trainable_components(stage_cfg: StageConfig) -> tuple[str, ...]:
    """The stage's ``trainable`` components, or its default (TRAINABLE)."""
    return stage_cfg.trainable or TRAINABLE[stage_cfg.stage]


def trainable_parameters(model: EdgeSDSR, components: tuple[str, ...]) -> list[nn.Parameter]:
    """Freeze ``model`` except ``components``; returns their parameters."""
    model.requires_grad_(False)
    params = [p for n in components for p in getattr(model, n).parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def latent_std(model: EdgeSDSR, data: HRCropSampler, device: torch.device, batches: int = 8) -> float:
    """Standard deviation of the unscaled HR latent (SD sets latent_scaling = 1 / this)."""
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        zs = [model.hr_encoder(data.batch(16, gen).to(device) * 2 - 1) for _ in range(batches)]
    return torch.cat(zs).std().item()


@dataclass(frozen=True)
class StageRun:
    """One stage of a recipe run: what :func:`run_stage` trains, from what, where, for how long."""

    recipe: RecipeConfig
    stage: StageConfig
    data: HRCropSampler  # this rank's shard of the training images
    out_dir: Path  # the run folder; the stage writes <out_dir>/<stage>/
    init_from: Path | None  # the previous stage's checkpoint; None starts from the recipe's preset
    stop: StopRequest  # the run's stop request: signals and its time limit, across stages
    console: Console
    ctx: DistContext
    log: RunLog
    workers: int = 0  # DataLoader worker processes for crops and degradations (data/training_batches.py)


@dataclass(frozen=True)
class _Start:
    """Where a stage begins: its model and, when resuming, the saved training state (checked)."""

    model: EdgeSDSR
    state: dict | None  # train_state.pt, or None for a fresh stage
    state_path: Path


@dataclass
class _Objective:
    """What an optimisation step works on: the model, the (DDP-wrapped) loss module, the optimizer."""

    model: EdgeSDSR  # the raw weights being trained
    module: nn.Module  # StageLoss, wrapped by DistributedDataParallel under torchrun
    params: list[nn.Parameter]
    opt: torch.optim.Optimizer
    ema: WeightEMA | None
    adversarial: AdversarialLoss | None
    components: tuple[str, ...]

    @property
    def saved(self) -> EdgeSDSR:
        """What a checkpoint holds (and validation scores): the EMA when the stage keeps one."""
        return self.ema.averaged if self.ema is not None else self.model


def run_stage(run: StageRun) -> bool:
    """Train one stage; returns True when it reached its final step (False: stopped early).

    It resumes from ``<out>/<stage>/train_state.pt`` when that exists. With several
    processes (torchrun) each rank draws its own crops from its own shard of the images
    with its own generator; gradients are averaged by DistributedDataParallel.
    """
    stage_cfg, ctx = run.stage, run.ctx
    gen = torch.Generator().manual_seed(run.recipe.seed + 1_000_003 * ctx.rank)
    # 1. Resume or start: the model, and the saved state checked against this recipe and world size.
    start = _resume_or_start(run)
    # 2. The objective: trainable parameters, the stage's loss (teacher, discriminator), DDP, optimizer.
    objective = _build_objective(run, start.model)
    step = _restore_state(run, start, objective, gen)
    if step >= stage_cfg.steps:
        run.console.print(f"{stage_cfg.stage.value}: already complete ({step} steps)")
        return True
    # 3. The loop: optimisation steps, with a checkpoint (and validation) when due or when stopping.
    batches = _training_batches(run, objective, gen, step, start.state)
    try:
        if not _train_steps(run, objective, gen, batches, step):
            return False
    finally:
        batches.close()
    if not params_in_sync(ctx, objective.params):
        raise RuntimeError(f"{stage_cfg.stage.value}: ranks diverged (parameters differ across processes)")
    if ctx.is_main and ctx.distributed:
        run.log.write({"stage": stage_cfg.stage.value, "step": stage_cfg.steps, "ranks_in_sync": True})
    return True


def _resume_or_start(run: StageRun) -> _Start:
    """The stage's own checkpoint and state when it exists, else its starting weights."""
    recipe, stage, ctx = run.recipe, run.stage.stage, run.ctx
    stage_dir = run.out_dir / stage.value
    state_path = stage_dir / STATE_NAME
    preset = load_preset(recipe.teacher_preset if stage is Stage.TEACHER else recipe.preset).name
    if state_path.is_file():
        model = EdgeSDSR.from_pretrained(stage_dir)
        state = torch.load(state_path, weights_only=True)
    elif stage is Stage.TEACHER:
        model, state = init_teacher(recipe, run.init_from), None
    elif run.init_from is not None:
        model, state = EdgeSDSR.from_pretrained(run.init_from), None
    else:
        model, state = init_model(recipe), None
    if model.config.name != preset:
        raise ToolchainError(
            f"{stage_dir}: checkpoint preset '{model.config.name}' "
            f"differs from the recipe's '{preset}'; resume with the recipe that started the run"
        )
    if state is not None and state["stage"] != stage.value:
        raise ToolchainError(f"{state_path} belongs to stage '{state['stage']}', not '{stage.value}'")
    if state is not None and len(state["generators"]) != ctx.world_size:
        raise ToolchainError(
            f"{state_path} was written by {len(state['generators'])} process(es); "
            f"resume with the same number (got {ctx.world_size})"
        )
    if state is not None and ("ema" in state) != bool(run.stage.ema_decay):
        saved_with = "with" if "ema" in state else "without"
        raise ToolchainError(
            f"{state_path} was saved {saved_with} ema_decay; resume with the recipe that started the run"
        )
    return _Start(model, state, state_path)


def _build_objective(run: StageRun, model: EdgeSDSR) -> _Objective:
    """Freeze all but the stage's components; its loss as one (DDP) module; AdamW; the weight EMA."""
    recipe, stage_cfg, ctx = run.recipe, run.stage, run.ctx
    stage = stage_cfg.stage
    model.to(ctx.device)
    components = trainable_components(stage_cfg)
    params = trainable_parameters(model, components)
    model.train()
    teacher = None
    if stage is Stage.DISTILL:
        teacher = EdgeSDSR.from_pretrained(run.out_dir / Stage.TEACHER.value).to(ctx.device).eval()
        teacher.requires_grad_(False)
    adversarial = None
    if stage is Stage.ADVERSARIAL:
        cfg = stage_cfg.adversarial or AdversarialConfig()
        adversarial = AdversarialLoss(
            cfg, "unet" in components, ctx.device, seed=recipe.seed, sharpen=stage_cfg.sharpen_target
        )
    loss_fn = adversarial or loss_for(stage_cfg, recipe, teacher)
    module: nn.Module = StageLoss(model, loss_fn)
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        module = DistributedDataParallel(module, device_ids=ids)
        if adversarial is not None:
            adversarial.disc_step_module = DistributedDataParallel(adversarial.disc, device_ids=ids)
    opt = torch.optim.AdamW(params, lr=stage_cfg.learning_rate, weight_decay=0.0)
    return _Objective(model, module, params, opt, None, adversarial, components)


def _restore_state(run: StageRun, start: _Start, objective: _Objective, gen: torch.Generator) -> int:
    """Load the optimizer, this rank's generator and the discriminator; make the EMA; returns the step.

    The EMA is made after the weights are in place (WeightEMA starts as a copy of them).
    """
    state, adversarial = start.state, objective.adversarial
    step = 0
    if state is not None:
        objective.opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generators"][run.ctx.rank])
        step = int(state["step"])
        if adversarial is not None:
            adversarial.load_state_dict(state["adversarial"])
    if run.stage.ema_decay:
        objective.ema = WeightEMA(objective.model, run.stage.ema_decay)
        if state is not None:
            objective.ema.load_state_dict(state["ema"])
        if adversarial is not None:
            adversarial.ema_model = objective.ema.averaged
    return step


def _training_batches(
    run: StageRun, objective: _Objective, gen: torch.Generator, step: int, state: dict | None
) -> TrainingBatches:
    """The stage's batches from ``step`` on; the device's noise generator as saved, when it was."""
    stage_cfg, ctx = run.stage, run.ctx
    degradation = stage_cfg.degradation_for(run.recipe.degradation)
    on_host = degrades_on_host(ctx.device)
    spec = BatchSpec(run.data, stage_cfg.batch_size, degradation, objective.model.config.scale, on_host)
    accum = stage_cfg.grad_accum
    first, count = step * accum, (stage_cfg.steps - step) * accum
    batches = TrainingBatches(spec, ctx.device, run.workers, gen, run.recipe.seed, ctx.rank, first, count)
    if state is not None and "pixel_generators" in state and batches.pixel_generator is not None:
        batches.pixel_generator.set_state(state["pixel_generators"][ctx.rank])
    return batches


def _train_steps(
    run: StageRun, objective: _Objective, gen: torch.Generator, batches: TrainingBatches, step: int
) -> bool:
    """Optimisation steps from ``step`` to the stage's last; False when a stop request ended them.

    A checkpoint is written every ``save_every`` steps, at the last step and when stopping;
    validation (rank 0) follows each checkpoint.
    """
    stage_cfg, ctx = run.stage, run.ctx
    stage = stage_cfg.stage
    validation = _Validation.for_run(run, objective.components)
    throughput = _Throughput(ctx.world_size)
    with _progress(run.console, ctx) as progress:
        task = progress.add_task(stage.value, total=stage_cfg.steps, completed=step, info="")
        while step < stage_cfg.steps:
            loss, stats = _optimisation_step(run, objective, gen, batches, step, throughput)
            step += 1
            progress.update(task, completed=step, info=throughput.info(loss))
            if ctx.is_main and (step % 10 == 0 or step == stage_cfg.steps):
                run.log.write(throughput.record(stage_cfg, step, loss, stats))
            stop = run.stop.poll(ctx)
            if step % stage_cfg.save_every == 0 or step == stage_cfg.steps or stop:
                _checkpoint(run, objective, gen, batches, step)
                validation.score(objective.saved, step, run.log, ctx)
            if stop and step < stage_cfg.steps:
                run.console.print(
                    f"{stage.value}: stopped at step {step} ({stop}), saved; rerun with --resume"
                )
                return False
    return True


def _optimisation_step(
    run: StageRun,
    objective: _Objective,
    gen: torch.Generator,
    batches: TrainingBatches,
    step: int,
    throughput: _Throughput,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One optimizer step over ``grad_accum`` micro-batches (DDP syncs gradients on the last one)."""
    stage_cfg, ctx, opt = run.stage, run.ctx, objective.opt
    for group in opt.param_groups:
        group["lr"] = stage_cfg.learning_rate_at(step)
    opt.zero_grad(set_to_none=True)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=ctx.device.type == "cuda")
    for micro in range(stage_cfg.grad_accum):
        t_data = time.monotonic()
        hr, lr = batches.next()
        throughput.data_s += time.monotonic() - t_data
        last = micro == stage_cfg.grad_accum - 1
        sync = contextlib.nullcontext() if last or not ctx.distributed else objective.module.no_sync()
        with sync, autocast:
            loss, stats = objective.module(hr, lr, gen)
            (loss / stage_cfg.grad_accum).backward()
            if objective.adversarial is not None:
                stats = {**stats, **objective.adversarial.discriminator_step()}
        throughput.seen += hr.shape[0] * ctx.world_size
    torch.nn.utils.clip_grad_norm_(objective.params, 1.0)
    opt.step()
    if objective.ema is not None:
        objective.ema.update()
    return loss, stats


def _checkpoint(
    run: StageRun, objective: _Objective, gen: torch.Generator, batches: TrainingBatches, step: int
) -> None:
    """Save the stage (weights, optimizer, every rank's generators, discriminator, EMA)."""
    stage = run.stage.stage
    calibrate = run.data if stage is Stage.AUTOENCODER else None
    extra_state = (
        {"adversarial": objective.adversarial.state_dict()} if objective.adversarial is not None else {}
    )
    if objective.ema is not None:
        extra_state["ema"] = objective.ema.state_dict()
    if batches.pixel_generator is not None:  # a GPU's noise generator (CPU runs keep the original state)
        extra_state["pixel_generators"] = gather_objects(run.ctx, batches.pixel_generator.get_state())
    stage_dir = run.out_dir / stage.value
    _save(objective.saved, objective.opt, gen, step, stage, stage_dir, calibrate, run.ctx, extra_state)


class _Throughput:
    """Images per second and ``data_frac``, the share of wall time spent cropping and degrading."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.t0 = time.monotonic()
        self.seen = 0  # images over all ranks
        self.data_s = 0.0  # seconds spent on this rank's crops and degradations

    def rates(self) -> tuple[float, float]:
        elapsed = time.monotonic() - self.t0
        return self.seen / elapsed, self.data_s / elapsed

    def info(self, loss: torch.Tensor) -> str:
        rate, data_frac = self.rates()
        return f"loss {loss.item():.4f} {rate:.1f} img/s data {data_frac:.0%}"

    def record(self, stage_cfg: StageConfig, step: int, loss: torch.Tensor, stats: dict[str, float]) -> dict:
        rate, data_frac = self.rates()
        return {
            "stage": stage_cfg.stage.value,
            "step": step,
            "loss": loss.item(),
            "img_per_s": rate,
            "data_frac": data_frac,  # share of wall time in data loading + degradation
            "lr": stage_cfg.learning_rate_at(step - 1),
            "world_size": self.world_size,
            **stats,
        }


@dataclass
class _Validation:
    """Rank 0 scores each checkpoint on the validation pairs (none: nothing to do)."""

    pairs: list[tuple[str, Path, Path]]
    niqe_params: NiqeParams | None
    stage: Stage
    ceiling_frozen: bool  # the stage trains neither HR encoder nor decoder: the ceiling is computed once
    ceiling: float | None = None

    @classmethod
    def for_run(cls, run: StageRun, components: tuple[str, ...]) -> _Validation:
        recipe = run.recipe
        pairs = pair_paths(Path(recipe.val_data))[: recipe.val_images] if recipe.val_data else []
        niqe_params = load_niqe_params(Path(recipe.val_niqe)) if recipe.val_niqe and pairs else None
        frozen = not {"hr_encoder", "decoder"} & set(components)
        return cls(pairs, niqe_params, run.stage.stage, frozen)

    def score(self, model: EdgeSDSR, step: int, log: RunLog, ctx: DistContext) -> None:
        if not (ctx.is_main and self.pairs and self.stage is not Stage.TEACHER):
            return
        ceiling = _validate(
            model, self.pairs, self.niqe_params, self.stage, step, log, ctx.device, self.ceiling
        )
        self.ceiling = ceiling if self.ceiling_frozen else None


def _validate(
    model: EdgeSDSR,
    pairs: list[tuple[str, Path, Path]],
    niqe_params: NiqeParams | None,
    stage: Stage,
    step: int,
    log: RunLog,
    device: torch.device,
    ceiling: float | None,
) -> float:
    """Validation scores appended to the run log; returns ``val_ae_psnr_y``.

    ``val_ae_psnr_y`` (every stage) is the autoencoder round trip, HR -> latent -> decoder with the
    pair's LR on the skip: what the one-step model would reach if the UNet predicted the HR latent
    exactly, so the ceiling that the latent width and the decoder set. A stage that trains
    neither the HR encoder nor the decoder passes the value it computed first as ``ceiling``.
    Every stage after the autoencoder stage also scores the one-step model itself: PSNR-Y /
    SSIM-Y (and NIQE).
    """
    model.eval()
    if ceiling is None:
        ceiling = autoencoder_psnr_y(model, pairs, device)
    record: dict = {"stage": stage.value, "step": step, "val_ae_psnr_y": ceiling}
    if stage is not Stage.AUTOENCODER:
        scores = evaluate_pairs(pairs, reference_upscale(model, device), niqe_params)
        summary = summarize(scores, model.config.name, "validation")
        record |= {
            "val_psnr_y": summary.psnr_y,
            "val_ssim_y": summary.ssim_y,
            **({"val_niqe": summary.niqe} if summary.niqe is not None else {}),
            "val_images": len(scores),
        }
    model.train()
    log.write(record)
    return ceiling


@torch.no_grad()
def autoencoder_psnr_y(model: EdgeSDSR, pairs: list[tuple[str, Path, Path]], device: torch.device) -> float:
    """Mean PSNR-Y of decode(encode_hr(HR), LR) over the pairs (HR cropped to a multiple of 8 px)."""

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().to(device)

    values = []
    for _, hr_path, lr_path in pairs:
        hr = load_image(hr_path, MAX_INPUT_PIXELS * 16).rgb
        h, w = hr.shape[0] // 8 * 8, hr.shape[1] // 8 * 8
        hr = hr[:h, :w]
        lr = load_image(lr_path, MAX_INPUT_PIXELS).rgb[: h // 4, : w // 4]
        skip = tensor(lr) if model.decode_needs_lr else None
        out = model.decode(model.encode_hr(tensor(hr) * 2 - 1), skip)
        pred = to_uint8(((out[0] + 1) / 2).permute(1, 2, 0).cpu().numpy())
        values.append(psnr_y(pred, to_uint8(hr)))
    return float(np.mean(values))


TIME_LIMIT = "time limit"


class TrainingInterrupted(Exception):
    """A signal stopped the run after its last step was saved; ``exit_code`` is 128 + the signal."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = 128 + signal.Signals[signal_name].value


class StopRequest:
    """Why the run should stop after the current step: a signal or its time limit (None: go on).

    It lives for the whole run, so a request is never dropped at a stage boundary: SIGINT /
    SIGTERM during a step, a save, a validation or between stages lets the step in progress
    finish and be saved, then the run stops (resumable) and :func:`run_recipe` raises
    :class:`TrainingInterrupted`. A second signal stops at once (KeyboardInterrupt), losing the
    steps since the last save. Outside the main thread (where Python cannot install handlers)
    signals keep their handlers. ``max_minutes`` (None: no limit) is the whole run's budget.
    """

    def __init__(self, max_minutes: float | None) -> None:
        self.signal: str | None = None
        self.deadline = time.monotonic() + max_minutes * 60 if max_minutes else None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._request) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _request(self, signum: int, frame: object) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def poll(self, ctx: DistContext) -> str | None:
        """Rank 0's reason to stop now ("time limit", a signal name) on every rank, or None."""
        late = self.deadline is not None and time.monotonic() > self.deadline
        return broadcast_object(ctx, TIME_LIMIT if late else self.signal)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _progress(console: Console, ctx: DistContext) -> Progress:
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, disable=not ctx.is_main)


def _save(
    model: EdgeSDSR,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    step: int,
    stage: Stage,
    stage_dir: Path,
    calibrate: HRCropSampler | None,
    ctx: DistContext,
    extra_state: dict,
) -> None:
    """Rank 0 writes weights and training state (every rank's generator); others wait.

    The autoencoder stage also sets latent_scaling = 1 / std(latent), as SD did.
    """
    generators = gather_objects(ctx, gen.get_state())
    if ctx.is_main:
        if calibrate is not None:
            std = latent_std(model, calibrate, ctx.device)
            model.latent_scaling = 1.0 / std
        model.save_pretrained(stage_dir, extra={"stage": stage.value, "step": step})
        state = {
            "stage": stage.value,
            "step": step,
            "optimizer": opt.state_dict(),
            "generators": generators,
            **extra_state,
        }
        with atomic_path(stage_dir / STATE_NAME) as tmp:
            torch.save(state, tmp)
    barrier(ctx)
    if calibrate is not None:
        model.latent_scaling = broadcast_object(ctx, model.latent_scaling)


def _holdout_set(
    recipe: RecipeConfig, held_out: list[Path], out_dir: Path, console: Console, ctx: DistContext
) -> Path:
    """``<out>/val``: the held-out photos' centre crops, degraded once (made on the first run only)."""
    val_dir = out_dir / "val"
    if ctx.is_main and not val_dir.is_dir():
        with atomic_dir(val_dir) as tmp:
            count = make_holdout_pairs(
                held_out, tmp, recipe.val_crop, recipe.max_side, recipe.degradation, recipe.seed
            )
        console.print(f"validation: {count} held-out photos, {recipe.val_crop} px crops, in {val_dir}")
    barrier(ctx)
    return val_dir


def _blend_output(start: Path, tuned: Path, alpha: float, console: Console, ctx: DistContext) -> Path:
    """``<tuned>-blend``: the stage's weights interpolated with its start (rewritten on every run,
    so a changed ``blend`` in the recipe takes effect on ``--resume`` without retraining)."""
    out = tuned.with_name(f"{tuned.name}-blend")
    if ctx.is_main:
        blend_checkpoints(start, tuned, alpha, out)
        console.print(f"{tuned.name}: blended {alpha:g} with {start} into {out}", highlight=False)
    barrier(ctx)
    return out


def run_recipe(
    recipe: RecipeConfig,
    folders: list[Path],
    out_dir: Path,
    resume: bool,
    max_minutes: float | None,
    console: Console,
    sd_vae: Path | None = None,
    ctx: DistContext | None = None,
    tensorboard: bool = False,
    workers: int | None = None,
) -> Path | None:
    """Run the stages in order; returns the final checkpoint folder, or None if stopped early.

    ``recipe.init_checkpoint`` makes the first stage a fine-tune of that checkpoint. With
    ``recipe.holdout`` the held-out photos are left out of training and become ``<out>/val``.
    With ``sd_vae`` (a local SD v1.5 VAE) the model starts from ``<out>/init``, whose HR
    encoder holds SD's weights; the autoencoder stage is then skipped and the compact
    decoder is trained by the decoder stage on the one-step latents. ``workers``: DataLoader
    worker processes per rank for crops and degradations (None: ``default_workers`` of the device).
    """
    ctx = ctx or DistContext(0, 1, torch.device("cpu"))
    workers = default_workers(ctx.device) if workers is None else workers
    if sd_vae is not None and recipe.init_checkpoint is not None:
        raise ToolchainError(
            "--sd-vae starts a run from SD's VAE; this recipe's init_checkpoint starts it instead"
        )
    check_blend_start(recipe, from_sd_vae=sd_vae is not None)
    if sd_vae is not None:
        resolve_sd_vae_file(sd_vae)  # fail before the data is loaded
    fresh = not (out_dir.is_dir() and any(out_dir.iterdir()))
    if not broadcast_object(ctx, fresh) and not resume:
        raise ToolchainError(
            f"{out_dir} already holds a training run; pass --resume to continue it or pick another --out"
        )
    barrier(ctx)
    _make_run_folder(out_dir)
    log = RunLog(out_dir, tensorboard and ctx.is_main)
    try:
        with StopRequest(max_minutes) as stop:
            return _run_stages(recipe, folders, out_dir, sd_vae, stop, console, ctx, log, workers)
    finally:
        log.close()


def _make_run_folder(out_dir: Path) -> None:
    """``--out`` created and writable, or one line naming it (a read-only or vanished folder)."""
    check_writable_folder(out_dir, "; pick a writable --out")
    out_dir.mkdir(parents=True, exist_ok=True)


def _run_stages(
    recipe: RecipeConfig,
    folders: list[Path],
    out_dir: Path,
    sd_vae: Path | None,
    stop: StopRequest,
    console: Console,
    ctx: DistContext,
    log: RunLog,
    workers: int,
) -> Path | None:
    """The data, the held-out set, then each stage from the previous one's checkpoint (and blend)."""
    held_out = holdout_paths(folders, recipe.holdout)
    data = HRCropSampler.from_folders(folders, recipe.hr_crop, recipe.max_side, console, frozenset(held_out))
    data = data.shard(ctx.rank, ctx.world_size)
    console.print(f"training data: {len(data.images)} images from {', '.join(map(str, folders))}")
    if held_out:
        val_dir = _holdout_set(recipe, held_out, out_dir, console, ctx)
        recipe = dataclasses.replace(recipe, val_data=str(val_dir))
    previous = Path(recipe.init_checkpoint) if recipe.init_checkpoint is not None else None
    if sd_vae is not None:
        previous = out_dir / "init"
        if ctx.is_main and not (previous / WEIGHTS_NAME).is_file():
            model = init_model(recipe)
            console.print(load_sd_vae(model, sd_vae).summary(), highlight=False)
            model.save_pretrained(previous, extra={"sd_vae": str(sd_vae)})
        barrier(ctx)
    for stage_cfg in recipe.stages:
        if sd_vae is not None and stage_cfg.stage is Stage.AUTOENCODER:
            console.print("autoencoder: skipped (the HR encoder comes from --sd-vae)")
            continue
        if reason := stop.poll(ctx):  # a request made between stages, or the time already spent
            console.print(f"stopped before the {stage_cfg.stage.value} stage ({reason}); rerun with --resume")
            return _stopped(reason)
        run = StageRun(recipe, stage_cfg, data, out_dir, previous, stop, console, ctx, log, workers)
        if not run_stage(run):
            return _stopped(stop.poll(ctx))
        start = previous
        if stage_cfg.stage is not Stage.TEACHER:  # the teacher is a side model, not the student's chain
            previous = out_dir / stage_cfg.stage.value
        blend = stage_cfg.adversarial.blend if stage_cfg.adversarial is not None else 1.0
        if blend < 1.0:
            assert start is not None and previous is not None  # RecipeConfig: a start to blend with
            previous = _blend_output(start, previous, blend, console, ctx)
    if (reason := stop.poll(ctx)) not in (None, TIME_LIMIT):  # during the last step, save or validation
        console.print(f"stopped after the last stage ({reason}); every checkpoint is complete")
        return _stopped(reason)
    return previous


def _stopped(reason: str | None) -> None:
    """The end of a stopped run: None for the time limit, :class:`TrainingInterrupted` for a signal."""
    if reason is not None and reason != TIME_LIMIT:
        raise TrainingInterrupted(reason)
    return None
