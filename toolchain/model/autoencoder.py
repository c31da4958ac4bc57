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

    def forward(
        self, z: torch.Tensor, guide: torch.Tensor | None = None, guide_level: int = 0
    ) -> torch.Tensor:
        """``guide`` (optional) is added to the input of ``up_blocks[guide_level]``."""
        x = self.mid_block(self.conv_in(z))
        for level, block in enumerate(self.up_blocks):
            if guide is not None and level == guide_level:
                x = x + guide
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class LRGuide(nn.Module):
    """LR image in [-1, 1] -> features added to the decoder where it reaches the LR's resolution.

    The decoder otherwise sees the LR only through the latent (4 numbers per 8x8 HR pixels) and
    the fixed bicubic skip; this branch gives it the LR's own detail, as StableSR feeds encoder
    features to its decoder. One 3x3 conv, one ResnetBlock, and a 1x1 conv that starts at zero,
    so a model with a fresh guide computes exactly what it computed without one.
    """

    def __init__(self, channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, channels, 3, padding=1)
        self.resnet = ResnetBlock(channels, channels, groups)
        self.conv_out = nn.Conv2d(channels, out_channels, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.resnet(self.conv_in(lr)))


class Decoder(nn.Module):
    """Unscaled latent (B, C, h, w) -> image in about [-1, 1], (B, 3, 8h, 8w).

    With ``cfg.lr_guide`` it also takes the LR image in [-1, 1], (B, 3, 8h/scale, 8w/scale).
    """

    def __init__(self, cfg: AutoencoderConfig, latent_channels: int, scale: int) -> None:
        super().__init__()
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = _DecoderBody(cfg, latent_channels)
        # The up block whose input is at the LR's resolution: each level doubles from 1/8.
        self.guide_level = (8 // scale).bit_length() - 1
        channels = tuple(reversed(cfg.block_channels))[self.guide_level - 1]
        self.lr_guide = LRGuide(cfg.lr_guide, channels, cfg.norm_groups) if cfg.lr_guide else None

    @property
    def output_layer(self) -> nn.Conv2d:
        """The last convolution (to RGB); with an LR skip it starts near zero, as a residual."""
        return self.decoder.conv_out

    def forward(self, z: torch.Tensor, lr: torch.Tensor | None = None) -> torch.Tensor:
        """Latent (and, with ``lr_guide``, the LR in [-1, 1]: EdgeSDSR.decode checks it is given) -> image."""
        if self.lr_guide is None:
            return self.decoder(self.post_quant_conv(z))
        assert lr is not None
        return self.decoder(self.post_quant_conv(z), self.lr_guide(lr), self.guide_level)
