"""Ablations of the paper's claims at nano scale, with equal training compute, on DRealSR.

Every variant starts from the same trained nano autoencoder (HR encoder + decoder, the
default run's `autoencoder` stage) and gets the same number of diffusion steps and decoder
steps, with the default recipe's degradation; only the switch under test changes. The
LR-skip pair cannot share an autoencoder (the skip changes what the decoder learns), so both
of its variants train their own autoencoder for --ae-steps.
Writes benchmarks/ablations.md and results/ablations.json.

Run: python benchmarks/ablations.py [--ae-checkpoint runs/nano/autoencoder] [--joint-steps 300]
     [--lr-skip none --tag no-skip --variants baseline unidirectional ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from rich.console import Console

from toolchain.cli.common import run_script
from toolchain.evaluate import evaluate, summarize
from toolchain.metrics.niqe import load_niqe_params
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.train.recipe import load_recipe
from toolchain.train.stages import run_recipe
from toolchain.upscaler import reference_upscale

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NANO_RECIPE = ROOT / "models" / "nano" / "recipe.json"  # the variants share its degradation

# name -> (claim, preset edits, stage plan); stage plan keys: joint | distill | ae
VARIANTS = {
    "baseline": ("bidirectional, variance, joint LR encoder, decoder FT", {}, "joint"),
    "unidirectional": ("bidirectional vs unidirectional", {"conditioning": "unidirectional"}, "joint"),
    "no-variance": ("with vs without z_l_sigma", {"lr_encoder.variance": False}, "joint"),
    "frozen-encoder": ("joint vs frozen LR encoder", {"lr_encoder.kind": "frozen_hr_encoder"}, "joint"),
    "scale-distillation": ("scale distillation vs direct one-step", {}, "distill"),
    "lr-skip-own-ae": ("LR skip in the decoder (own autoencoder)", {}, "ae"),
    "no-lr-skip-own-ae": ("no LR skip in the decoder (own autoencoder)", {"lr_skip": "none"}, "ae"),
}


def edited_preset(edits: dict) -> dict:
    preset = json.loads((ROOT / "models" / "presets" / "nano.json").read_text())
    out = copy.deepcopy(preset)
    for dotted, value in edits.items():
        node = out
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    return out


def recipe_for(name: str, plan: str, args: argparse.Namespace, work: Path) -> Path:
    """A recipe for one variant; plan "shared-ae" trains only the autoencoder the others start from."""
    common = {} if args.lr_skip is None else {"lr_skip": args.lr_skip}
    preset = edited_preset({**common, **(VARIANTS[name][1] if name in VARIANTS else {})})
    (work / f"{name}.preset.json").write_text(json.dumps(preset))
    step = {"learning_rate": 5e-4, "batch_size": args.batch_size, "save_every": 10_000}
    autoencoder = {"stage": "autoencoder", "steps": args.ae_steps, **step, "learning_rate": 1e-3}
    if plan == "distill":  # the same number of UNet steps as "joint", split teacher / student
        teacher = edited_preset({**common, "name": "nano-x2", "scale": 2, "lr_tile": 256})
        (work / f"{name}.teacher.json").write_text(json.dumps(teacher))
        half = args.joint_steps // 2
        stages = [{"stage": "teacher", "steps": half, **step}, {"stage": "distill", "steps": half, **step}]
    else:
        stages = [{"stage": "joint", "steps": args.joint_steps, **step}]
    stages.append({"stage": "decoder", "steps": args.decoder_steps, **step, "learning_rate": 3e-4})
    if plan == "ae":
        stages.insert(0, autoencoder)
    if plan == "shared-ae":
        stages = [autoencoder]
    recipe = {
        "preset": f"{name}.preset.json",
        "train_data": [str(args.train_data)],
        "hr_crop": 128,
        "degradation": json.loads(NANO_RECIPE.read_text())["degradation"],
        "stages": stages,
    }
    if plan not in ("ae", "shared-ae"):
        recipe["init_autoencoder"] = str(args.ae_checkpoint.resolve())
    if plan == "distill":
        recipe["teacher_preset"] = f"{name}.teacher.json"
    path = work / f"{name}.recipe.json"
    path.write_text(json.dumps(recipe, indent=1))
    return path


def score(checkpoint: Path, data: Path, params) -> dict:  # noqa: ANN001 - NiqeParams
    upscale = reference_upscale(EdgeSDSR.from_pretrained(checkpoint), torch.device("cpu"))
    scores = evaluate(data, upscale, params)
    return asdict(summarize(scores, checkpoint.parent.name, data.name))


def render(meta: dict) -> str:
    """benchmarks/ablations.md from the JSON record (numbers only; the reading is written by hand)."""
    a = meta["args"]
    base = next(r for r in meta["rows"] if r["variant"] == "baseline")
    lines = [
        "| variant | claim tested | PSNR-Y | SSIM-Y | NIQE | dPSNR vs baseline | train min |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in meta["rows"]:
        minutes = "-" if r["train_minutes"] is None else f"{r['train_minutes']:.1f}"
        lines.append(
            f"| {r['variant']} | {r['claim']} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['niqe']:.3f} | "
            f"{r['psnr_y'] - base['psnr_y']:+.2f} | {minutes} |"
        )
    budget = (
        f"Budget per variant: {a['joint_steps']} diffusion steps (distillation: half teacher, half "
        f"student), {a['decoder_steps']} decoder steps, batch {a['batch_size']}; the LR-skip pair also "
        f"trains its own autoencoder for {a['ae_steps']} steps. LR skip: "
        f"{a.get('lr_skip') or 'the preset default'} (the skip pair sets its own). "
        f"Eval: {Path(a['eval']).name}."
    )
    return budget + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ae-checkpoint", type=Path, default=None, help="shared autoencoder (default: train one, --ae-steps)"
    )
    parser.add_argument("--lr-skip", choices=["bicubic", "bilinear", "none"], help="for every variant")
    parser.add_argument("--tag", default="", help="results go to results/ablations[-TAG].json")
    parser.add_argument("--train-data", type=Path, default=SHARED / "data" / "train")
    parser.add_argument("--eval", type=Path, default=SHARED / "data" / "eval" / "drealsr")
    parser.add_argument("--niqe-params", type=Path, default=SHARED / "metrics" / "niqe_pris_params.npz")
    parser.add_argument("--joint-steps", type=int, default=300)
    parser.add_argument("--decoder-steps", type=int, default=100)
    parser.add_argument("--ae-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "ablations")
    parser.add_argument("--render", action="store_true", help="only re-render the table from the JSON")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results"
    record = out / f"ablations{'-' + args.tag if args.tag else ''}.json"
    if args.render:
        print(render(json.loads(record.read_text())))
        return
    torch.set_num_threads(2)
    params = load_niqe_params(args.niqe_params)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.ae_checkpoint is None:
        recipe, folders = load_recipe(recipe_for("shared-ae", "shared-ae", args, args.work))
        shared = args.work / "shared-ae"
        run_recipe(recipe, folders, shared, shared.exists(), None, Console(quiet=True))
        args.ae_checkpoint = shared / "autoencoder"
    rows = []
    for name in args.variants:
        claim, edits, plan = VARIANTS[name]
        recipe, folders = load_recipe(recipe_for(name, plan, args, args.work))
        start = time.perf_counter()
        run_dir = args.work / name
        run_recipe(recipe, folders, run_dir, run_dir.exists(), None, Console(quiet=True))
        minutes = (time.perf_counter() - start) / 60
        final = score(run_dir / "decoder", args.eval, params)
        rows.append(
            {"variant": name, "claim": claim, "edits": edits, "train_minutes": round(minutes, 1), **final}
        )
        if name == "baseline":  # decoder fine-tuning vs none: the same run before its decoder stage
            before = score(run_dir / "joint", args.eval, params)
            rows.append(
                {
                    "variant": "no-decoder-ft",
                    "claim": "decoder fine-tuning vs none",
                    "edits": {},
                    "train_minutes": None,
                    **before,
                }
            )
        print(
            f"{name:20s} PSNR-Y {final['psnr_y']:.2f} SSIM-Y {final['ssim_y']:.4f} NIQE {final['niqe']:.3f} "
            f"({minutes:.1f} min)",
            flush=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    meta = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
    record.write_text(json.dumps(meta, indent=2) + "\n")
    print(render(meta))


if __name__ == "__main__":
    run_script(main)
