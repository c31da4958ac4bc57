"""``toolchain info``: parameters, MACs and shapes of a preset or checkpoint."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toolchain.cli.common import JsonOption, out_console, print_json
from toolchain.errors import ToolchainError
from toolchain.model import DEFAULT_CHECKPOINT


def info(
    preset: Annotated[str | None, typer.Option(help="Preset name (models/presets/<name>.json).")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="Checkpoint folder.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show parameters per component, MACs/FLOPs per LR tile (lr_tile, 128x128 for nano) and latent shapes.

    Without options it describes the embedded default checkpoint.
    """
    if preset and checkpoint:
        raise ToolchainError("pass either --preset or --checkpoint, not both")
    from toolchain.budget import measure_budget  # torch: imported once the options are checked
    from toolchain.model.config import load_preset
    from toolchain.model.edge_sdsr import read_checkpoint_config

    config = load_preset(preset) if preset else read_checkpoint_config(checkpoint or DEFAULT_CHECKPOINT)
    report = measure_budget(config)
    if as_json:
        print_json(asdict(report))
        return
    table = Table(title=f"Edge-SD-SR '{report.preset}' ({config.conditioning.value} conditioning)")
    for col in ("component", "params", "GMACs / patch", "deployed"):
        table.add_column(col, justify="right" if col != "component" else "left")
    for name, count in report.params.items():
        macs = report.macs_by_component.get(name)
        table.add_row(
            name,
            f"{count / 1e6:.2f} M",
            f"{macs / 1e9:.2f}" if macs is not None else "-",
            "yes" if name in report.macs_by_component else "training only",
        )
    table.add_row(
        "total (deployed)", f"{report.params_total / 1e6:.2f} M", f"{report.macs_per_patch / 1e9:.2f}", ""
    )
    out_console.print(table)
    out_console.print(
        f"per {report.lr_tile[1]}x{report.lr_tile[2]} LR tile (lr_tile): "
        f"{report.macs_per_patch / 1e9:.2f} GMACs = "
        f"{report.flops_per_patch / 1e9:.2f} GFLOPs; latent {report.latent}, HR tile {report.hr_tile}",
        highlight=False,
    )
