"""Training batches: HR crops and their degraded LR inputs, delivered on the training device.

Who does what (Real-ESRGAN's ``feed_data`` split: cheap parameter draws on the host, heavy pixel
work batched on the device):

| workers | crops and degradation parameters | pixel work (blur, resize, noise, JPEG) |
|---|---|---|
| 0 | the training process, from the stage's generator | CPU: there too, Pillow JPEG; GPU: the device |
| N > 0 | N DataLoader worker processes | CPU: the worker; GPU: the device |

``workers`` 0 on a CPU is the original stream: the same crops and LR, bit for bit, as before
loaders existed. With workers, batch ``i`` of rank ``r`` comes from a generator seeded with
(seed, r, i): the same batches whatever the number of workers, different on every rank, and a
resumed stage continues at its batch index. On a GPU the uint8 crops travel in pinned memory
and the pixel noise comes from a generator on the device, saved with the stage for ``--resume``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from toolchain.data.datasets import HRCropSampler, to_unit_float
from toolchain.data.degradations import (
    DegradationConfig,
    DegradationPlan,
    JpegCodec,
    apply_plan,
    degrade,
    draw_plan,
)

GPU_WORKERS = 4  # the default per training process on a GPU: each builds a batch's crops and kernels
_CROP_STREAM, _PIXEL_STREAM = 0, 1  # spawn keys: per-batch crop generators, the device's noise generator


def default_workers(device: torch.device) -> int:
    """0 on a CPU (the original stream; the cores are busy training), GPU_WORKERS on a GPU."""
    return 0 if device.type == "cpu" else GPU_WORKERS


def degrades_on_host(device: torch.device) -> bool:
    """Whether the LR is made where the crops are drawn (a CPU), rather than on the device."""
    return device.type == "cpu"


def stream_seed(seed: int, rank: int, stream: int, index: int = 0) -> int:
    """A 63-bit seed for (run seed, rank, stream, index), well mixed (numpy's SeedSequence)."""
    state = np.random.SeedSequence(seed, spawn_key=(rank, stream, index)).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@dataclass(frozen=True)
class CropBatch:
    """One batch as drawn: uint8 HR crops and either their LR (degraded on the CPU where they
    were drawn) or the degradation parameters (degraded on the training device)."""

    hr: torch.Tensor  # (B, 3, crop, crop) uint8
    lr: torch.Tensor | None  # (B, 3, crop/scale, crop/scale) float32
    plan: DegradationPlan | None

    def pin_memory(self) -> CropBatch:
        """Called by the DataLoader's pinning thread: the pixel tensors in page-locked memory."""
        lr = None if self.lr is None else self.lr.pin_memory()
        return CropBatch(self.hr.pin_memory(), lr, self.plan)


@dataclass(frozen=True)
class BatchSpec:
    """What every batch of a stage is: its size, degradation and scale, and who degrades it."""

    data: HRCropSampler  # this rank's shard
    batch_size: int
    degradation: DegradationConfig
    scale: int  # the trained model's (x4 student, x2 teacher)
    degrade_on_host: bool  # True on a CPU: the LR is made where the crops are drawn

    def draw(self, generator: torch.Generator) -> CropBatch:
        """Crops, then their LR (host) or their degradation parameters, from ``generator`` (CPU)."""
        hr = self.data.crops(self.batch_size, generator)
        if self.degrade_on_host:
            return CropBatch(hr, degrade(to_unit_float(hr), self.degradation, generator, self.scale), None)
        size = (self.data.crop, self.data.crop)
        return CropBatch(hr, None, draw_plan(self.degradation, self.batch_size, size, generator, self.scale))


class _SeededBatches(Dataset):
    """Batch ``index`` of one rank, from its own generator: a pure function of (seed, rank, index)."""

    def __init__(self, spec: BatchSpec, seed: int, rank: int) -> None:
        self.spec, self.seed, self.rank = spec, seed, rank

    def __getitem__(self, index: int) -> CropBatch:
        generator = torch.Generator().manual_seed(stream_seed(self.seed, self.rank, _CROP_STREAM, index))
        return self.spec.draw(generator)


def _ignore_stop_signals(worker_id: int) -> None:
    """Workers leave SIGINT / SIGTERM to the training process, which finishes its step first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class TrainingBatches:
    """(hr, lr) float32 batches on ``device``, drawn as the module docstring says.

    Args:
        spec: the stage's batches.
        device: the training device.
        workers: DataLoader worker processes (0: draw in this process from ``generator``).
        generator: the stage's CPU generator (used with ``workers`` 0).
        seed, rank: the run seed and this process's rank (seed the per-batch generators).
        first_batch, batches: the index of the next batch and how many the stage still needs.
    """

    def __init__(
        self,
        spec: BatchSpec,
        device: torch.device,
        workers: int,
        generator: torch.Generator,
        seed: int,
        rank: int,
        first_batch: int,
        batches: int,
    ) -> None:
        self.spec, self.device, self.generator = spec, device, generator
        self.pixel_generator: torch.Generator | None = None
        if not spec.degrade_on_host:
            self.pixel_generator = torch.Generator(device=device)
            self.pixel_generator.manual_seed(stream_seed(seed, rank, _PIXEL_STREAM))
        self._loader: Iterator[CropBatch] | None = None
        if workers > 0:
            loader = DataLoader(
                _SeededBatches(spec, seed, rank),
                batch_size=None,
                sampler=range(first_batch, first_batch + batches),
                num_workers=workers,
                pin_memory=device.type == "cuda",
                worker_init_fn=_ignore_stop_signals,
                prefetch_factor=4,
            )
            self._loader = iter(loader)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (hr, lr) on the training device."""
        batch = next(self._loader) if self._loader is not None else self.spec.draw(self.generator)
        hr = to_unit_float(batch.hr.to(self.device, non_blocking=True))
        if batch.lr is not None:
            return hr, batch.lr.to(self.device, non_blocking=True)
        assert batch.plan is not None and self.pixel_generator is not None  # BatchSpec.draw
        return hr, apply_plan(hr, batch.plan, self.pixel_generator, JpegCodec.TORCH)

    def close(self) -> None:
        """Stop the worker processes (also done when the object is garbage collected)."""
        self._loader = None
