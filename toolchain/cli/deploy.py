"""``toolchain targets`` and ``toolchain verify-bundle``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toolchain.cli.common import friendly_errors, out_console
from toolchain.deploy.targets import TARGETS


@friendly_errors
def targets() -> None:
    """List deployment targets: SoC, what each bundle holds, and the precisions it takes."""
    table = Table(title="toolchain export --target NAME")
    for col in ("target", "SoC", "phones", "graphs", "precisions (default first)"):
        table.add_column(col)
    for t in TARGETS.values():
        graphs = ", ".join(a.value for a in t.artifacts)
        table.add_row(t.name, t.soc, t.description, graphs, ", ".join(p.value for p in t.precisions))
    out_console.print(table)
    for t in TARGETS.values():
        if t.note:
            out_console.print(f"{t.name}: {t.note}", highlight=False)


@friendly_errors
def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `toolchain export`.")],
) -> None:
    """Check a bundle: manifest schema, every file's size and sha256, no stray files."""
    from toolchain.deploy.manifest import verify_bundle

    manifest = verify_bundle(bundle)
    out_console.print(
        f"{bundle}: OK ({manifest.model_id}, target {manifest.target} / {manifest.soc}, "
        f"{len(manifest.graphs)} graph(s), {len(manifest.files)} file(s), schema {manifest.schema_version})",
        highlight=False,
    )
    for g in manifest.graphs:
        acc = f"{g.accuracy_psnr_y_db:.2f} dB" if g.accuracy_psnr_y_db is not None else "not verified"
        out_console.print(f"  {g.file}: {g.runtime.value} {g.precision.value} ({g.role.value}), {acc}")
