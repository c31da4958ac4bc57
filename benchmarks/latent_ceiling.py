"""How much the latent path can add to the bicubic skip: the autoencoder ceiling of checkpoints.

For each checkpoint, on a run's held-out photos (``<run>/val``, degraded like training) and on the
same photos with the clean bicubic degradation (BI, as ``toolchain degrade --kind bicubic``), it
prints PSNR-Y of bicubic, of the one-step model, and of the autoencoder round trip HR -> latent ->
decoder with the LR on the skip (``toolchain.train.stages.autoencoder_psnr_y``: what a perfect
UNet would reach). No eval set is
used. The ``val_ae_psnr_y`` of a run's log is the first of these ceilings.

Run: python benchmarks/latent_ceiling.py --val runs/nano2/val runs/nano2/decoder runs/nano-c16/decoder
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from toolchain.cli.common import run_script
from toolchain.data.datasets import pair_paths
from toolchain.data.degradations import DegradationConfig
from toolchain.data.synthetic_pairs import make_pairs
from toolchain.evaluate import bicubic_upscale, evaluate_pairs, summarize
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.stages import autoencoder_psnr_y
from toolchain.upscaler import reference_upscale

CPU = torch.device("cpu")


def psnr(pairs: list[tuple[str, Path, Path]], upscale) -> float:  # noqa: ANN001 - evaluate.Upscale
    return summarize(evaluate_pairs(pairs, upscale, None), "", "").psnr_y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--val", type=Path, required=True, help="a run's held-out pairs (HR/ and LR/)")
    parser.add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args()
    degraded = pair_paths(args.val)
    table = Table(title=f"PSNR-Y on {len(degraded)} held-out photos of {args.val}")
    for column in ("checkpoint", "set", "bicubic", "one-step", "AE ceiling"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        # the BI pairs: what `toolchain degrade --kind bicubic` writes
        make_pairs(args.val / "HR", Path(tmp), DegradationConfig.bicubic(), seed=0)
        sets = {"degraded": degraded, "BI": pair_paths(Path(tmp))}
        bicubic = {name: psnr(pairs, bicubic_upscale) for name, pairs in sets.items()}
        for checkpoint in args.checkpoints:
            model = EdgeSDSR.from_pretrained(checkpoint).eval()
            for name, pairs in sets.items():
                one_step = psnr(pairs, reference_upscale(model, CPU))
                scores = (bicubic[name], one_step, autoencoder_psnr_y(model, pairs, CPU))
                table.add_row(str(checkpoint), name, *(f"{v:.2f}" for v in scores))
    Console().print(table)


if __name__ == "__main__":
    run_script(main)
