"""The full Edge-SD-SR model and its checkpoint format.

A checkpoint is a folder: ``config.json`` (format version, toolchain version, the full
ModelConfig under "model", and "weights_sha256", the sha256 of the weights file) and
``model.safetensors`` with prefixed keys (``lr_encoder.``, ``unet.``, ``decoder.``,
``hr_encoder.``). Loading is strict: the hash must match (checkpoints written before it existed
have none and still load) and every weight must be finite.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from toolchain import __version__
from toolchain.atomic import atomic_dir
from toolchain.configio import from_dict, read_json, to_dict
from toolchain.diffusion.forward import Conditioning
from toolchain.errors import ToolchainError
from toolchain.hashing import sha256_file
from toolchain.model.autoencoder import Decoder, HREncoder
from toolchain.model.config import LREncoderKind, LRSkip, ModelConfig
from toolchain.model.lr_encoder import LREncoder
from toolchain.model.lr_skip import LRSkipUpsample
from toolchain.model.unet import UNet

CHECKPOINT_FORMAT = 1
CONFIG_NAME = "config.json"
HASH_KEY = "weights_sha256"
WEIGHTS_NAME = "model.safetensors"
INFERENCE_COMPONENTS = ("lr_encoder", "unet", "decoder")
TRAINING_ONLY_COMPONENTS = ("hr_encoder",)
RESIDUAL_INIT_SCALE = 0.01  # the decoder's output layer at init, relative to PyTorch's default


class EdgeSDSR(nn.Module):
    """LR encoder + UNet + decoder (deployed) and the HR encoder (training only).

    Images inside the model are in [-1, 1], NCHW. Latents are scaled (z = scaling * mean).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._config = config  # never replaced: the architecture is fixed at construction
        self.latent_scaling = config.latent_scaling  # model state: training calibrates it
        c = config.latent_channels
        unet_in = c if config.conditioning is Conditioning.BIDIRECTIONAL else 2 * c
        self.lr_encoder = LREncoder(config.lr_encoder, c, config.scale)
        self.unet = UNet(config.unet, unet_in, c)
        self.decoder = Decoder(config.decoder, c, config.scale)
        self.hr_encoder = HREncoder(config.hr_encoder, c)
        self.lr_skip = None if config.lr_skip is LRSkip.NONE else LRSkipUpsample(config.lr_skip, config.scale)
        if self.lr_skip is not None:
            # The residual starts near 0 (an untrained model is about the skip itself), but not at
            # exactly 0: with a zero output layer the layers below get no gradient at all.
            with torch.no_grad():
                self.decoder.output_layer.weight.mul_(RESIDUAL_INIT_SCALE)
                self.decoder.output_layer.bias.zero_()

    @property
    def config(self) -> ModelConfig:
        """The architecture it was built with, carrying the current :attr:`latent_scaling`."""
        if self.latent_scaling == self._config.latent_scaling:
            return self._config
        return dataclasses.replace(self._config, latent_scaling=self.latent_scaling)

    def encode_lr(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LR [-1, 1] (B, 3, H, W) -> (z_l_mu, z_l_sigma), each (B, C, H*scale/8, W*scale/8).

        ``lr_encoder.kind = frozen_hr_encoder`` (ablation) encodes the bicubic-upsampled LR with
        the HR encoder instead; ``lr_encoder.variance = false`` (ablation) fixes z_l_sigma = 1.
        """
        cfg = self.config.lr_encoder
        if cfg.kind is LREncoderKind.FROZEN_HR_ENCODER:
            up = F.interpolate(lr, scale_factor=float(self.config.scale), mode="bicubic", align_corners=False)
            z_l_mu = self.encode_hr(up.clamp(-1.0, 1.0))
            z_l_sigma = torch.full_like(z_l_mu, 1.0)
        else:
            z_l_mu, z_l_sigma = self.lr_encoder(lr)
        if not cfg.variance:
            z_l_sigma = torch.ones_like(z_l_sigma)
        return z_l_mu, z_l_sigma

    def encode_hr(self, hr: torch.Tensor) -> torch.Tensor:
        """HR [-1, 1] (B, 3, 8h, 8w) -> z_h (B, C, h, w), scaled."""
        return self.hr_encoder(hr) * self.latent_scaling

    def denoise(self, unet_in: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict z_h from the UNet input at time t (B,)."""
        return self.unet(unet_in, t)

    def decode(self, z_h: torch.Tensor, lr: torch.Tensor | None = None) -> torch.Tensor:
        """Scaled latent (and, with ``lr_skip`` or ``decoder.lr_guide``, the LR image in [0, 1])
        -> image in about [-1, 1].

        The LR skip (model/lr_skip.py) adds a fixed x scale upsampling of the LR image, so the
        decoder only has to produce the residual; the LR guide feeds the LR into the decoder.
        """
        if lr is None and self.decode_needs_lr:
            raise ValueError(f"preset '{self.config.name}' has lr_skip or lr_guide: decode() needs the LR")
        guide_lr = lr * 2.0 - 1.0 if self.decoder.lr_guide is not None else None
        image = self.decoder(z_h / self.latent_scaling, guide_lr)
        if self.lr_skip is None:
            return image
        return image + self.lr_skip(lr)

    @property
    def decode_needs_lr(self) -> bool:
        return self.lr_skip is not None or self.decoder.lr_guide is not None

    def component_params(self) -> dict[str, int]:
        names = INFERENCE_COMPONENTS + TRAINING_ONLY_COMPONENTS
        return {n: sum(p.numel() for p in getattr(self, n).parameters()) for n in names}

    def save_pretrained(self, path: Path, extra: dict | None = None) -> None:
        """Write config.json + model.safetensors atomically (a temp folder, then rename)."""
        save_checkpoint(path, self.config, self.state_dict(), extra)

    @classmethod
    def from_pretrained(cls, path: Path, map_location: str = "cpu") -> EdgeSDSR:
        config = read_checkpoint_config(path)
        model = cls(config)
        weights = Path(path) / WEIGHTS_NAME
        check_weights_hash(Path(path))
        model.load_state_dict_strict(load_weights(weights, map_location), str(path))
        return model

    def load_state_dict_strict(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load weights, failing with one line on missing/unexpected keys or shape mismatches."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
        if missing or unexpected or shapes:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
            if shapes:
                k = shapes[0]
                parts.append(
                    f"{len(shapes)} with other shapes (e.g. {k}: {tuple(state[k].shape)} "
                    f"vs {tuple(own[k].shape)} for preset '{self.config.name}')"
                )
            raise ToolchainError(
                f"weights in {source} do not match the '{self.config.name}' architecture: "
                + "; ".join(parts)
                + "; use the checkpoint's own config.json or the matching --preset"
            )
        broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if broken:
            raise ToolchainError(
                f"weights in {source} hold NaN/Inf values ({len(broken)} tensor(s), e.g. {broken[0]}); "
                "the checkpoint is corrupt: use an earlier checkpoint or retrain"
            )
        self.load_state_dict(state)


def read_checkpoint_config(path: Path) -> ModelConfig:
    path = Path(path)
    if not path.exists():
        raise ToolchainError(
            f"checkpoint {path} does not exist; pass --checkpoint DIR "
            f"(a folder with {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    if not path.is_dir():
        raise ToolchainError(
            f"checkpoint {path} is a file; a checkpoint is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            raise ToolchainError(
                f"checkpoint {path} has no {name}; run `toolchain train` or pass --checkpoint DIR"
            )
    data = read_json(path / CONFIG_NAME)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT or "model" not in data:
        raise ToolchainError(
            f"{path / CONFIG_NAME} is not an Edge-SD-SR checkpoint config (format {CHECKPOINT_FORMAT})"
        )
    return from_dict(ModelConfig, data["model"], where=f"{path / CONFIG_NAME}:model")


def check_weights_hash(path: Path) -> None:
    """Compare the weights file with config.json's "weights_sha256" (absent in old checkpoints: skipped)."""
    expected = read_json(path / CONFIG_NAME).get(HASH_KEY)
    if expected is None:
        return
    try:
        actual = sha256_file(path / WEIGHTS_NAME)
    except OSError as exc:
        raise ToolchainError(f"cannot read weights {path / WEIGHTS_NAME}: {exc.strerror or exc}") from None
    if actual != expected:
        raise ToolchainError(
            f"{path / WEIGHTS_NAME} does not match the sha256 in {path / CONFIG_NAME} (changed or "
            "corrupted after saving); restore the checkpoint or use another --checkpoint"
        )


def load_weights(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ToolchainError(f"cannot read weights {path}: {str(exc).splitlines()[0]}") from None


def save_checkpoint(
    path: Path, config: ModelConfig, state: dict[str, torch.Tensor], extra: dict | None = None
) -> None:
    """Write a checkpoint folder atomically: build it beside the target, then rename.

    A failure (disk full, interruption) leaves any previous checkpoint at ``path`` intact.
    """
    meta = {"format": CHECKPOINT_FORMAT, "toolchain_version": __version__, "model": to_dict(config)}
    clash = sorted((set(meta) | {HASH_KEY}) & set(extra or {}))
    if clash:
        raise ValueError(f"extra must not set {', '.join(clash)}: they describe the checkpoint itself")
    meta.update(extra or {})
    with atomic_dir(path, "; the previous checkpoint is unchanged") as tmp:
        tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": str(CHECKPOINT_FORMAT)})
        meta[HASH_KEY] = sha256_file(tmp / WEIGHTS_NAME)
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
