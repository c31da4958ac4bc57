"""Choose the adversarial stage's ``blend`` on held-out photos: the perception-distortion curve.

One adversarial run gives every operating point between its start (alpha 0, the L1 decoder) and
its end (alpha 1): the weights are interpolated (toolchain/train/blend.py, ESRGAN's network
interpolation). Each alpha is scored on the run's held-out validation photos (`<run>/val`,
training photos never trained on, degraded once; never an eval set): PSNR-Y / SSIM-Y and NIQE,
beside bicubic. A crop panel shows bicubic | each alpha | HR on the first photos.

Run: python benchmarks/blend_sweep.py --val runs/nano-nearest/val --start runs/nano-nearest/decoder
     --tuned runs/nano-nearest/adversarial [--alphas 0 0.25 0.5 0.75 1] [--crops runs/blend.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from toolchain.evaluate import bicubic_upscale, crop_panel, evaluate, save_panel, summarize
from toolchain.metrics.niqe import load_niqe_params
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.blend import blend_models
from toolchain.upscaler import reference_upscale

ROOT = Path(__file__).resolve().parents[1]
NIQE = ROOT.parent / "shared" / "metrics" / "niqe_pris_params.npz"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--val", type=Path, required=True, help="a run's held-out pairs (<run>/val)")
    parser.add_argument("--start", type=Path, required=True, help="the adversarial stage's start (alpha 0)")
    parser.add_argument("--tuned", type=Path, required=True, help="the adversarial stage's output (alpha 1)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--crops", type=Path, help="write a crop panel PNG here (bicubic | alphas | HR)")
    parser.add_argument("--niqe", type=Path, default=NIQE, help="NIQE pristine-model .npz")
    args = parser.parse_args()

    val = args.val
    niqe_params = load_niqe_params(args.niqe)
    start, tuned = EdgeSDSR.from_pretrained(args.start), EdgeSDSR.from_pretrained(args.tuned)
    ups = {"bicubic": bicubic_upscale}
    for alpha in args.alphas:
        ups[f"alpha {alpha:g}"] = reference_upscale(blend_models(start, tuned, alpha), torch.device("cpu"))
    print(f"{args.start} -> {args.tuned}, {len(list((val / 'HR').iterdir()))} held-out photos in {val}")
    print(f"| {'method':<12} | PSNR-Y | SSIM-Y | NIQE  |")
    print("|---|---|---|---|")
    bicubic_psnr = None
    for name, up in ups.items():
        s = summarize(evaluate(val, up, niqe_params), name, "validation")
        bicubic_psnr = bicubic_psnr if bicubic_psnr is not None else s.psnr_y
        gain = f" ({s.psnr_y - bicubic_psnr:+.2f} dB vs bicubic)" if name != "bicubic" else ""
        print(f"| {name:<12} | {s.psnr_y:.2f} | {s.ssim_y:.4f} | {s.niqe:.3f} |{gain}", flush=True)
    if args.crops:
        names = sorted(p.name for p in (val / "HR").iterdir())[:5]
        size = 128
        save_panel([crop_panel(val, n, ups, size)[:, size:] for n in names], args.crops)
        print(f"wrote {args.crops}: {' | '.join(ups)} | HR")


if __name__ == "__main__":
    main()
