"""``toolchain degrade``: make a paired HR/LR folder from HR images with a synthetic degradation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolchain.cli.common import JsonOption, err_console, out_console, print_json, progress_bar
from toolchain.data.degradations import DegradationConfig, DegradationKind
from toolchain.data.synthetic_pairs import make_pairs


def degrade(
    hr_dir: Annotated[Path, typer.Argument(help="Folder of HR images (not searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; gets HR/ and LR/ (PNG).")],
    kind: Annotated[
        DegradationKind, typer.Option(help="realesrgan: StableSR's second-order pipeline; bicubic: clean.")
    ] = DegradationKind.REALESRGAN,
    seed: Annotated[int, typer.Option(help="Pair i uses seed * 1000003 + i: reproducible per image.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Degrade HR images x4 into a paired folder for `toolchain eval` or a recipe's val_data.

    Example (a validation set from held-out photos):
    toolchain degrade my_holdout_hr/ -o runs/val-realesrgan --kind realesrgan --seed 0
    """
    with progress_bar() as progress:
        task = progress.add_task(f"degrading {hr_dir.name}", total=None)
        written, skipped = make_pairs(
            hr_dir,
            out,
            DegradationConfig.default(kind),
            seed,
            lambda i, n: progress.update(task, completed=i, total=n),
        )
    if skipped:
        warning = f"[yellow]warning:[/] skipped {len(skipped)} file(s), e.g. {skipped[0]}"
        err_console.print(warning, highlight=False)
    if as_json:
        print_json(
            {
                "out": str(out),
                "written": written,
                "skipped": [str(p) for p in skipped],
                "kind": kind.value,
                "seed": seed,
            }
        )
        return
    out_console.print(f"wrote {written} pairs ({kind.value}, seed {seed}) to {out}", highlight=False)
