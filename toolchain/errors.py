"""The one user-facing error type.

Raise :class:`ToolchainError` at boundaries (files, presets, manifests, CLI input,
external tools) with a one-line message: what failed, the value, what to do next.
The CLI root prints ``error: <message>`` to stderr and exits 1.
"""


class ToolchainError(Exception):
    """An expected failure caused by user input or the environment, not a bug."""
