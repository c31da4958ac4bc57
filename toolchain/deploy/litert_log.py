"""LiteRT's native log line, kept off the CLI's stderr.

When the first interpreter of a process applies its default XNNPACK delegate (in
``allocate_tensors``), LiteRT's C++ logger writes ``INFO: Created TensorFlow Lite XNNPACK delegate
for CPU.`` straight to file descriptor 2. ``ai_edge_litert`` offers no switch for it (the
interpreter's options only choose delegates, and ``TF_CPP_MIN_LOG_LEVEL`` is read once, when the
library loads), and on the CLI's stderr that line breaks the rule that every message is one line
of ours. :func:`quiet_delegate_banner` captures descriptor 2 around the call and passes every other
line on, so LiteRT's warnings and errors still reach the user.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

DELEGATE_BANNER = b"Created TensorFlow Lite XNNPACK delegate for CPU."


@contextlib.contextmanager
def quiet_delegate_banner() -> Iterator[None]:
    """Drop LiteRT's XNNPACK banner from what native code writes to stderr inside the block."""
    sys.stderr.flush()  # what Python buffered so far goes out before the capture starts
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to capture
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if DELEGATE_BANNER not in line]
            if kept:
                os.write(2, b"".join(kept))
