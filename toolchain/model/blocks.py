"""Building blocks shared by the UNet, the LR encoder and the autoencoder (diffusers names)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from toolchain.model.config import Upsample


class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with an optional timestep embedding added in between."""

    def __init__(self, in_ch: int, out_ch: int, groups: int, temb_dim: int | None = None) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=1e-6)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_dim, out_ch) if temb_dim else None
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=1e-6)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None and temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return skip + h


class Attention(nn.Module):
    """Spatial self-attention with a residual connection (diffusers ``Attention`` names)."""

    def __init__(self, channels: int, groups: int, head_dim: int) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # B, HW, C

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = heads(self.to_q(tokens)), heads(self.to_k(tokens)), heads(self.to_v(tokens))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        out = self.to_out[0](out).transpose(1, 2).reshape(b, c, h, w)
        return x + out


class Downsample(nn.Module):
    """Stride-2 3x3 conv with SD's asymmetric (0, 1, 0, 1) padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsampler(nn.Module):
    """2x upsampling: nearest + conv (SD layout) or conv + pixel shuffle (NPU friendly)."""

    def __init__(self, channels: int, mode: Upsample) -> None:
        super().__init__()
        self.mode = mode
        out = channels * 4 if mode is Upsample.PIXEL_SHUFFLE else channels
        self.conv = nn.Conv2d(channels, out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode is Upsample.PIXEL_SHUFFLE:
            return F.pixel_shuffle(self.conv(x), 2)
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    """ResNet - self-attention - ResNet at the lowest resolution."""

    def __init__(
        self, channels: int, groups: int, head_dim: int, attention: bool, temb_dim: int | None = None
    ) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, groups, temb_dim) for _ in range(2)])
        self.attentions = nn.ModuleList([Attention(channels, groups, head_dim)] if attention else [])

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        x = self.resnets[0](x, temb)
        for attn in self.attentions:
            x = attn(x)
        return self.resnets[1](x, temb)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of continuous t in [0, 1] (scaled to SD's 0..1000 range).

    Returns a (B, dim) tensor with cos in the first half and sin in the second.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
