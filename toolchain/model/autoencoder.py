"""HR encoder and compact decoder in the SD v1.5 VAE layout (f=8).

Parameter names follow diffusers' ``AutoencoderKL`` (``encoder.*``, ``quant_conv.*``,
``decoder.*``, ``post_quant_conv.*``), so a local SD v1.5 VAE loads into presets that
use SD's widths (see ``toolchain.model.sd_vae``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolchain.model.blocks import Downsample, MidBlock, ResnetBlock, Upsampler
from toolchain.model.config import AutoencoderConfig

ATTENTION_HEAD_DIM_VAE = 1 << 30  # the SD VAE's mid attention uses a single head


class _DownBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, layers: int, groups: int, down: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock(in_ch if i == 0 else out_ch, out_ch, groups) for i in range(layers)]
        )
        self.downsamplers = nn.ModuleList([Downsample(out_ch)] if down else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resnets:
            x = block(x)
        for down in self.downsamplers:
            x = down(x)
        return x


class _UpBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, layers: int, groups: int, up: Upsampler | None) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock(in_ch if i == 0 else out_ch, out_ch, groups) for i in range(layers)]
        )
        self.upsamplers = nn.ModuleList([up] if up is not None else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resnets:
            x = block(x)
        for up in self.upsamplers:
            x = up(x)
        return x


class _EncoderBody(nn.Module):
    def __init__(self, cfg: AutoencoderConfig, latent_channels: int) -> None:
        super().__init__()
        ch = cfg.block_channels
        g = cfg.norm_groups
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            _DownBlock(ch[max(i - 1, 0)], ch[i], cfg.layers_per_block, g, i < len(ch) - 1)
            for i in range(len(ch))
        )
        self.mid_block = MidBlock(ch[-1], g, ATTENTION_HEAD_DIM_VAE, cfg.mid_attention)
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class HREncoder(nn.Module):
    """HR image in [-1, 1], (B, 3, 8h, 8w) -> unscaled latent mean (B, C, h, w).

    Training-only: it provides the target z_h. Its variance head is kept for weight
    compatibility with SD's VAE; the mean is used (as SD-SR training does).
    """

    def __init__(self, cfg: AutoencoderConfig, latent_channels: int) -> None:
        super().__init__()
        self.latent_channels = latent_channels
        self.encoder = _EncoderBody(cfg, latent_channels)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        moments = self.quant_conv(self.encoder(hr))
        return moments[:, : self.latent_channels]


class _DecoderBody(nn.Module):
    def __init__(self, cfg: AutoencoderConfig, latent_channels: int) -> None:
        super().__init__()
        ch = tuple(reversed(cfg.block_channels))
        g = cfg.norm_groups
        self.conv_in = nn.Conv2d(latent_channels, ch[0], 3, padding=1)
        self.mid_block = MidBlock(ch[0], g, ATTENTION_HEAD_DIM_VAE, cfg.mid_attention)
        self.up_blocks = nn.ModuleList(
            _UpBlock(
                ch[max(i - 1, 0)],
                ch[i],
                cfg.layers_per_block + 1,
                g,
                Upsampler(ch[i], cfg.upsample) if i < len(ch) - 1 else None,
            )
            for i in range(len(ch))
        )
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    """Unscaled latent (B, C, h, w) -> image in about [-1, 1], (B, 3, 8h, 8w)."""

    def __init__(self, cfg: AutoencoderConfig, latent_channels: int) -> None:
        super().__init__()
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = _DecoderBody(cfg, latent_channels)

    @property
    def output_layer(self) -> nn.Conv2d:
        """The last convolution (to RGB); with an LR skip it starts near zero, as a residual."""
        return self.decoder.conv_out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))
