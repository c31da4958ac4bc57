"""The adversarial stage: the one-step model against a small patch discriminator.

Regression losses (L1) make a one-step SR model predict the mean of the plausible HR tiles,
which is blurry. One-step diffusion SR gets its sharpness from a distribution-matching loss on
top; here that is a PatchGAN discriminator with spectral norm (as Real-ESRGAN uses), trained
from scratch, with a hinge loss. No pretrained VGG or LPIPS network is needed: the
discriminator's own features, compared between each output and its HR tile (feature
matching, as pix2pixHD does), stand in for the perceptual loss.

The generator's loss runs through the stage's usual ``StageLoss``; the discriminator has its
own optimizer and is stepped after each generator step on the generator's last output.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from toolchain.metrics.overshoot import EDGE_LEVELS, overshoot_loss
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import predict_latent
from toolchain.train.ldl import artifact_loss
from toolchain.train.sharpen import usm_sharpen

Stats = dict[str, float]


class DiscriminatorKind(enum.StrEnum):
    PATCH = "patch"  # PatchDiscriminator: one logit per 16 px patch
    UNET = "unet"  # UNetDiscriminator: one logit per pixel (Real-ESRGAN's UNetDiscriminatorSN)


@dataclass(frozen=True)
class AdversarialConfig:
    """Loss weights and the discriminator of the ``adversarial`` stage."""

    l1_weight: float = 1.0
    feature_weight: float = 1.0  # L1 between D's features of the output and of the HR tile
    gan_weight: float = 0.05  # hinge generator loss
    disc_channels: int = 64  # width of the first discriminator layer (doubles twice)
    discriminator: DiscriminatorKind = DiscriminatorKind.PATCH
    disc_learning_rate: float = 2e-4  # constant; Adam with betas (0.5, 0.999)
    # share of the adversarial weights in the run's output, <out>/adversarial-blend: the rest is
    # the stage's starting checkpoint (ESRGAN's network interpolation, train/blend.py); 1: no blend
    blend: float = 1.0
    # LDL (train/ldl.py): weight of the L1 term on the artifact map of the output against the EMA
    # model's; 0: off. Needs the stage's ema_decay (the EMA is the reference that tells artifacts).
    artifact_weight: float = 0.0
    # metrics/overshoot.py: weight of the output's distance outside the HR tile's local range near
    # its edges (halos, ringing, colour fringes); 0: off
    overshoot_weight: float = 0.0
    # the term's edges: HR windows whose range reaches this many 8-bit levels (the score's: 32)
    overshoot_edge_levels: float = EDGE_LEVELS

    def __post_init__(self) -> None:
        weights = (self.l1_weight, self.feature_weight, self.gan_weight)
        if min(weights) < 0 or max(weights) == 0:
            raise ValueError(f"adversarial loss weights must be >= 0 and not all 0, got {weights}")
        if self.disc_channels < 8 or self.disc_learning_rate <= 0:
            raise ValueError("adversarial: need disc_channels >= 8 and disc_learning_rate > 0")
        if not 0.0 < self.blend <= 1.0:
            raise ValueError(f"adversarial: blend must be in (0, 1], got {self.blend}")
        for name in ("artifact_weight", "overshoot_weight"):
            value = getattr(self, name)
            if not 0.0 <= value < float("inf"):
                raise ValueError(f"adversarial: {name} must be finite and >= 0, got {value}")
        if not 0 < self.overshoot_edge_levels <= 255:
            raise ValueError(
                f"adversarial: overshoot_edge_levels must be in (0, 255], got {self.overshoot_edge_levels}"
            )


class PatchDiscriminator(nn.Module):
    """Image in [-1, 1] (B, 3, H, W) -> real/fake logits per 16 px patch, plus its features.

    Three stride-2 4x4 convolutions (C, 2C, 4C channels) and a 3x3 head, each spectrally
    normalised, LeakyReLU(0.2) between them: a 70 px receptive field on each logit.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        widths = [3, channels, 2 * channels, 4 * channels]
        self.body = nn.ModuleList(
            spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1))
            for cin, cout in zip(widths, widths[1:], strict=False)
        )
        self.head = spectral_norm(nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        x = image
        for conv in self.body:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return self.head(x), features


class UNetDiscriminator(nn.Module):
    """Image in [-1, 1] (B, 3, H, W) -> a real/fake logit per pixel, plus its features.

    Real-ESRGAN's ``UNetDiscriminatorSN``: three stride-2 4x4 convolutions down (C -> 2C -> 4C
    -> 8C), three bilinear x2 steps up with a skip added at each scale, two 3x3 convolutions and
    a 3x3 head at full resolution; spectral norm on every layer but the first and the head.
    A logit per pixel tells the generator *where* an output looks fake, which is what lets
    Real-ESRGAN suppress local artifacts (rims, blotches) instead of averaging them over a patch.
    H and W must be multiples of 8. The features for feature matching are the three
    downsampling activations, as with the patch discriminator.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        c = channels
        self.conv0 = nn.Conv2d(3, c, 3, padding=1)
        self.down = nn.ModuleList(
            spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1))
            for cin, cout in ((c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c))
        )
        self.up = nn.ModuleList(
            spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
            for cin, cout in ((8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c))
        )
        self.refine = nn.ModuleList(spectral_norm(nn.Conv2d(c, c, 3, padding=1)) for _ in range(2))
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = [F.leaky_relu(self.conv0(image), 0.2)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), 0.2))
        features = skips[1:]
        x = skips.pop()
        for conv in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x), 0.2) + skips.pop()
        for conv in self.refine:
            x = F.leaky_relu(conv(x), 0.2)
        return self.head(x), features


DISCRIMINATORS: dict[DiscriminatorKind, type[nn.Module]] = {
    DiscriminatorKind.PATCH: PatchDiscriminator,
    DiscriminatorKind.UNET: UNetDiscriminator,
}


class AdversarialLoss:
    """The generator's loss (a ``LossFn``), holding the discriminator and its optimizer.

    Not an ``nn.Module`` on purpose: the discriminator must not become part of the model that
    ``StageLoss`` / DistributedDataParallel wrap, nor of the model checkpoint.
    ``train_unet`` lets the gradient reach the UNet and LR encoder (they are trainable in this
    stage); otherwise the latent is predicted without a graph, which is cheaper.
    ``sharpen`` > 0: the L1 and feature-matching terms compare against the USM-sharpened HR
    tile, the discriminator against the plain one (Real-ESRGAN's split).
    ``ema_model``: the stage's weight EMA, set by the training loop when ``cfg.artifact_weight`` > 0
    (the LDL term compares the output's residual with the EMA's).
    """

    def __init__(
        self, cfg: AdversarialConfig, train_unet: bool, device: torch.device, seed: int, sharpen: float = 0.0
    ) -> None:
        self.cfg = cfg
        self.sharpen = sharpen
        self.train_unet = train_unet
        with torch.random.fork_rng(devices=[]):  # the same discriminator on every rank and every run
            torch.manual_seed(seed)
            self.disc = DISCRIMINATORS[cfg.discriminator](cfg.disc_channels).to(device)
        self.disc_opt = torch.optim.Adam(
            self.disc.parameters(), lr=cfg.disc_learning_rate, betas=(0.5, 0.999)
        )
        self.disc_step_module: nn.Module = self.disc  # DistributedDataParallel(disc) under torchrun
        self._fake: torch.Tensor | None = None
        self._real: torch.Tensor | None = None
        self.ema_model: EdgeSDSR | None = None

    def __call__(
        self, model: EdgeSDSR, hr: torch.Tensor, lr: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, Stats]:
        real = hr * 2 - 1
        target = usm_sharpen(hr, self.sharpen) * 2 - 1 if self.sharpen else real
        with torch.set_grad_enabled(self.train_unet and torch.is_grad_enabled()):
            z_h = predict_latent(model, lr)
        fake = model.decode(z_h, lr)
        self.disc.requires_grad_(False)
        logits, fake_features = self.disc(fake)
        with torch.no_grad():
            _, target_features = self.disc(target)
        self.disc.requires_grad_(True)
        l1 = F.l1_loss(fake, target)
        feature = torch.stack(
            [F.l1_loss(f, r) for f, r in zip(fake_features, target_features, strict=True)]
        ).mean()
        gan = -logits.mean()
        cfg = self.cfg
        loss = cfg.l1_weight * l1 + cfg.feature_weight * feature + cfg.gan_weight * gan
        stats = {"l1": l1.item(), "feature": feature.item(), "g_hinge": gan.item()}
        if cfg.artifact_weight:
            artifacts = self._artifact_term(fake, target, lr)
            loss = loss + cfg.artifact_weight * artifacts
            stats["artifacts"] = artifacts.item()
        if cfg.overshoot_weight:
            overshoot = overshoot_loss(target, fake, cfg.overshoot_edge_levels * 2 / 255)  # [-1, 1] images
            loss = loss + cfg.overshoot_weight * overshoot
            stats["overshoot"] = overshoot.item()
        self._fake, self._real = fake.detach(), real
        return loss, stats

    def _artifact_term(self, fake: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """LDL's weighted L1 (train/ldl.py), on images in [0, 1] as the paper computes it."""
        if self.ema_model is None:
            raise RuntimeError("artifact_weight needs the stage's weight EMA (set ema_decay in the recipe)")
        with torch.no_grad():
            ema_fake = self.ema_model.decode(predict_latent(self.ema_model, lr), lr)
        return artifact_loss((target + 1) / 2, (fake + 1) / 2, (ema_fake + 1) / 2)

    def discriminator_step(self) -> Stats:
        """One hinge-loss step of the discriminator on the last generator batch."""
        if self._fake is None or self._real is None:
            raise RuntimeError("discriminator_step needs a generator step first")
        self.disc_opt.zero_grad(set_to_none=True)
        both = torch.cat([self._real, self._fake])
        logits, _ = self.disc_step_module(both)
        real_logits, fake_logits = logits.chunk(2)
        loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        loss.backward()
        self.disc_opt.step()
        self._fake = self._real = None
        return {
            "d_loss": loss.item(),
            "d_real": real_logits.mean().item(),
            "d_fake": fake_logits.mean().item(),
        }

    def state_dict(self) -> dict:
        return {"discriminator": self.disc.state_dict(), "optimizer": self.disc_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["discriminator"])
        self.disc_opt.load_state_dict(state["optimizer"])
