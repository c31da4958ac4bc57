"""SD-style denoising UNet without text cross-attention.

ResNet blocks (GroupNorm + SiLU) with a timestep embedding, self-attention at the
levels the config marks (low resolutions), skip connections by concatenation as in
SD v1.5. It predicts z_h (x0-prediction). In bidirectional mode it sees only z_t; in
unidirectional mode its input is concat[z_t, z_l_mu] (twice the latent channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolchain.model.blocks import (
    Attention,
    Downsample,
    MidBlock,
    ResnetBlock,
    Upsampler,
    timestep_embedding,
)
from toolchain.model.config import UNetConfig


class _Level(nn.Module):
    """ResNet blocks, each optionally followed by self-attention."""

    def __init__(self, in_chs: list[int], out_ch: int, cfg: UNetConfig, attn: bool, temb: int) -> None:
        super().__init__()
        g = cfg.norm_groups
        self.resnets = nn.ModuleList(ResnetBlock(c, out_ch, g, temb) for c in in_chs)
        self.attentions = nn.ModuleList(Attention(out_ch, g, cfg.attention_head_dim) for _ in in_chs if attn)


class UNet(nn.Module):
    """(z, t) -> predicted z_h. z: (B, in_channels, h, w); t: (B,) in [0, 1]."""

    def __init__(self, cfg: UNetConfig, in_channels: int, out_channels: int) -> None:
        super().__init__()
        ch = cfg.block_channels
        n = cfg.layers_per_block
        self.embed_dim = ch[0]
        temb = 4 * ch[0]
        self.time_embedding = nn.Sequential(nn.Linear(ch[0], temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(in_channels, ch[0], 3, padding=1)

        self.down_blocks = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skips = [ch[0]]
        for i, c in enumerate(ch):
            in_chs = [ch[max(i - 1, 0)]] + [c] * (n - 1)
            self.down_blocks.append(_Level(in_chs, c, cfg, cfg.attention[i], temb))
            skips += [c] * n
            if i < len(ch) - 1:
                self.downsamplers.append(Downsample(c))
                skips.append(c)

        self.mid_block = MidBlock(ch[-1], cfg.norm_groups, cfg.attention_head_dim, True, temb)

        self.up_blocks = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        prev = ch[-1]
        for i, c in reversed(list(enumerate(ch))):
            in_chs = []
            for _ in range(n + 1):
                in_chs.append(prev + skips.pop())
                prev = c
            self.up_blocks.append(_Level(in_chs, c, cfg, cfg.attention[i], temb))
            if i > 0:
                self.upsamplers.append(Upsampler(c, cfg.upsample))

        self.conv_norm_out = nn.GroupNorm(cfg.norm_groups, ch[0], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[0], out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_embedding(timestep_embedding(t, self.embed_dim))
        x = self.conv_in(z)
        skips = [x]
        for i, level in enumerate(self.down_blocks):
            for j, block in enumerate(level.resnets):
                x = block(x, temb)
                if level.attentions:
                    x = level.attentions[j](x)
                skips.append(x)
            if i < len(self.downsamplers):
                x = self.downsamplers[i](x)
                skips.append(x)
        x = self.mid_block(x, temb)
        for i, level in enumerate(self.up_blocks):
            for j, block in enumerate(level.resnets):
                x = block(torch.cat([x, skips.pop()], dim=1), temb)
                if level.attentions:
                    x = level.attentions[j](x)
            if i < len(self.upsamplers):
                x = self.upsamplers[i](x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))
