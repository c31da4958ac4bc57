"""Choose the adversarial stage's ``blend`` on held-out photos: the perception-distortion curve.

One adversarial run gives every operating point between its start (alpha 0, the L1 decoder) and
its end (alpha 1): the weights are interpolated (toolchain/train/blend.py, ESRGAN's network
interpolation). Each alpha is scored beside bicubic and a reference checkpoint (the current
default) on:

- the run's held-out validation photos (`<run>/val`: training photos never trained on, degraded
  once like training; never an eval set): PSNR-Y / SSIM-Y and NIQE;
- the camera probes (toolchain/data/probes.py), fixed degradations of the same HR crops, made once
  in `<run>/val-probes/<probe>`: PSNR-Y / SSIM-Y.

Two selection rules (``--rule``), each committed before the run it judges (benchmarks/ablations.md):

- ``natural`` (the default since issue 24): the alpha with the lowest NIQE, averaged over the
  probes, among those whose PSNR-Y on every probe is at most ``--floor`` dB below bicubic's. The
  "must" rule of the default is PSNR-Y within 0.5 dB of bicubic on real photos; the floor of 0.4
  keeps 0.1 dB for the probes' error.
- ``fidelity`` (issue 10): the largest alpha whose SSIM-Y on every probe is at or above the
  reference's and whose PSNR-Y is at most ``--tolerance`` dB below it.

A crop panel shows bicubic | each alpha | HR.

Run: python benchmarks/blend_sweep.py --val runs/nano-guide/val --start runs/nano-guide/decoder
     --tuned runs/nano-guide/adversarial [--alphas 0 0.25 0.5 0.75 1] [--rule natural --floor 0.4]
     [--reference models/nano] [--crops runs/blend.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from toolchain.atomic import atomic_dir
from toolchain.cli.common import run_script
from toolchain.data.probes import Probe
from toolchain.data.synthetic_pairs import make_pairs
from toolchain.evaluate import (
    EvalSummary,
    Upscale,
    bicubic_upscale,
    crop_panel,
    evaluate,
    save_panel,
    summarize,
)
from toolchain.metrics.niqe import NiqeParams, load_niqe_params
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.blend import blend_models
from toolchain.upscaler import reference_upscale

ROOT = Path(__file__).resolve().parents[1]
NIQE = ROOT.parent / "shared" / "metrics" / "niqe_pris_params.npz"
REFERENCE = "reference"


def probe_sets(val: Path) -> dict[Probe, Path]:
    """``<run>/val-probes/<probe>`` for every probe, made from ``val/HR`` the first time."""
    sets = {}
    for probe in Probe:
        folder = val.with_name(f"{val.name}-probes") / probe.value
        if not folder.is_dir():
            with atomic_dir(folder) as tmp:
                make_pairs(val / "HR", tmp, probe, seed=0)
        sets[probe] = folder
    return sets


def score_all(
    up: Upscale, val: Path, probes: dict[Probe, Path], niqe_params: NiqeParams
) -> tuple[EvalSummary, dict[Probe, EvalSummary]]:
    held_out = summarize(evaluate(val, up, niqe_params), "", "validation")
    scores = {p: summarize(evaluate(folder, up, niqe_params), "", p.value) for p, folder in probes.items()}
    return held_out, scores


def probe_niqe(scores: dict[Probe, EvalSummary]) -> float:
    """NIQE averaged over the probes (lower: more natural texture)."""
    values = [s.niqe for s in scores.values() if s.niqe is not None]
    return sum(values) / len(values) if values else float("inf")


def probe_overshoot(scores: dict[Probe, EvalSummary]) -> float:
    """Overshoot (metrics/overshoot.py: halos, 8-bit units) averaged over the probes."""
    return sum(s.overshoot for s in scores.values()) / len(scores)


def within_floor(scores: dict[Probe, EvalSummary], bicubic: dict[Probe, EvalSummary], floor: float) -> bool:
    """PSNR-Y at most ``floor`` dB below bicubic's on every probe."""
    return all(scores[p].psnr_y >= bicubic[p].psnr_y - floor for p in bicubic)


def at_or_above(
    scores: dict[Probe, EvalSummary], reference: dict[Probe, EvalSummary], tolerance: float = 0.0
) -> bool:
    return all(
        scores[p].psnr_y >= reference[p].psnr_y - tolerance and scores[p].ssim_y >= reference[p].ssim_y
        for p in reference
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--val", type=Path, required=True, help="a run's held-out pairs (<run>/val)")
    parser.add_argument("--start", type=Path, required=True, help="the adversarial stage's start (alpha 0)")
    parser.add_argument("--tuned", type=Path, required=True, help="the adversarial stage's output (alpha 1)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument(
        "--rule",
        choices=["natural", "fidelity"],
        default="natural",
        help="natural: lowest probe NIQE within --floor dB of bicubic; fidelity: the issue-10 rule",
    )
    parser.add_argument(
        "--floor", type=float, default=0.4, help="natural rule: dB of PSNR-Y a pick may lose to bicubic"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=ROOT / "models" / "nano",
        help="the checkpoint to stay at or above on the probes",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="dB of PSNR-Y a pick may lose to the reference on a probe (default 0)",
    )
    parser.add_argument("--crops", type=Path, help="write a crop panel PNG here (bicubic | alphas | HR)")
    parser.add_argument("--niqe", type=Path, default=NIQE, help="NIQE pristine-model .npz")
    args = parser.parse_args()

    val = args.val
    niqe_params = load_niqe_params(args.niqe)
    probes = probe_sets(val)
    start, tuned = EdgeSDSR.from_pretrained(args.start), EdgeSDSR.from_pretrained(args.tuned)
    cpu = torch.device("cpu")
    reference = EdgeSDSR.from_pretrained(args.reference)
    ups = {"bicubic": bicubic_upscale, REFERENCE: reference_upscale(reference, cpu)}
    for alpha in sorted(args.alphas):
        ups[f"alpha {alpha:g}"] = reference_upscale(blend_models(start, tuned, alpha), cpu)
    print(f"{args.start} -> {args.tuned}, {len(list((val / 'HR').iterdir()))} held-out photos in {val}")
    print(f"{REFERENCE}: {args.reference}; probes in {val.with_name(val.name + '-probes')}")
    probe_head = " | ".join(f"{p.value} PSNR-Y | {p.value} SSIM-Y" for p in probes)
    print(f"| method | held-out PSNR-Y | SSIM-Y | NIQE | {probe_head} | probe NIQE | probe overshoot |")
    print("|---" * (6 + 2 * len(probes)) + "|")
    scored: dict[str, dict[Probe, EvalSummary]] = {}
    for name, up in ups.items():
        held_out, scores = score_all(up, val, probes, niqe_params)
        scored[name] = scores
        cells = " | ".join(f"{scores[p].psnr_y:.3f} | {scores[p].ssim_y:.4f}" for p in probes)
        head = f"| {name} | {held_out.psnr_y:.3f} | {held_out.ssim_y:.4f} | {held_out.niqe:.3f}"
        tail = f"{probe_niqe(scores):.3f} | {probe_overshoot(scores):.4f}"
        print(f"{head} | {cells} | {tail} |", flush=True)
    alphas = [name for name in scored if name.startswith("alpha ")]
    if args.rule == "natural":
        passing = [a for a in alphas if within_floor(scored[a], scored["bicubic"], args.floor)]
        pick = min(passing, key=lambda a: probe_niqe(scored[a])) if passing else "none"
        print(f"pick (lowest probe NIQE, PSNR-Y within {args.floor:g} dB of bicubic on every probe): {pick}")
    else:
        passing = [a for a in alphas if at_or_above(scored[a], scored[REFERENCE], args.tolerance)]
        pick = passing[-1] if passing else "none"
        within = f" (PSNR-Y within {args.tolerance:g} dB)" if args.tolerance else ""
        print(f"pick (largest alpha at or above {REFERENCE} on every probe{within}): {pick}")
    if args.crops:
        names = sorted(p.name for p in (val / "HR").iterdir())[:5]
        size = 128
        save_panel([crop_panel(val, n, ups, size)[:, size:] for n in names], args.crops)
        print(f"wrote {args.crops}: {' | '.join(ups)} | HR")


if __name__ == "__main__":
    run_script(main)
