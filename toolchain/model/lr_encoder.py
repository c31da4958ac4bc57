"""The tiny asymmetric LR encoder (Edge-SD-SR idea 2).

It maps the LR tile straight to the latent grid (``lr_tile * scale / 8`` per side: 128x128 ->
64x64 for the x4 models, only one 2x downsampling, so it can be small) and outputs the LR
latent z_l = <z_l_mu, z_l_sigma>.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolchain.model.blocks import Downsample, ResnetBlock
from toolchain.model.config import LREncoderConfig


class LREncoder(nn.Module):
    """LR image in [-1, 1], (B, 3, H, W) -> (z_l_mu, z_l_sigma), each (B, C, H*scale/8, W*scale/8).

    At x4 one stride-2 stage reaches the latent grid. A x2 model (the scale-distillation
    teacher) first folds 2x2 pixels into channels (pixel-unshuffle), so the same network
    lands on the same grid. z_l_sigma = softplus(raw) + sigma_floor is strictly positive.
    """

    def __init__(self, cfg: LREncoderConfig, latent_channels: int, scale: int = 4) -> None:
        super().__init__()
        c_lr, c_lat = cfg.channels
        g = cfg.norm_groups
        self.sigma_floor = cfg.sigma_floor
        self.unshuffle = 4 // scale
        self.conv_in = nn.Conv2d(3 * self.unshuffle**2, c_lr, 3, padding=1)
        self.lr_blocks = nn.ModuleList(ResnetBlock(c_lr, c_lr, g) for _ in range(cfg.layers_per_block))
        self.downsample = Downsample(c_lr)
        self.latent_blocks = nn.ModuleList(
            ResnetBlock(c_lr if i == 0 else c_lat, c_lat, g) for i in range(cfg.layers_per_block)
        )
        self.conv_norm_out = nn.GroupNorm(g, c_lat, eps=1e-6)
        self.conv_out = nn.Conv2d(c_lat, 2 * latent_channels, 3, padding=1)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.unshuffle > 1:
            lr = F.pixel_unshuffle(lr, self.unshuffle)
        x = self.conv_in(lr)
        for block in self.lr_blocks:
            x = block(x)
        x = self.downsample(x)
        for block in self.latent_blocks:
            x = block(x)
        mu, raw_sigma = self.conv_out(F.silu(self.conv_norm_out(x))).chunk(2, dim=1)
        return mu, F.softplus(raw_sigma) + self.sigma_floor
