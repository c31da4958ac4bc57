"""``toolchain eval``: PSNR-Y / SSIM-Y / NIQE on a paired HR/LR folder."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from toolchain.deploy.targets import model_id
from toolchain.devices import resolve_device
from toolchain.errors import ToolchainError
from toolchain.model import DEFAULT_CHECKPOINT

if TYPE_CHECKING:
    import numpy as np

    from toolchain.imageio import LoadedImage


class Baseline(enum.StrEnum):
    BICUBIC = "bicubic"


def evaluate_command(
    data: Annotated[
        Path, typer.Option("--data", help="Folder with HR/ and LR/ (equal file names, LR x4 smaller).")
    ],
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
    baseline: Annotated[
        Baseline | None, typer.Option(help="Score a baseline instead of the model, with the same protocol.")
    ] = None,
    niqe_params: Annotated[
        Path | None,
        typer.Option(help="NIQE pristine model (niqe_pris_params.npz); without it NIQE is skipped."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for <set>-<method>.csv and .json.")] = Path(
        "runs/eval"
    ),
    device: DeviceOption = "cpu",
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass.")] = 4,
    as_json: JsonOption = False,
) -> None:
    """Score 4x upscaling on a paired set: PSNR-Y, SSIM-Y (BT.601, no shave), NIQE and overshoot.

    Overshoot is the mean distance (8-bit levels) of the output outside the HR's local 5x5 range,
    within 4 px of the HR's edges: the halos and ringing of over-sharpened edges; 0 for none,
    compare methods on the same set.

    A pair that cannot be scored is reported on its own `error:` line and left out; the others are
    still scored and written, and the exit code is then 1.

    Example: toolchain eval --data ../shared/data/eval/drealsr --niqe-params niqe_pris_params.npz
    """
    check_range("--batch-size", batch_size, 1)
    if not data.is_dir():
        state = "does not exist" if not data.exists() else "is not a folder"
        raise ToolchainError(f"--data {data} {state}; pass a folder with HR/ and LR/ subfolders")
    from toolchain.evaluate import evaluate, summarize, write_report  # torch: once the options are checked
    from toolchain.metrics.niqe import load_niqe_params

    dataset = data.resolve().name  # `--data .` is named after the folder, not ''
    params = load_niqe_params(niqe_params) if niqe_params is not None else None
    method, upscale = _method(baseline, checkpoint, device, batch_size)

    failed: dict[str, str] = {}

    def report_failure(name: str, exc: ToolchainError) -> None:
        failed[name] = str(exc) if name in str(exc) else f"{name}: {exc}"
        print_error(failed[name])

    with progress_bar() as progress:
        task = progress.add_task(f"{method} on {dataset}", total=None)
        scores = evaluate(
            data, upscale, params, lambda i, n: progress.update(task, completed=i, total=n), report_failure
        )
    if not scores:
        raise ToolchainError(
            f"none of the {len(failed)} pair(s) in {data} could be scored; fix the files above"
        )
    summary = summarize(scores, method, dataset)
    csv_path, json_path = write_report(out, f"{dataset}-{method}", scores, summary)
    if as_json:
        print_json({**asdict(summary), "failed": failed})
    else:
        niqe_text = f"{summary.niqe:.3f}" if summary.niqe is not None else "n/a (no --niqe-params)"
        out_console.print(
            f"{method} on {dataset} ({summary.images} images): PSNR-Y {summary.psnr_y:.2f} dB, "
            f"SSIM-Y {summary.ssim_y:.4f}, NIQE {niqe_text}, overshoot {summary.overshoot:.3f}",
            highlight=False,
        )
    err_console.print(f"wrote {csv_path} and {json_path}", highlight=False)
    if failed:
        err_console.print(
            f"{len(scores)} scored, {len(failed)} failed (left out of the means above)", highlight=False
        )
        raise typer.Exit(code=1)


def _method(
    baseline: Baseline | None, checkpoint: Path, device: str, batch_size: int
) -> tuple[str, Callable[[LoadedImage], np.ndarray]]:
    """The scored method's name and its LR image -> uint8 RGB x4: the baseline, or the checkpoint
    on the reference path."""
    from toolchain.evaluate import bicubic_upscale
    from toolchain.model.edge_sdsr import EdgeSDSR
    from toolchain.upscaler import reference_upscale

    if baseline is Baseline.BICUBIC:
        return "bicubic", bicubic_upscale
    model = EdgeSDSR.from_pretrained(checkpoint)
    return model_id(model.config.name), reference_upscale(model, resolve_device(device), batch_size)
