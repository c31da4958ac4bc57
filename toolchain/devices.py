"""Torch device names: the one place ``--device`` values are listed, checked and turned into devices.

The CLI parses ``--device`` through :func:`check_device` (``cli/common.py``), and the library
code that runs a checkpoint takes what :func:`resolve_device` returns. Torch is imported only to
look for other devices than the CPU, so ``--device cpu`` (the default) is checked without it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from toolchain.errors import ToolchainError

if TYPE_CHECKING:
    import torch

CPU = "cpu"


def available_devices() -> list[str]:
    """The torch devices this machine can run on: cpu, cuda and cuda:N per GPU, mps on Apple."""
    import torch

    names = [CPU]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(name: str) -> str:
    """``--device`` as its normalised name; unknown or unavailable is a one-line error listing the
    others. The CPU, always there, is checked without importing torch."""
    wanted = name.strip().lower()
    if wanted == CPU:
        return wanted
    available = available_devices()
    if wanted in available:
        return wanted
    known = wanted in ("cuda", "mps") or re.fullmatch(r"cuda:\d+", wanted)
    problem = "is not available on this machine" if known else "is not a device this toolchain runs on"
    raise ToolchainError(f"--device '{name}' {problem}; available: {', '.join(available)}")


def resolve_device(name: str) -> torch.device:
    """``--device`` as a torch device (:func:`check_device`'s errors)."""
    import torch

    return torch.device(check_device(name))
