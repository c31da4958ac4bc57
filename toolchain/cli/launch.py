"""The ``toolchain`` console script: signal handling first, then the (slow) import of the CLI.

A Ctrl-C or SIGTERM while torch is still being imported ends with one line, not a traceback, and
a terminal shows that the import is under way (it takes seconds) instead of nothing.
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

LOADING = "loading torch ..."
ERASE_LINE = "\r\033[K"  # back to the line start, clear to its end


def run() -> None:
    install_signal_handlers()
    notice = sys.stderr.isatty() and len(sys.argv) > 1 and not {"--help", "-h"} & set(sys.argv)
    if notice:  # a transient status line, erased once the CLI is imported
        sys.stderr.write(LOADING)
        sys.stderr.flush()
    try:
        from toolchain.cli.main import run as run_cli
    except KeyboardInterrupt:
        sys.stderr.write(f"{ERASE_LINE * notice}error: {INTERRUPTED}\n")
        sys.exit(EXIT_SIGINT)
    except Terminated:
        sys.stderr.write(f"{ERASE_LINE * notice}error: {TERMINATED}\n")
        sys.exit(EXIT_SIGTERM)
    if notice:
        sys.stderr.write(ERASE_LINE)
        sys.stderr.flush()
    run_cli()


if __name__ == "__main__":
    run()
