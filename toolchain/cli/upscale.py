"""``toolchain upscale``: 4x super-resolution of files or folders."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from toolchain.cli.common import (
    CheckpointOption,
    DeviceOption,
    JsonOption,
    check_range,
    err_console,
    out_console,
    print_error,
    print_json,
    progress_bar,
)
from toolchain.devices import resolve_device
from toolchain.engine_options import Engine, NoiseConfig, resolve_engine
from toolchain.errors import ToolchainError
from toolchain.model import DEFAULT_CHECKPOINT

if TYPE_CHECKING:
    from toolchain.batch import BatchListener, RunnerSource
    from toolchain.tiling import TileSpec
    from toolchain.upscaler import TileRunner


class HostRuntime(enum.StrEnum):
    ONNX = "onnx"
    LITERT = "litert"


def upscale(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Images (PNG, JPEG, WebP) or folders of images.")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output file (one input) or folder; format follows the extension."),
    ],
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
    device: DeviceOption = "cpu",
    engine: Annotated[
        Engine,
        typer.Option(
            help="What runs the checkpoint. auto: onnxruntime on the CPU, torch on a GPU. onnxruntime: its "
            "float graph on ONNX Runtime CPU with all graph optimizations (fastest on CPU; exported in "
            "memory, ~1-3 s start-up). torch: PyTorch channels-last. torch-reference: PyTorch NCHW, the "
            "reference the others match (>= 50 dB PSNR). All use the same tile plan.",
        ),
    ] = Engine.AUTO,
    tile: Annotated[
        int | None,
        typer.Option(help="LR tile side in px. Default: the model's graph tile (lr_tile; 128 for nano)."),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(help="LR px shared by neighbouring tiles (blended). Default: a quarter of the tile."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Tiles per forward pass of the torch engines (memory vs speed).")
    ] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the latent noise (used when --noise-scale > 0).")] = 0,
    noise_scale: Annotated[
        float,
        typer.Option(help="Latent noise at t=1, from 0 to 1; 0 is deterministic (the paper's default)."),
    ] = 0.0,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="Run an exported bundle's graphs on the host CPU instead of torch (uses its tile plan; "
            "not combinable with --checkpoint, --device, --engine, --tile, --overlap, --noise-scale, --seed)."
        ),
    ] = None,
    runtime: Annotated[
        HostRuntime, typer.Option(help="With --bundle: which host runtime runs its graph.")
    ] = HostRuntime.ONNX,
    fail_fast: Annotated[
        bool,
        typer.Option(help="Stop at the first image that fails (default: finish the batch, then report)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Upscale images 4x with the one-step Edge-SD-SR model, tile by tile, seam-free.

    Stdout gets one `INPUT -> OUTPUT (WxH)` line per written image (or one JSON object with
    --json); progress, failures and the batch summary go to stderr. A batch processes every image
    and exits 1 if any failed. Example: toolchain upscale photo.jpg -o photo_x4.png
    """
    check_range("--batch-size", batch_size, 1)
    noise = NoiseConfig(noise_scale, seed)
    if bundle is not None:
        _refuse_with_bundle(ctx, ("checkpoint", "device", "engine", "tile", "overlap", "noise_scale", "seed"))
        source = _bundle_source(bundle, runtime.value)
    else:
        source = _checkpoint_source(checkpoint, engine, device, noise, tile, overlap)
    from toolchain.batch import upscale_batch  # numpy and Pillow; torch once an input passes its header check

    with progress_bar() as progress:
        report = upscale_batch(inputs, out, source, batch_size, fail_fast, _printing(progress, as_json))
    if as_json:
        print_json(asdict(report))
    err_console.print(f"{report.summary()} with {source.label}", highlight=False)
    if report.failed:
        raise typer.Exit(code=1)


def _printing(progress: Progress, as_json: bool) -> BatchListener:
    """A progress bar task per image, an `INPUT -> OUTPUT (WxH)` stdout line per written image
    (none with --json: the report is printed whole), an `error:` line per failure."""
    from toolchain.batch import BatchListener

    @contextlib.contextmanager
    def track(src: Path) -> Iterator[Callable[[int, int], None]]:
        task = progress.add_task(src.name, total=None)
        try:
            yield lambda done, total: progress.update(task, completed=done, total=total)
        finally:
            progress.remove_task(task)

    def written(record: dict[str, object]) -> None:
        if not as_json:
            line = f"{record['input']} -> {record['output']} ({record['width']}x{record['height']})"
            out_console.print(line, highlight=False)

    return BatchListener(track, written, print_error)


def _checkpoint_source(
    checkpoint: Path, engine: Engine, device: str, noise: NoiseConfig, tile: int | None, overlap: int | None
) -> RunnerSource:
    """The checkpoint on its engine; it and torch load when the first image needs them, so an
    input refused from its header never waits for them."""
    from toolchain.batch import RunnerSource

    chosen = resolve_engine(engine, device)

    def open_runner() -> tuple[TileRunner, TileSpec]:
        from toolchain.engines import open_checkpoint

        return open_checkpoint(checkpoint, chosen, resolve_device(device), noise, tile, overlap)

    return RunnerSource(f"{checkpoint} ({chosen.value})", open_runner)


def _bundle_source(bundle: Path, runtime: str) -> RunnerSource:
    """A bundle's host graph on ``runtime``, verified and opened when the first image needs it."""
    from toolchain.batch import RunnerSource
    from toolchain.deploy.host_runner import open_bundle_runner

    return RunnerSource(f"bundle {bundle} ({runtime})", lambda: open_bundle_runner(bundle, runtime))


def _refuse_with_bundle(ctx: typer.Context, names: tuple[str, ...]) -> None:
    """--bundle brings its own graph and tile plan: torch-only options given with it are an error."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    given = [n for n, source in sources.items() if source is not None and source.name != "DEFAULT"]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ToolchainError(
            f"--bundle runs the bundle's own graph and tile plan, so {flags} cannot apply; drop "
            f"{'it' if len(given) == 1 else 'them'} or drop --bundle"
        )
