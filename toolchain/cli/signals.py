"""How the CLI ends on signals: Ctrl-C (SIGINT) and SIGTERM unwind the stack like an exception, so
every ``finally`` (temporary files of :mod:`toolchain.atomic`) runs, then one line and exit 130 / 143.

This module imports nothing heavy: :mod:`toolchain.cli.launch` uses it before torch is loaded.
"""

from __future__ import annotations

import importlib.abc
import signal
import sys
from types import FrameType, ModuleType

EXIT_ERROR = 1
EXIT_SIGINT = 130  # 128 + SIGINT, as shells report it
EXIT_SIGTERM = 143  # 128 + SIGTERM
INTERRUPTED = "interrupted (Ctrl-C); unfinished outputs were not written"
TERMINATED = "terminated (SIGTERM); unfinished outputs were not written"


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (a BaseException, like KeyboardInterrupt, so that
    ``except Exception`` blocks do not swallow it)."""


_received: list[int] = []  # the signals handled so far, whether or not their exception got through


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    signal.default_int_handler(signum, frame)


class _NumpyBeforeTorch(importlib.abc.MetaPathFinder):
    """Imports numpy just before torch is first imported, then steps aside.

    torch's C extension imports numpy itself and ignores any exception from that import, Ctrl-C
    included: a KeyboardInterrupt during it is lost, or leaves numpy half-imported for a traceback
    later. Imported first, from Python, numpy lets the interrupt through.
    """

    def find_spec(self, fullname: str, path: object, target: ModuleType | None = None) -> None:
        if fullname == "torch":
            sys.meta_path.remove(self)
            import numpy  # noqa: F401

        return None  # the regular finders import the module itself


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` instead of killing the process mid-write; SIGINT raises
    KeyboardInterrupt (Python's default, restored in case a library replaced it)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_interrupt)
    if "torch" not in sys.modules and not any(isinstance(f, _NumpyBeforeTorch) for f in sys.meta_path):
        sys.meta_path.insert(0, _NumpyBeforeTorch())


def raise_if_swallowed() -> None:
    """Re-raise a signal whose exception a library caught and dropped (an ``except BaseException``, a
    weakref callback, where Python only prints "Exception ignored"), so that the command still ends
    as interrupted or terminated instead of exiting 0. The record is cleared."""
    received, _received[:] = set(_received), []
    if signal.SIGTERM in received:
        raise Terminated
    if signal.SIGINT in received:
        raise KeyboardInterrupt
