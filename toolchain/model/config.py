"""Architecture configs. A preset is one complete JSON file in models/presets/."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from toolchain.configio import from_dict, read_json
from toolchain.diffusion.forward import Conditioning
from toolchain.errors import ToolchainError

PRESETS_DIR = Path(__file__).resolve().parents[2] / "models" / "presets"


class LRSkip(enum.StrEnum):
    """The fixed LR upsampling the decoder output is added to (model/lr_skip.py)."""

    NONE = "none"  # the decoder produces the whole image
    BILINEAR = "bilinear"  # one RESIZE_BILINEAR op
    BICUBIC = "bicubic"  # Keys a = -0.5 as the eval sets' bicubic baseline, as conv + depth-to-space


class Upsample(enum.StrEnum):
    """2x upsampling operator in decoder and UNet."""

    NEAREST = "nearest"  # SD v1.5 layout: nearest resize then 3x3 conv
    PIXEL_SHUFFLE = "pixel_shuffle"  # 3x3 conv to 4C then depth-to-space (NPU friendly)


def _check_groups(where: str, channels: tuple[int, ...], groups: int) -> None:
    if groups < 1:
        raise ValueError(f"{where}: norm_groups must be >= 1, got {groups}")
    for c in channels:
        if c % groups:
            raise ValueError(f"{where}: channels {c} not divisible by norm_groups {groups}")


class LREncoderKind(enum.StrEnum):
    """Where the LR latent comes from (the paper's joint-training ablation)."""

    LEARNED = "learned"  # the tiny LR encoder, trained jointly through the diffusion loss
    FROZEN_HR_ENCODER = "frozen_hr_encoder"  # SD-SR style: frozen HR encoder on the bicubic-upsampled LR


@dataclass(frozen=True)
class LREncoderConfig:
    """Tiny LR encoder: an LR tile -> z_l_mu, z_l_sigma on the latent grid, each latent_channels x
    latent_size x latent_size (lr_tile * scale / 8 per side: 128x128 -> 64x64 for nano)."""

    channels: tuple[int, ...]  # width at LR resolution, then at latent resolution
    layers_per_block: int
    norm_groups: int
    sigma_floor: float  # z_l_sigma = softplus(.) + sigma_floor
    variance: bool = True  # False: z_l_sigma = 1 (no variance conditioning, an ablation)
    kind: LREncoderKind = LREncoderKind.LEARNED

    def __post_init__(self) -> None:
        if len(self.channels) != 2:
            raise ValueError(f"lr_encoder.channels needs 2 entries (LR, latent), got {self.channels}")
        if self.sigma_floor < 0:
            raise ValueError(f"lr_encoder.sigma_floor must be >= 0, got {self.sigma_floor}")
        if self.layers_per_block < 1:
            raise ValueError(f"lr_encoder.layers_per_block must be >= 1, got {self.layers_per_block}")
        _check_groups("lr_encoder", self.channels, self.norm_groups)


@dataclass(frozen=True)
class UNetConfig:
    """SD-style UNet without text cross-attention, at the latent resolution."""

    block_channels: tuple[int, ...]
    layers_per_block: int
    attention: tuple[bool, ...]  # self-attention per level (True at low resolutions)
    attention_head_dim: int
    norm_groups: int
    upsample: Upsample

    def __post_init__(self) -> None:
        if not self.block_channels or self.layers_per_block < 1 or self.attention_head_dim < 1:
            raise ValueError("unet needs block_channels, layers_per_block >= 1 and attention_head_dim >= 1")
        if len(self.attention) != len(self.block_channels):
            raise ValueError(
                f"unet.attention has {len(self.attention)} entries, "
                f"block_channels has {len(self.block_channels)}"
            )
        _check_groups("unet", self.block_channels, self.norm_groups)
        for c in self.block_channels:
            if c % self.attention_head_dim:
                raise ValueError(f"unet: channels {c} not divisible by attention_head_dim")


@dataclass(frozen=True)
class AutoencoderConfig:
    """One half of an SD v1.5-layout VAE (encoder or decoder), diffusers parameter names."""

    block_channels: tuple[int, ...]
    layers_per_block: int
    norm_groups: int
    mid_attention: bool
    upsample: Upsample  # decoder only; ignored by the encoder
    lr_guide: int = 0  # decoder only: width of the LR guide branch (autoencoder.LRGuide); 0 = off

    def __post_init__(self) -> None:
        _check_groups("autoencoder", self.block_channels, self.norm_groups)
        if self.lr_guide < 0:
            raise ValueError(f"lr_guide must be >= 0 (0 = off), got {self.lr_guide}")
        if self.lr_guide:
            _check_groups("autoencoder.lr_guide", (self.lr_guide,), self.norm_groups)


@dataclass(frozen=True)
class ModelConfig:
    """A complete Edge-SD-SR architecture."""

    name: str
    scale: int
    lr_tile: int  # LR tile side the graphs are built for (static shapes)
    latent_channels: int
    latent_scaling: float  # z_h = latent_scaling * HR-encoder mean (SD v1.5: 0.18215)
    conditioning: Conditioning
    lr_skip: LRSkip  # decoder output is added to this upsampling (x scale) of the LR image
    lr_encoder: LREncoderConfig
    unet: UNetConfig
    hr_encoder: AutoencoderConfig
    decoder: AutoencoderConfig

    def __post_init__(self) -> None:
        if self.scale not in (2, 4):
            raise ValueError(f"scale must be 4 (or 2 for a distillation teacher), got {self.scale}")
        step = 8 // self.scale  # LR pixels per latent pixel
        if self.lr_tile < step or self.lr_tile % step or self.latent_channels < 1:
            raise ValueError(
                f"lr_tile must be a positive multiple of {step} and latent_channels >= 1, "
                f"got {self.lr_tile}, {self.latent_channels}"
            )
        if self.hr_encoder.layers_per_block < 1 or self.decoder.layers_per_block < 0:
            raise ValueError("hr_encoder.layers_per_block must be >= 1 and decoder.layers_per_block >= 0")
        factor = 2 ** (len(self.unet.block_channels) - 1)
        if self.latent_size % factor:
            raise ValueError(f"latent size {self.latent_size} not divisible by UNet factor {factor}")
        if (
            2 ** (len(self.hr_encoder.block_channels) - 1) != 8
            or 2 ** (len(self.decoder.block_channels) - 1) != 8
        ):
            raise ValueError("hr_encoder and decoder need 4 levels (f=8, as SD v1.5)")
        if self.hr_encoder.lr_guide:
            raise ValueError("lr_guide is a decoder switch; the hr_encoder has none")

    @property
    def latent_size(self) -> int:
        """Side of the latent grid (64 for a 128 LR tile at x4, or a 256 tile at x2)."""
        return self.lr_tile * self.scale // 8

    @property
    def hr_tile(self) -> int:
        return self.lr_tile * self.scale


def load_model_config(path: Path) -> ModelConfig:
    """Read a preset / checkpoint config JSON into a validated ModelConfig."""
    return from_dict(ModelConfig, read_json(path), where=str(path))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> ModelConfig:
    """A preset by name (models/presets/<name>.json), or any preset file by its .json path."""
    if name.endswith(".json"):
        return load_model_config(Path(name))
    path = PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        raise ToolchainError(f"unknown preset '{name}' (available: {', '.join(preset_names())})")
    return load_model_config(path)
