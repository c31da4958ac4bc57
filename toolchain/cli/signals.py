"""How the CLI ends on signals: Ctrl-C (SIGINT) and SIGTERM unwind the stack like an exception, so
every ``finally`` (temporary files of :mod:`toolchain.atomic`) runs, then one line and exit 130 / 143.

This module imports nothing heavy: :mod:`toolchain.cli.launch` uses it before torch is loaded.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_ERROR = 1
EXIT_SIGINT = 130  # 128 + SIGINT, as shells report it
EXIT_SIGTERM = 143  # 128 + SIGTERM
INTERRUPTED = "interrupted (Ctrl-C); unfinished outputs were not written"
TERMINATED = "terminated (SIGTERM); unfinished outputs were not written"


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (a BaseException, like KeyboardInterrupt, so that
    ``except Exception`` blocks do not swallow it)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` instead of killing the process mid-write; SIGINT raises
    KeyboardInterrupt (Python's default, restored in case a library replaced it)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
