"""Parameter and compute budget of a model config, measured on the meta device.

MACs come from ``torch.utils.flop_counter`` on one ``lr_tile`` LR tile through the
deployed one-step pipeline (LR encoder -> UNet -> decoder); it counts convolutions,
matmuls and attention (FLOPs = 2 x MACs), not norms or activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from toolchain.model.config import ModelConfig
from toolchain.model.edge_sdsr import INFERENCE_COMPONENTS, EdgeSDSR
from toolchain.pipeline import OneStepSR


@dataclass(frozen=True)
class BudgetReport:
    preset: str
    params: dict[str, int]  # per component, including the training-only HR encoder
    params_total: int  # deployed components: LR encoder + UNet + decoder
    macs_per_patch: int
    flops_per_patch: int
    macs_by_component: dict[str, int]
    lr_tile: list[int]  # [C, H, W]
    latent: list[int]
    hr_tile: list[int]


def measure_budget(config: ModelConfig) -> BudgetReport:
    with torch.device("meta"):
        model = EdgeSDSR(config)
        lr = torch.zeros(1, 3, config.lr_tile, config.lr_tile)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        OneStepSR(model)(lr)
    by_module = counter.get_flop_counts()
    macs_by = {
        name: sum(by_module.get(f"OneStepSR.model.{name}", {}).values()) // 2 for name in INFERENCE_COMPONENTS
    }
    params = model.component_params()
    total_flops = counter.get_total_flops()
    s = config.lr_tile
    return BudgetReport(
        preset=config.name,
        params=params,
        params_total=sum(params[n] for n in INFERENCE_COMPONENTS),
        macs_per_patch=total_flops // 2,
        flops_per_patch=total_flops,
        macs_by_component=macs_by,
        lr_tile=[3, s, s],
        latent=[config.latent_channels, config.latent_size, config.latent_size],
        hr_tile=[3, config.hr_tile, config.hr_tile],
    )
