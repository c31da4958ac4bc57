"""The training run's log: one JSON record per line in ``<out>/log.jsonl``, optionally TensorBoard too.

Records are flat dicts with ``stage`` and ``step``; every other numeric field becomes a
TensorBoard scalar ``<stage>/<field>`` at that step (event files in ``<out>/tensorboard``).
Only rank 0 writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolchain.errors import ToolchainError


class RunLog:
    def __init__(self, out_dir: Path, tensorboard: bool = False) -> None:
        self.path = out_dir / "log.jsonl"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ToolchainError(
                    "--tensorboard needs the tensorboard package; pip install tensorboard (or drop the flag)"
                ) from None
            self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is None:
            return
        for key, value in record.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and key not in ("stage", "step"):
                self.writer.add_scalar(f"{record['stage']}/{key}", value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
