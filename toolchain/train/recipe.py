"""Training recipe config: the data, the preset, and the ordered stages."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.configio import from_dict, read_json
from toolchain.data.degradations import DegradationConfig
from toolchain.diffusion.schedule import ScheduleConfig
from toolchain.errors import ToolchainError
from toolchain.model.config import load_preset
from toolchain.train.adversarial import AdversarialConfig


class Stage(enum.StrEnum):
    AUTOENCODER = "autoencoder"  # HR encoder + decoder as an autoencoder (when no SD VAE is given)
    JOINT = "joint"  # UNet + LR encoder, bidirectional diffusion loss, frozen HR encoder
    TEACHER = "teacher"  # YONOS: the same joint training of a x2 model (teacher_preset)
    DISTILL = "distill"  # YONOS: the x4 student matches the x2 teacher's predictions
    DECODER = "decoder"  # decoder fine-tuned on the one-step output latents
    ADVERSARIAL = "adversarial"  # one-step model vs a patch discriminator (train/adversarial.py)


COMPONENTS = ("hr_encoder", "lr_encoder", "unet", "decoder")  # what a stage's ``trainable`` may name


@dataclass(frozen=True)
class StageConfig:
    stage: Stage
    steps: int
    learning_rate: float
    batch_size: int
    save_every: int = 200
    grad_accum: int = 1  # micro-batches per optimizer step (global batch = batch_size x ranks x this)
    warmup_steps: int = 50  # linear warm-up, then cosine decay to min_lr_ratio * learning_rate
    min_lr_ratio: float = 0.1
    trainable: tuple[str, ...] | None = None  # components trained (None: the stage's default)
    clean_prob: float | None = None  # overrides degradation.clean_prob for this stage
    adversarial: AdversarialConfig | None = None  # loss settings; only for the adversarial stage
    sharpen_target: float = 0.0  # USM amount on the HR target of the L1 terms (train/sharpen.py; 0: off)
    ema_decay: float = 0.0  # the stage saves the EMA of its weights with this decay (train/ema.py; 0: off)

    def learning_rate_at(self, step: int) -> float:
        """Learning rate for 0-based ``step``: a pure function of the step, so resume is exact."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return self.learning_rate * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.save_every, self.grad_accum) < 1:
            raise ValueError(f"{self.stage.value}: steps, batch_size, save_every and grad_accum must be >= 1")
        if self.learning_rate <= 0:
            raise ValueError(f"{self.stage.value}: learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"{self.stage.value}: need warmup_steps >= 0 and min_lr_ratio in [0, 1]")
        if self.trainable is not None and (not self.trainable or set(self.trainable) - set(COMPONENTS)):
            raise ValueError(f"{self.stage.value}: trainable must name some of {', '.join(COMPONENTS)}")
        if self.clean_prob is not None and not 0.0 <= self.clean_prob <= 1.0:
            raise ValueError(f"{self.stage.value}: clean_prob must be in [0, 1], got {self.clean_prob}")
        if self.adversarial is not None and self.stage is not Stage.ADVERSARIAL:
            raise ValueError(f"{self.stage.value}: 'adversarial' settings belong to the adversarial stage")
        if self.sharpen_target and self.stage not in (Stage.DECODER, Stage.ADVERSARIAL):
            raise ValueError(f"{self.stage.value}: sharpen_target is for the decoder and adversarial stages")
        if not 0.0 <= self.sharpen_target <= 2.0:
            raise ValueError(f"{self.stage.value}: sharpen_target must be in [0, 2]: {self.sharpen_target}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"{self.stage.value}: ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.ema_decay and self.stage is Stage.AUTOENCODER:
            raise ValueError("autoencoder: ema_decay is for the later stages (this one calibrates latents)")
        if self.adversarial is not None and self.adversarial.artifact_weight and not self.ema_decay:
            raise ValueError(
                f"{self.stage.value}: artifact_weight (LDL) compares with the weight EMA; set ema_decay"
            )

    def degradation_for(self, recipe_degradation: DegradationConfig) -> DegradationConfig:
        """The recipe's degradation with this stage's ``clean_prob`` override (a curriculum)."""
        if self.clean_prob is None:
            return recipe_degradation
        return dataclasses.replace(recipe_degradation, clean_prob=self.clean_prob)


@dataclass(frozen=True)
class RecipeConfig:
    preset: str  # a preset name (models/presets) or a preset .json path relative to the recipe
    train_data: tuple[str, ...]  # folders of HR images; relative paths are relative to the recipe
    stages: tuple[StageConfig, ...]
    hr_crop: int = 128  # HR crop side in px (LR crop = hr_crop / 4)
    max_side: int = 1024  # larger training photos are downscaled to this longer side at load
    seed: int = 0
    latent_reg: float = 1e-4  # autoencoder: L2 pull of the latent towards 0 (keeps its scale bounded)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig.bicubic)
    init_autoencoder: str | None = None  # checkpoint whose HR encoder + decoder start the run
    init_checkpoint: str | None = None  # checkpoint (all components) the first stage starts from: a fine-tune
    teacher_preset: str | None = None  # the x2 preset trained by the teacher stage (e.g. nano-x2)
    val_data: str | None = None  # paired HR/ + LR/ folder scored (PSNR-Y, SSIM-Y) at every save
    val_images: int = 8  # at most this many validation pairs
    holdout: int = 0  # training photos held out as the validation set <out>/val (overrides val_data)
    val_crop: int = 512  # HR side of each held-out validation crop (one 128 px LR tile)
    val_niqe: str | None = None  # NIQE pristine-model .npz: validation also logs NIQE (lower is sharper)

    def __post_init__(self) -> None:
        if self.hr_crop % 32:
            raise ValueError(f"hr_crop must be a multiple of 32, got {self.hr_crop}")
        names = [s.stage for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("each stage may appear once")
        if Stage.DISTILL in names and (
            Stage.TEACHER not in names or names.index(Stage.TEACHER) > names.index(Stage.DISTILL)
        ):
            raise ValueError("the distill stage needs a teacher stage before it")
        if (Stage.TEACHER in names) != (self.teacher_preset is not None):
            raise ValueError("teacher_preset and a teacher stage go together")
        if self.init_checkpoint is not None and self.init_autoencoder is not None:
            raise ValueError("init_checkpoint already holds an autoencoder; drop init_autoencoder")
        if self.holdout < 0 or self.val_crop % 32 or self.val_crop < 32:
            raise ValueError("holdout must be >= 0 and val_crop a positive multiple of 32")
        if self.val_niqe is not None and self.val_crop < 192:
            raise ValueError(f"val_niqe needs val_crop >= 192 (2x2 NIQE blocks), got {self.val_crop}")


def check_blend_start(recipe: RecipeConfig, from_sd_vae: bool) -> None:
    """Refuse a first stage whose ``blend`` would have no start to mix back.

    Its start is ``init_checkpoint``, or ``<out>/init`` with ``--sd-vae`` (whose run skips the
    autoencoder stage); a teacher stage is a side model, not a start.
    """
    skipped = {Stage.TEACHER} | ({Stage.AUTOENCODER} if from_sd_vae else set())
    first = next((s for s in recipe.stages if s.stage not in skipped), None)
    if first is None or first.adversarial is None or first.adversarial.blend == 1.0:
        return
    if recipe.init_checkpoint is None and not from_sd_vae:
        raise ToolchainError(
            f"the {first.stage.value} stage's blend mixes back the checkpoint it started from; "
            "put a stage or init_checkpoint before it"
        )


def load_recipe(path: Path) -> tuple[RecipeConfig, list[Path]]:
    """Parse a recipe JSON; returns the config and its data folders resolved to absolute paths.

    A value the training code sets itself is refused rather than silently overridden:
    ``degradation.scale`` is always the scale of the model being trained (x4, x2 teacher).
    """
    data = read_json(path)
    degradation = data.get("degradation") if isinstance(data, dict) else None
    if isinstance(degradation, dict) and "scale" in degradation:
        raise ToolchainError(
            f"{path}: degradation.scale is set by training (the trained model's scale: x4, x2 for the "
            "teacher); remove it from the recipe"
        )
    recipe = from_dict(RecipeConfig, data, where=str(path))
    folders = [(Path(path).parent / d).resolve() for d in recipe.train_data]
    for folder in folders:
        if not folder.is_dir():
            raise ToolchainError(f"{path}: train_data folder {folder} does not exist")
    for key in ("preset", "teacher_preset"):  # a preset may also be a .json path beside the recipe
        value = getattr(recipe, key)
        if value is not None and value.endswith(".json"):
            recipe = dataclasses.replace(recipe, **{key: str((Path(path).parent / value).resolve())})
    for key in ("preset", "teacher_preset"):  # an unknown or broken preset fails before anything is written
        if getattr(recipe, key) is not None:
            load_preset(getattr(recipe, key))
    for key in ("init_autoencoder", "init_checkpoint"):
        value = getattr(recipe, key)
        if value is not None:
            recipe = dataclasses.replace(recipe, **{key: str((Path(path).parent / value).resolve())})
    if recipe.val_niqe is not None:
        niqe = (Path(path).parent / recipe.val_niqe).resolve()
        if not niqe.is_file():
            raise ToolchainError(f"{path}: val_niqe {niqe} does not exist (the NIQE pristine-model .npz)")
        recipe = dataclasses.replace(recipe, val_niqe=str(niqe))
    if recipe.val_data is not None:
        val = (Path(path).parent / recipe.val_data).resolve()
        if not (val / "HR").is_dir() or not (val / "LR").is_dir():
            raise ToolchainError(f"{path}: val_data {val} needs HR/ and LR/ subfolders")
        recipe = dataclasses.replace(recipe, val_data=str(val))
    return recipe, folders
