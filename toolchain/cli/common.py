"""Shared CLI plumbing: the root group that turns errors into one line, consoles, progress bars,
common options and their validated types."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from toolchain.deploy.targets import TARGETS, Precision, Target, get_target
from toolchain.errors import ToolchainError

err_console = Console(stderr=True)
out_console = Console()
F = TypeVar("F", bound=Callable[..., Any])


def _print_error(exc: ToolchainError) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)


class RootGroup(TyperGroup):
    """The ``toolchain`` command group: a ToolchainError from any command, sub-command or option
    parser becomes ``error: <message>`` on stderr and exit code 1, so no command needs to opt in."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolchainError as exc:
            _print_error(exc)
            raise typer.Exit(code=1) from None


def friendly_errors(fn: F) -> F:
    """Transition only: :class:`RootGroup` catches errors now; kept until cli/bench.py drops it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ToolchainError as exc:
            _print_error(exc)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def progress_bar() -> Progress:
    """A rich progress bar on stderr (plain, non-animated output when not a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


CheckpointOption = Annotated[
    Path,
    typer.Option(
        "--checkpoint",
        "-c",
        help="Checkpoint folder (config.json + model.safetensors). Default: the embedded nano model.",
    ),
]


def parse_precision(value: str) -> Precision:
    """``--precision`` as a :class:`Precision`; an unknown name is a one-line error."""
    try:
        return Precision(value)
    except ValueError:
        raise ToolchainError(
            f"unknown precision '{value}'; use one of {', '.join(p.value for p in Precision)}"
        ) from None


DEVICES = ("cpu", "cuda")


def parse_device(value: str) -> str:
    """``--device``: cpu or cuda (whether CUDA is available is checked when it is used)."""
    if value not in DEVICES:
        raise ToolchainError(f"unknown --device '{value}'; use {' or '.join(DEVICES)}")
    return value


TargetOption = Annotated[
    Target,
    typer.Option(
        parser=get_target, metavar="|".join(TARGETS), help="Deployment target; see `toolchain targets`."
    ),
]
PrecisionOption = Annotated[
    Precision | None,
    typer.Option(
        parser=parse_precision,
        metavar="|".join(p.value for p in Precision),
        help="Graph precision (default: the target's first; see `toolchain targets`).",
    ),
]
DeviceOption = Annotated[
    str, typer.Option("--device", parser=parse_device, metavar="cpu|cuda", help="Torch device: cpu or cuda.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
