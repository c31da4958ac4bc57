"""``toolchain train``: run a training recipe (its stages in order), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from toolchain.cli.common import DeviceOption, JsonOption, check_range, out_console, print_json


def train(
    recipe: Annotated[Path, typer.Option("--recipe", help="Recipe JSON, e.g. models/nano/recipe.json.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: one checkpoint per stage + log.jsonl.")
    ],
    resume: Annotated[bool, typer.Option(help="Continue the run in --out where it stopped.")] = False,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop cleanly after this many minutes (resume later).")
    ] = None,
    sd_vae: Annotated[
        Path | None,
        typer.Option(
            help="Local SD v1.5 VAE (diffusers folder or .safetensors) for the HR encoder; "
            "skips the autoencoder stage. Nothing is downloaded."
        ),
    ] = None,
    device: DeviceOption = "cpu",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="DataLoader worker processes per process for crops and degradation parameters "
            "(default: 0 on CPU, the original data stream; 4 on GPU, where the pixel work runs on the GPU)."
        ),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option(help="Also write TensorBoard scalars to <out>/tensorboard (needs tensorboard).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train Edge-SD-SR: the recipe's stages in order (autoencoder, joint, ..., decoder, adversarial).

    Checkpoints are written atomically every save_every steps. Ctrl-C or SIGTERM (also during a
    save, a validation or between stages) finishes the current step, saves it and exits 130 / 143;
    continue with --resume. --max-minutes stops the same way, with exit 0.
    Example: toolchain train --recipe models/nano/recipe.json -o runs/nano

    Multi-GPU / multi-node: torchrun --nproc_per_node 8 -m toolchain.cli.main train --device cuda ...
    """
    import torch  # here, not at the top: `toolchain --help` and the other commands start without torch

    from toolchain.train.ddp import distributed
    from toolchain.train.recipe import load_recipe
    from toolchain.train.stages import TrainingInterrupted, run_recipe

    if max_minutes is not None:
        check_range("--max-minutes", max_minutes, 0.01)
    if threads is not None:
        check_range("--threads", threads, 1)
        torch.set_num_threads(threads)
    if workers is not None:
        check_range("--workers", workers, 0)
    config, folders = load_recipe(recipe)
    interrupted: TrainingInterrupted | None = None
    with distributed(device) as ctx:
        console = Console(stderr=True, quiet=not ctx.is_main, markup=False, highlight=False)
        try:
            final = run_recipe(
                config, folders, out, resume, max_minutes, console, sd_vae, ctx, tensorboard, workers
            )
        except TrainingInterrupted as exc:
            final, interrupted = None, exc
    if ctx.is_main:
        _report(recipe, out, final, as_json)
    if interrupted is not None:
        raise typer.Exit(code=interrupted.exit_code)


def _report(recipe: Path, out: Path, final: Path | None, as_json: bool) -> None:
    if as_json:
        print_json({"finished": final is not None, "checkpoint": final, "out": str(out)})
    elif final is None:
        out_console.print(
            f"stopped early; continue with: toolchain train --recipe {recipe} -o {out} --resume",
            highlight=False,
        )
    else:
        out_console.print(f"finished; final checkpoint: {final}", highlight=False)
