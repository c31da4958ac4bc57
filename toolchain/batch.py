"""Batches of image files (``toolchain upscale``): inputs to outputs, the output-collision check and
the failure policy of a batch.

Torch is not imported here: the batch checks every input's header first and opens its runner, and
with it :mod:`toolchain.upscaler`, only once an input fits, so a refused input never waits for torch
or a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolchain.errors import ToolchainError
from toolchain.imageio import (
    MAX_INPUT_PIXELS,
    check_header_size,
    check_writable_output,
    output_path_for,
    scan_inputs,
)

if TYPE_CHECKING:
    from toolchain.tiling import TileSpec
    from toolchain.upscaler import Progress, TileRunner


@dataclass(frozen=True)
class RunnerSource:
    """What runs a batch: ``label`` names it in the summary; ``open`` loads it (seconds for a model)
    and returns the runner with its tile spec. :func:`upscale_batch` opens it only once an input
    has passed the size check of its header, so a refused input never waits for a model."""

    label: str
    open: Callable[[], tuple[TileRunner, TileSpec]]


@dataclass
class BatchReport:
    """What an upscale batch did, per input (``toolchain upscale --json`` prints it as is)."""

    written: list[dict[str, object]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """``12 written, 2 failed, 3 skipped (not images)``."""
        return (
            f"{len(self.written)} written, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped (not images)"
        )


@contextlib.contextmanager
def _untracked(_src: Path) -> Iterator[Progress | None]:
    yield None


@dataclass(frozen=True)
class BatchListener:
    """How a caller follows a batch (the CLI prints); every hook defaults to doing nothing.

    ``track(src)`` is entered around each image and yields its tile progress callback (or None);
    ``written`` gets each :attr:`BatchReport.written` record, ``failed`` each failure's one line.
    """

    track: Callable[[Path], AbstractContextManager[Progress | None]] = _untracked
    written: Callable[[dict[str, object]], None] = lambda _record: None
    failed: Callable[[str], None] = lambda _message: None


def plan_outputs(images: list[Path], out: Path) -> list[tuple[Path, Path]]:
    """(input, output) per image for ``-o out``; refuses two inputs landing on one output and
    outputs that cannot be written, before any work."""
    pairs = [(src, output_path_for(src, out, len(images))) for src in images]
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if dst.resolve() in seen:
            raise ToolchainError(
                f"{src} and {seen[dst.resolve()]} would both be written to {dst}; rename one"
            )
        seen[dst.resolve()] = src
        check_writable_output(dst)
    return pairs


def upscale_batch(
    inputs: list[Path],
    out: Path,
    source: RunnerSource,
    batch_size: int = 4,
    fail_fast: bool = False,
    listener: BatchListener = BatchListener(),
) -> BatchReport:
    """Upscale image files and folders into ``out`` (a file for one input, else a folder).

    Every readable input is processed; a failing one is recorded with its one-line reason and the
    batch goes on, unless ``fail_fast`` or the batch is one input (then its ToolchainError is
    raised). Raised before any image: no inputs, two inputs for one output, an unwritable
    output; and a runner that cannot be opened (a bad checkpoint or bundle) stops the batch.
    """
    scan = scan_inputs(inputs)
    pairs = plan_outputs(scan.images, out)
    stop_on_error = fail_fast or (len(pairs) == 1 and not scan.skipped)
    report = BatchReport(skipped=[str(p) for p in scan.skipped])
    opened: tuple[TileRunner, TileSpec] | None = None
    for src, dst in pairs:
        error: ToolchainError | None = None
        try:
            check_header_size(src, MAX_INPUT_PIXELS)  # cheap: a huge input is refused before the model loads
        except ToolchainError as exc:
            error = exc
        if error is None:
            opened = opened or source.open()  # outside the image's try: a bad model stops the batch
            try:
                with listener.track(src) as progress:
                    width, height = _upscale_file(src, dst, opened, batch_size, progress)
            except ToolchainError as exc:
                error = exc
        if error is None:
            record: dict[str, object] = {
                "input": str(src),
                "output": str(dst),
                "width": width,
                "height": height,
            }
            report.written.append(record)
            listener.written(record)
        elif stop_on_error:
            raise error
        else:
            message = _naming(src, error)
            report.failed.append({"input": str(src), "error": message})
            listener.failed(message)
    return report


def _upscale_file(
    src: Path, dst: Path, opened: tuple[TileRunner, TileSpec], batch_size: int, progress: Progress | None
) -> tuple[int, int]:
    """:func:`toolchain.upscaler.upscale_file`, imported at the first image that fits (it imports torch)."""
    from toolchain.upscaler import upscale_file

    return upscale_file(src, dst, *opened, batch_size, progress)


def _naming(src: Path, exc: ToolchainError) -> str:
    """The error's message, prefixed with the input it happened on unless it names it already."""
    message = str(exc)
    return message if src.name in message else f"{src}: {message}"
