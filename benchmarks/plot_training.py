"""Plot a training run's learning curves (log.jsonl) to a PNG, one panel per stage.

Run: python benchmarks/plot_training.py runs/nano/log.jsonl benchmarks/results/nano_training.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(log: Path, out: Path) -> None:
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    stages = [
        s
        for s in ("autoencoder", "joint", "teacher", "distill", "decoder", "adversarial")
        if any(r.get("stage") == s and "loss" in r for r in records)
    ]
    fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 3.2))
    for ax, stage in zip(axes if len(stages) > 1 else [axes], stages, strict=True):
        rows = [r for r in records if r.get("stage") == stage and "loss" in r]
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="loss")
        if stage in ("joint", "teacher"):
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in rows], [r["sigma_mean"] for r in rows], "C1", label="mean z_l_sigma")
            ax2.set_ylabel("mean z_l_sigma", color="C1")
        ax.set_yscale("log")
        ax.set_title(stage)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
