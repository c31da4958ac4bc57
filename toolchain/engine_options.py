"""How a checkpoint is run on the host: which engine (``--engine``) and which latent noise
(``--noise-scale``, ``--seed``).

Plain values, apart from the engines themselves (:mod:`toolchain.engines`) and the tile loop
(:mod:`toolchain.upscaler`): this module imports no torch, so the CLI builds and checks these
options before torch loads.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolchain.errors import ToolchainError

if TYPE_CHECKING:
    import torch


class Engine(enum.StrEnum):
    """``--engine``: what runs the checkpoint on the host (see :mod:`toolchain.engines`)."""

    AUTO = "auto"
    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"
    TORCH_REFERENCE = "torch-reference"


def resolve_engine(engine: Engine, device: torch.device | str) -> Engine:
    """``auto`` -> ``onnxruntime`` on the CPU, ``torch`` elsewhere; ``onnxruntime`` needs the CPU.

    ``device`` is a torch device or its name (``cpu``, ``cuda:1``).
    """
    on_cpu = str(device).partition(":")[0] == "cpu"
    if engine is Engine.AUTO:
        return Engine.ONNXRUNTIME if on_cpu else Engine.TORCH
    if engine is Engine.ONNXRUNTIME and not on_cpu:
        raise ToolchainError(
            f"--engine onnxruntime runs on the CPU only, not --device {device}; "
            "use --engine torch (or auto) on a GPU"
        )
    return engine


MAX_NOISE_SCALE = 1.0  # 1 draws z_1 exactly as training's forward process does at t = 1


@dataclass(frozen=True)
class NoiseConfig:
    """Latent noise at t = 1. scale 0 (default) is deterministic: eps = 0."""

    scale: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.scale) or not 0.0 <= self.scale <= MAX_NOISE_SCALE:
            raise ToolchainError(
                f"--noise-scale must be a finite number from 0 to {MAX_NOISE_SCALE:g}, got {self.scale}"
            )
