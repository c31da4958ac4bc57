"""Quality benchmark: the Edge-SD-SR checkpoint against bicubic and peer SR models.

Every method is scored by the same `toolchain.evaluate.evaluate` (PSNR-Y / SSIM-Y, BT.601,
no border shave; NIQE with the MATLAB pristine model; overshoot, the halos outside the HR's local
range, toolchain/metrics/overshoot.py) on every set in the eval folder.
Besides the sets as shipped, ``--degraded-sets`` adds "<set>-realesrgan": the set's HR images
degraded by the Real-ESRGAN pipeline (StableSR settings, seed 0, made once into
artifacts/eval-degraded/ by ``toolchain.data.synthetic_pairs``, reproducible per image).
Writes benchmarks/results/quality.json and quality.md, and side-by-side PNG crops.

Run: python benchmarks/quality.py [--checkpoint models/nano] [--sets drealsr set5 ...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from toolchain.bench.peers import opencv_dnn_superres, realesrgan_general_x4v3
from toolchain.cli.common import run_script
from toolchain.data.degradations import DegradationConfig
from toolchain.data.synthetic_pairs import make_pairs
from toolchain.deploy.targets import model_id
from toolchain.evaluate import bicubic_upscale, crop_panel, evaluate, save_panel, summarize
from toolchain.metrics.niqe import load_niqe_params
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.upscaler import reference_upscale

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def methods(checkpoint: Path, baselines: Path) -> dict:
    model = EdgeSDSR.from_pretrained(checkpoint)
    ours = model_id(model.config.name)
    return {
        "bicubic": bicubic_upscale,
        "espcn": opencv_dnn_superres(baselines, "espcn"),
        "fsrcnn": opencv_dnn_superres(baselines, "fsrcnn"),
        "realesrgan-general-x4v3": realesrgan_general_x4v3(baselines),
        ours: reference_upscale(model, torch.device("cpu")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--eval-dir", type=Path, default=SHARED / "data" / "eval")
    parser.add_argument("--baselines", type=Path, default=SHARED / "baselines")
    parser.add_argument("--niqe-params", type=Path, default=SHARED / "metrics" / "niqe_pris_params.npz")
    parser.add_argument("--sets", nargs="*", default=["drealsr", "set5", "set14", "b100", "urban100-10"])
    parser.add_argument("--degraded-sets", nargs="*", default=["drealsr"])
    parser.add_argument("--degraded-dir", type=Path, default=ROOT / "artifacts" / "eval-degraded")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(2)
    params = load_niqe_params(args.niqe_params)
    ups = methods(args.checkpoint, args.baselines)
    args.out.mkdir(parents=True, exist_ok=True)
    folders = {name: args.eval_dir / name for name in args.sets}
    for name in args.degraded_sets:
        folder = args.degraded_dir / f"{name}-realesrgan"
        degradation = DegradationConfig.realesrgan_stablesr()
        written, _ = make_pairs(args.eval_dir / name / "HR", folder, degradation, seed=0)
        print(f"made {written} Real-ESRGAN-degraded pairs from {name} HR (seed 0) in {folder}")
        folders[folder.name] = folder
    results = []
    for dataset, data in folders.items():
        for method, up in ups.items():
            start = time.perf_counter()
            summary = summarize(evaluate(data, up, params), method, dataset)
            seconds = time.perf_counter() - start
            results.append({**asdict(summary), "seconds": round(seconds, 1)})
            print(
                f"{dataset:12s} {method:26s} PSNR-Y {summary.psnr_y:6.2f} SSIM-Y {summary.ssim_y:.4f} "
                f"NIQE {summary.niqe:6.3f} overshoot {summary.overshoot:.3f} ({seconds:.0f} s)",
                flush=True,
            )
        first = sorted((data / "HR").iterdir())[0].name
        save_panel([crop_panel(data, first, ups)], args.out / f"crops-{dataset}.png")
    meta = {"checkpoint": str(args.checkpoint), "torch": torch.__version__, "results": results}
    (args.out / "quality.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = ["| set | method | PSNR-Y | SSIM-Y | NIQE | overshoot |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['dataset']} | {r['method']} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['niqe']:.3f} "
        f"| {r['overshoot']:.3f} |"
        for r in results
    ]
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'quality.json'} and quality.md")


if __name__ == "__main__":
    run_script(main)
