"""``toolchain upscale``: 4x super-resolution of files or folders."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import typer

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
from toolchain.engines import Engine, open_engine, resolve_engine
from toolchain.errors import ToolchainError
from toolchain.imageio import check_writable_output, output_path_for, scan_inputs
from toolchain.model.edge_sdsr import DEFAULT_CHECKPOINT, EdgeSDSR
from toolchain.tiling import TileSpec, default_overlap
from toolchain.upscaler import NoiseConfig, TileRunner, upscale_file


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
    scan = scan_inputs(inputs)
    sources = scan.images
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
        torch_device = resolve_device(device)
        runner = open_engine(model, engine, torch_device, noise, spec.tile)
        source = f"{checkpoint} ({resolve_engine(engine, torch_device).value})"
    stop_on_error = fail_fast or (len(sources) == 1 and not scan.skipped)
    report = BatchReport(skipped=[str(p) for p in scan.skipped])
    with progress_bar() as progress:
        for src, dst in zip(sources, targets, strict=True):
            task = progress.add_task(src.name, total=None)

            def advance(done: int, total: int, task: int = task) -> None:
                progress.update(task, completed=done, total=total)

            try:
                w, h = upscale_file(src, dst, runner, spec, batch_size, advance)
            except ToolchainError as exc:
                if stop_on_error:
                    raise
                report.failed.append({"input": str(src), "error": _naming(src, exc)})
                print_error(_naming(src, exc))
                continue
            finally:
                progress.remove_task(task)
            report.written.append({"input": str(src), "output": str(dst), "width": w, "height": h})
            if not as_json:
                out_console.print(f"{src} -> {dst} ({w}x{h})", highlight=False)
    if as_json:
        print_json(asdict(report))
    err_console.print(f"{report.summary()} with {source}", highlight=False)
    if report.failed:
        raise typer.Exit(code=1)


@dataclass
class BatchReport:
    """What an upscale run did, per input; ``--json`` prints it as is."""

    written: list[dict[str, object]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """``12 written, 2 failed, 3 skipped (not images)``."""
        return (
            f"{len(self.written)} written, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped (not images)"
        )


def _naming(src: Path, exc: ToolchainError) -> str:
    """The error's message, prefixed with the input it happened on unless it names it already."""
    message = str(exc)
    return message if src.name in message else f"{src}: {message}"


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


def _spec(model: EdgeSDSR, tile: int | None, overlap: int | None) -> TileSpec:
    """The model's own tiling (:meth:`TileSpec.for_model`), with --tile / --overlap overriding it."""
    if tile is None and overlap is None:
        return TileSpec.for_model(model.config)
    tile = model.config.lr_tile if tile is None else tile
    overlap = default_overlap(tile) if overlap is None else overlap
    return TileSpec(tile=tile, overlap=overlap, scale=model.config.scale)
