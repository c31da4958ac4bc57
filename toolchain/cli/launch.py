"""The ``toolchain`` console script: signal handling first, then the (slow) import of the CLI.

A Ctrl-C or SIGTERM while torch is still being imported ends with one line, not a traceback.
"""

from __future__ import annotations

import sys

from toolchain.cli.signals import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    INTERRUPTED,
    TERMINATED,
    Terminated,
    install_signal_handlers,
)


def run() -> None:
    install_signal_handlers()
    try:
        from toolchain.cli.main import run as run_cli
    except KeyboardInterrupt:
        sys.stderr.write(f"error: {INTERRUPTED}\n")
        sys.exit(EXIT_SIGINT)
    except Terminated:
        sys.stderr.write(f"error: {TERMINATED}\n")
        sys.exit(EXIT_SIGTERM)
    run_cli()


if __name__ == "__main__":
    run()
