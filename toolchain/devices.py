"""Torch device names: the one place ``--device`` values are listed, checked and turned into devices.

The CLI parses ``--device`` through :func:`resolve_device` (``cli/common.py``), and the library
code that runs a checkpoint takes what it returns.
"""

from __future__ import annotations

import re

import torch

from toolchain.errors import ToolchainError


def available_devices() -> list[str]:
    """The torch devices this machine can run on: cpu, cuda and cuda:N per GPU, mps on Apple."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str) -> torch.device:
    """``--device`` as a torch device; unknown or unavailable is a one-line error listing the others."""
    available = available_devices()
    if name.strip().lower() in available:
        return torch.device(name.strip().lower())
    known = name.strip().lower() in ("cuda", "mps") or re.fullmatch(r"cuda:\d+", name.strip().lower())
    problem = "is not available on this machine" if known else "is not a device this toolchain runs on"
    raise ToolchainError(f"--device '{name}' {problem}; available: {', '.join(available)}")
