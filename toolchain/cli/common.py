"""Shared CLI plumbing: the root group that turns errors into one line, consoles, progress bars,
common options and their validated types."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from toolchain.cli.signals import (
    EXIT_ERROR,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    INTERRUPTED,
    TERMINATED,
    Terminated,
    raise_if_swallowed,
)
from toolchain.deploy.targets import TARGETS, Precision, Target, get_target
from toolchain.devices import check_device
from toolchain.errors import ToolchainError

UsageError: type[Exception] = typer.BadParameter.__base__
"""Click's usage error, the class of every parse failure (unknown option, missing argument, bad
value), taken from typer's public re-export of ``BadParameter`` (its subclass) because typer
vendors its own copy of click: ``click.UsageError`` would be another class."""

# soft_wrap: a line is never broken at the terminal width (or at 80 columns when piped), so every
# stdout line a script parses stays one line. markup and highlight off: user-supplied text (paths,
# messages, hints such as `.[bench]`) is printed literally; styles are applied with rich Text.
err_console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
out_console = Console(soft_wrap=True, markup=False, highlight=False)


def print_json(value: Any) -> None:
    """``--json`` output: one JSON document on stdout (paths and enums as strings)."""
    typer.echo(json.dumps(value, indent=2, default=str))


def labelled(label: str, style: str, message: str) -> Text:
    """``<label> <message>`` with only the label styled: the message is never parsed as markup."""
    return Text.assemble((label, style), " ", message)


def print_error(message: str) -> None:
    """The one form of every error the CLI reports: ``error: <message>`` on one stderr line."""
    err_console.print(labelled("error:", "bold red", message))


def print_warning(message: str, console: Console = err_console) -> None:
    """``warning: <message>`` on one stderr line."""
    console.print(labelled("warning:", "yellow", message))


def _print_error(exc: ToolchainError) -> None:
    print_error(str(exc))


class RootGroup(TyperGroup):
    """The ``toolchain`` command group: every failure of any command, sub-command or option parser
    ends as one ``error: <message>`` line on stderr. Exit codes: 1 for any error (bad input or
    usage), 130 for Ctrl-C, 143 for SIGTERM."""

    def make_context(self, *args: Any, **kwargs: Any) -> typer.Context:
        with _one_line_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: typer.Context) -> Any:
        with _one_line_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
        raise_if_swallowed()
    except ToolchainError as exc:
        _print_error(exc)
        raise typer.Exit(code=EXIT_ERROR) from None
    except UsageError as exc:
        if _is_help_request(exc):
            raise  # `toolchain` or `toolchain bench` alone: the help is printed, typer exits
        ctx = getattr(exc, "ctx", None)
        hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
        print_error(exc.format_message().rstrip(".") + hint)
        raise typer.Exit(code=EXIT_ERROR) from None
    except KeyboardInterrupt:
        print_error(INTERRUPTED)
        raise typer.Exit(code=EXIT_SIGINT) from None
    except Terminated:
        print_error(TERMINATED)
        raise typer.Exit(code=EXIT_SIGTERM) from None


def run_script(main: Callable[[], object]) -> None:
    """Run a plain script's ``main`` (benchmarks/*.py) with the CLI's error contract: a
    :class:`ToolchainError`, Ctrl-C or SIGTERM ends as one ``error:`` line and the CLI's exit code,
    never a traceback."""
    try:
        with _one_line_errors():
            main()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)


def _is_help_request(exc: Exception) -> bool:
    """A command that shows its help when given no arguments raises that as a usage error
    (click's ``NoArgsIsHelpError``, not re-exported by typer: recognised by its class name)."""
    return any(cls.__name__ == "NoArgsIsHelpError" for cls in type(exc).__mro__)


def progress_bar() -> Progress:
    """A rich progress bar on stderr: steps done (tiles, images), elapsed time and ETA.

    Only on a terminal: redirected to a file or pipe it would print nothing but a blank line.
    """
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
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


def parse_device(value: str) -> str:
    """``--device``: cpu, cuda, cuda:N or mps, checked against what this machine has (torch is
    imported for any device but the CPU)."""
    return check_device(value)


def check_range(option: str, value: float, low: float, high: float | None = None) -> None:
    """A numeric option must be finite and within [low, high]; otherwise one line naming the range.

    click's own ranges let ``nan`` through (every comparison with nan is false), so every float
    and int option of the CLI is checked here.
    """
    allowed = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        raise ToolchainError(f"{option} must be a finite number {allowed}, got {value}")


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
    str,
    typer.Option(
        "--device",
        parser=parse_device,
        metavar="cpu|cuda|cuda:N|mps",
        help="Torch device; one that this machine lacks is refused with the list of those it has.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
