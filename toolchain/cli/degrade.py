"""``toolchain degrade``: make a paired HR/LR folder from HR images with a synthetic degradation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolchain.cli.common import JsonOption, out_console, print_json, print_warning, progress_bar
from toolchain.data.degradation_kinds import DegradationKind, Probe
from toolchain.errors import ToolchainError


def degrade(
    hr_dir: Annotated[Path, typer.Argument(help="Folder of HR images (not searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; gets HR/ and LR/ (PNG).")],
    kind: Annotated[
        DegradationKind | None,
        typer.Option(help="realesrgan (the default): StableSR's second-order pipeline; bicubic: clean."),
    ] = None,
    probe: Annotated[
        Probe | None,
        typer.Option(
            help="A fixed camera probe instead of --kind: sensor (box downscale), camera-noise "
            "(bicubic, noise sigma 4, JPEG 80) or registration (the HR moved by one pixel)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Pair i uses seed * 1000003 + i: reproducible per image.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Degrade HR images x4 into a paired folder for `toolchain eval` or a recipe's val_data.

    Example (a validation set from held-out photos):
    toolchain degrade my_holdout_hr/ -o runs/val-realesrgan --kind realesrgan --seed 0

    Example (a camera probe of the same photos, as benchmarks/blend_sweep.py makes them):
    toolchain degrade my_holdout_hr/ -o runs/val-registration --probe registration
    """
    if probe is not None and kind is not None:
        raise ToolchainError("pass either --kind or --probe, not both")
    from toolchain.data.degradations import DegradationConfig  # torch: once the options are checked
    from toolchain.data.synthetic_pairs import make_pairs

    degradation: DegradationConfig | Probe
    if probe is not None:
        degradation, name = probe, probe.value
    else:
        kind = kind or DegradationKind.REALESRGAN
        degradation, name = DegradationConfig.default(kind), kind.value
    with progress_bar() as progress:
        task = progress.add_task(f"degrading {hr_dir.name}", total=None)
        written, skipped = make_pairs(
            hr_dir,
            out,
            degradation,
            seed,
            lambda i, n: progress.update(task, completed=i, total=n),
        )
    if skipped:
        print_warning(f"skipped {len(skipped)} file(s), e.g. {skipped[0]}")
    if as_json:
        print_json(
            {
                "out": str(out),
                "written": written,
                "skipped": [str(p) for p in skipped],
                "kind": name,
                "seed": seed,
            }
        )
        return
    out_console.print(f"wrote {written} pairs ({name}, seed {seed}) to {out}", highlight=False)
