"""``toolchain upscale``: 4x super-resolution of files or folders."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from toolchain.cli.common import (
    CheckpointOption,
    DeviceOption,
    err_console,
    out_console,
    progress_bar,
)
from toolchain.errors import ToolchainError
from toolchain.imageio import check_writable_output, collect_inputs, output_path_for
from toolchain.model.edge_sdsr import DEFAULT_CHECKPOINT, EdgeSDSR
from toolchain.tiling import TileSpec, default_overlap
from toolchain.upscaler import NoiseConfig, TileRunner, TorchTileRunner, resolve_device, upscale_file


class HostRuntime(enum.StrEnum):
    ONNX = "onnx"
    LITERT = "litert"


def upscale(
    inputs: Annotated[list[Path], typer.Argument(help="Images (PNG, JPEG, WebP) or folders of images.")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output file (one input) or folder; format follows the extension."),
    ],
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
    device: DeviceOption = "cpu",
    tile: Annotated[
        int | None,
        typer.Option(help="LR tile side in px. Default: the model's graph tile (lr_tile; 128 for nano)."),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(help="LR px shared by neighbouring tiles (blended). Default: a quarter of the tile."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass (memory vs speed).")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the latent noise (used when --noise-scale > 0).")] = 0,
    noise_scale: Annotated[
        float, typer.Option(help="Latent noise at t=1; 0 is deterministic (the paper's default).")
    ] = 0.0,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="Run an exported bundle's graphs on the host CPU instead of torch (uses its tile plan)."
        ),
    ] = None,
    runtime: Annotated[
        HostRuntime, typer.Option(help="With --bundle: which host runtime runs its graph.")
    ] = HostRuntime.ONNX,
) -> None:
    """Upscale images 4x with the one-step Edge-SD-SR model, tile by tile, seam-free.

    Example: toolchain upscale photo.jpg -o photo_x4.png
    """
    if batch_size < 1:
        raise ToolchainError(f"--batch-size must be >= 1, got {batch_size}")
    sources = collect_inputs(inputs)
    targets = [output_path_for(src, out, len(sources)) for src in sources]
    seen: dict[Path, Path] = {}
    for src, dst in zip(sources, targets, strict=True):
        if dst.resolve() in seen:
            raise ToolchainError(
                f"{src} and {seen[dst.resolve()]} would both be written to {dst}; rename one"
            )
        seen[dst.resolve()] = src
        check_writable_output(dst)
    runner: TileRunner
    if bundle is not None:
        from toolchain.deploy.host_runner import open_bundle_runner

        runner, spec = open_bundle_runner(bundle, runtime.value)
        source = f"bundle {bundle} ({runtime.value})"
    else:
        model = EdgeSDSR.from_pretrained(checkpoint)
        spec = _spec(model, tile, overlap)
        runner = TorchTileRunner(model, resolve_device(device), NoiseConfig(noise_scale, seed))
        source = str(checkpoint)
    with progress_bar() as progress:
        for src, dst in zip(sources, targets, strict=True):
            task = progress.add_task(src.name, total=None)

            def advance(done: int, total: int, task: int = task) -> None:
                progress.update(task, completed=done, total=total)

            w, h = upscale_file(src, dst, runner, spec, batch_size, advance)
            progress.remove_task(task)
            out_console.print(f"{src} -> {dst} ({w}x{h})", highlight=False)
    err_console.print(f"upscaled {len(sources)} image(s) with {source}", highlight=False)


def _spec(model: EdgeSDSR, tile: int | None, overlap: int | None) -> TileSpec:
    """The model's own tiling (:meth:`TileSpec.for_model`), with --tile / --overlap overriding it."""
    if tile is None and overlap is None:
        return TileSpec.for_model(model.config)
    tile = model.config.lr_tile if tile is None else tile
    overlap = default_overlap(tile) if overlap is None else overlap
    return TileSpec(tile=tile, overlap=overlap, scale=model.config.scale)
