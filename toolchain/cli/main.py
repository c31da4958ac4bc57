"""Root of the ``toolchain`` CLI."""

from __future__ import annotations

import typer

from toolchain.cli import bench
from toolchain.cli.common import RootGroup
from toolchain.cli.degrade import degrade
from toolchain.cli.deploy import export, targets, verify_bundle_command
from toolchain.cli.evaluate import evaluate_command
from toolchain.cli.info import info
from toolchain.cli.signals import install_signal_handlers
from toolchain.cli.train import train
from toolchain.cli.upscale import upscale

app = typer.Typer(
    name="toolchain",
    cls=RootGroup,  # every ToolchainError becomes one `error:` line, whichever command raised it
    help="Edge-SD-SR: one-step diffusion 4x super-resolution, from training to the phone.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command("upscale")(upscale)
app.command("eval")(evaluate_command)
app.command("info")(info)
app.command("train")(train)
app.command("degrade")(degrade)
app.command("export")(export)
app.command("targets")(targets)
app.command("verify-bundle")(verify_bundle_command)
app.add_typer(bench.app, name="bench")


def run() -> None:
    install_signal_handlers()  # SIGTERM unwinds (temporary files removed) instead of killing mid-write
    app()


if __name__ == "__main__":  # torchrun -m toolchain.cli.main ... (the console script is cli/launch.py)
    run()
