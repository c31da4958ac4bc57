"""Ablations of the levers for a sharper default (issue 10), at equal compute, on held-out photos.

Every variant fine-tunes the same base checkpoint (the default recipe's stages up to `decoder`)
for the same number of steps and batch size, with one switch changed: the loss (L1 only vs the
adversarial stage), what the adversarial stage trains, its GAN weight, and the share of clean
(bicubic-only) inputs. Each variant is scored on the default run's held-out validation photos
(`<run>/val`: training photos never trained on, degraded once), never on an eval set:
PSNR-Y / SSIM-Y (fidelity) and NIQE (lower is sharper / more natural). Run a variant with
several seeds to see the noise. Writes benchmarks/results/ablations-sharpness.json and the
"Sharpness levers" section of benchmarks/ablations.md.

Run: python benchmarks/sharpness_ablations.py --run runs/nano2 [--steps 300] [--seeds 0 1]
     [--variants l1-decoder gan-decoder ...]
Crops of trained variants: ... --crops gan-decoder usm-decoder
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from rich.console import Console

from toolchain.cli.common import run_script
from toolchain.evaluate import bicubic_upscale, crop_panel, evaluate, save_panel, summarize
from toolchain.metrics.niqe import load_niqe_params
from toolchain.model.config import ModelConfig, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR, read_checkpoint_config
from toolchain.train.recipe import load_recipe
from toolchain.train.stages import run_recipe
from toolchain.upscaler import reference_upscale

ROOT = Path(__file__).resolve().parents[1]
NANO_RECIPE = ROOT / "models" / "nano" / "recipe.json"
RESULTS = ROOT / "benchmarks" / "results" / "ablations-sharpness.json"
DOC = ROOT / "benchmarks" / "ablations.md"
CROPS = ROOT / "benchmarks" / "results" / "ablations-sharpness-crops.png"
NEAREST_PRESET = "nano-nearest"  # nano with nearest + conv decoder upsampling (nearest-l1, nearest-gan)
GUIDE_PRESET = "nano"  # the decoder's LR guide branch (guide-l1): since issue 10 part of nano itself
SECTION = "## Sharpness levers (issue 10)"
READING = "### Reading the sharpness levers"

ADV = {"stage": "adversarial", "learning_rate": 3e-4}
# name -> (what it tests, the final stage's settings)
VARIANTS: dict[str, tuple[str, dict]] = {
    "l1-decoder": ("control: more L1 decoder steps", {"stage": "decoder", "learning_rate": 3e-4}),
    "gan-decoder": ("adversarial stage on the decoder (GAN 0.05, features 1.0)", ADV),
    "gan-decoder-unet": (
        "adversarial stage on decoder + UNet + LR encoder",
        {**ADV, "learning_rate": 1e-4, "trainable": ["decoder", "unet", "lr_encoder"]},
    ),
    "gan-0.01": ("adversarial, GAN weight 0.01", {**ADV, "adversarial": {"gan_weight": 0.01}}),
    "gan-0.2": ("adversarial, GAN weight 0.2", {**ADV, "adversarial": {"gan_weight": 0.2}}),
    "gan-no-features": ("adversarial, no feature matching", {**ADV, "adversarial": {"feature_weight": 0.0}}),
    "gan-clean-0.2": ("adversarial, clean_prob 0.2 (from 0.5)", {**ADV, "clean_prob": 0.2}),
    "usm-decoder": (
        "L1 decoder steps against USM-sharpened HR (0.5)",
        {"stage": "decoder", "learning_rate": 3e-4, "sharpen_target": 0.5},
    ),
    "nearest-l1": (
        "decoder upsampling nearest + conv instead of conv + pixel shuffle (same MACs), L1 steps",
        {"stage": "decoder", "learning_rate": 3e-4},
    ),
    "nearest-gan": (
        "nearest-l1, then the adversarial stage (GAN 0.05, features 1.0)",
        ADV,
    ),
    "guide-l1": (
        "decoder with an LR guide branch (32 ch, +0.35 GMACs; as in preset nano today), L1 steps",
        {"stage": "decoder", "learning_rate": 3e-4},
    ),
    "gan-0.01-usm": (
        "adversarial, GAN weight 0.01, L1 + features against USM-sharpened HR (0.5)",
        {**ADV, "adversarial": {"gan_weight": 0.01}, "sharpen_target": 0.5},
    ),
}


def decoder_variant(base: ModelConfig, preset: str) -> ModelConfig:
    """Preset ``preset`` with ``base``'s latent scaling, where ``preset`` differs from ``base`` in the
    decoder only (so every other component's weights carry over unchanged)."""
    target = load_preset(preset)
    same_elsewhere = dataclasses.replace(
        target, name=base.name, decoder=base.decoder, latent_scaling=base.latent_scaling
    )
    if same_elsewhere != base:
        raise SystemExit(f"preset {preset} differs from {base.name} outside the decoder")
    return dataclasses.replace(target, latent_scaling=base.latent_scaling)


def nearest_decoder(base: Path, out: Path) -> Path:
    """``base`` as preset ``NEAREST_PRESET``: the decoder's pixel-shuffle upsamplers become nearest + conv.

    The swap keeps every other weight. Each new conv starts from the mean of the four sub-pixel
    kernels of the pixel-shuffle conv it replaces (ICNR's idea: one kernel for all four output
    positions, so no sub-pixel pattern to begin with); the L1 steps of ``nearest-l1`` then adapt it.
    """
    if (out / "config.json").is_file():
        return out
    model = EdgeSDSR.from_pretrained(base)
    swapped = EdgeSDSR(decoder_variant(model.config, NEAREST_PRESET))
    state = model.state_dict()
    for key, target in swapped.state_dict().items():
        source = state[key]
        if source.shape != target.shape:  # (4C, C, 3, 3) or (4C,): channel 4c + k is sub-pixel k
            source = source.reshape(target.shape[0], 4, *source.shape[1:]).mean(dim=1)
        target.copy_(source)
    swapped.save_pretrained(out)
    return out


def guided_decoder(base: Path, out: Path) -> Path:
    """``base`` as preset ``GUIDE_PRESET``: the LR guide branch added to its decoder.

    Every existing weight is kept; the guide's last conv starts at zero (``LRGuide``), so the
    converted model's output equals ``base``'s until the L1 steps of ``guide-l1`` train it.
    """
    if (out / "config.json").is_file():
        return out
    model = EdgeSDSR.from_pretrained(base)
    guided = EdgeSDSR(decoder_variant(model.config, GUIDE_PRESET))
    missing, unexpected = guided.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("decoder.lr_guide.") for k in missing), (missing, unexpected)
    guided.save_pretrained(out)
    return out


def variant_recipe(name: str, base: Path, steps: int, batch: int, seed: int, work: Path) -> Path:
    """The default recipe's data, holdout and degradation; one stage fine-tuning ``base``."""
    recipe = json.loads(NANO_RECIPE.read_text())
    recipe["train_data"] = [str((NANO_RECIPE.parent / d).resolve()) for d in recipe["train_data"]]
    recipe["val_niqe"] = str((NANO_RECIPE.parent / recipe["val_niqe"]).resolve())
    preset = read_checkpoint_config(base).name  # nano, or the converted variant's preset
    recipe.update(
        {"seed": seed, "preset": preset, "init_checkpoint": str(base.resolve()), "teacher_preset": None}
    )
    stage = {**VARIANTS[name][1], "steps": steps, "batch_size": batch, "save_every": steps}
    recipe["stages"] = [stage]
    path = work / f"{name}-seed{seed}.recipe.json"
    path.write_text(json.dumps(recipe, indent=2))
    return path


def score(val: Path, upscale, niqe_params) -> dict:
    s = summarize(evaluate(val, upscale, niqe_params), "", "validation")
    return {"psnr_y": s.psnr_y, "ssim_y": s.ssim_y, "niqe": s.niqe}


def model_upscale(checkpoint: Path):  # noqa: ANN201 - evaluate.Upscale
    return reference_upscale(EdgeSDSR.from_pretrained(checkpoint), torch.device("cpu"))


def write_doc(rows: list[dict], args: argparse.Namespace) -> None:
    images = len(list((args.run / "val" / "HR").iterdir()))
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/sharpness_ablations.py --run {args.run} --steps {args.steps} "
        f"--batch {args.batch}` (seeds and variants as listed; raw: `results/ablations-sharpness.json`).",
        f"Each variant fine-tunes `{args.run}/decoder` (the default recipe's L1 stages) for {args.steps} "
        f"steps of batch {args.batch}. Scores are on the {images} held-out training photos "
        f"of `{args.run}/val` (256 px crops, degraded once by the recipe's degradation); no eval set "
        "is used. Lower NIQE reads as more natural (sharp, without artifacts).",
        "",
        "| variant | what it tests | seed | PSNR-Y | SSIM-Y | NIQE | train min |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        minutes = f"{r['train_min']:.1f}" if r["train_min"] is not None else "-"
        lines.append(
            f"| {r['variant']} | {r['what']} | {r['seed'] if r['seed'] is not None else '-'} | "
            f"{r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['niqe']:.3f} | {minutes} |"
        )
    text = DOC.read_text() if DOC.is_file() else ""
    head, _, rest = text.partition(SECTION)
    reading = rest[rest.index(READING) :] if READING in rest else ""  # the hand-written readout is kept
    head = head.rstrip()
    DOC.write_text(
        (head + "\n\n" if head else "") + "\n".join(lines) + "\n" + ("\n" + reading if reading else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/nano2"), help="the default recipe's run")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--work", type=Path, default=Path("runs/ablations-sharpness"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--crops",
        nargs="+",
        metavar="VARIANT",
        choices=list(VARIANTS),
        help="only write results/ablations-sharpness-crops.png: bicubic | base | these trained variants "
        "(seed 0) | HR, 5 held-out photos",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base, val = args.run / "decoder", args.run / "val"
    niqe_params = load_niqe_params(ROOT.parent / "shared" / "metrics" / "niqe_pris_params.npz")
    if args.crops:
        save_crops(args, base, val)
        return
    rows = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    done = {(r["variant"], r["seed"]) for r in rows}
    console = Console(stderr=True)
    args.work.mkdir(parents=True, exist_ok=True)
    for name, what, checkpoint in (
        ("bicubic", "reference", None),
        ("base", "the L1 base, no fine-tune", base),
    ):
        if (name, None) not in done:
            upscale = bicubic_upscale if checkpoint is None else model_upscale(checkpoint)
            rows.append(
                {
                    "variant": name,
                    "what": what,
                    "seed": None,
                    "train_min": None,
                    **score(val, upscale, niqe_params),
                }
            )
    for seed in args.seeds:
        for name in args.variants:
            if (name, seed) in done:
                continue
            start = base
            if name == "nearest-l1":
                start = nearest_decoder(base, args.work / "nearest-init")
            elif name == "guide-l1":
                start = guided_decoder(base, args.work / "guide-init")
            elif name == "nearest-gan":
                start = args.work / f"nearest-l1-seed{seed}" / "decoder"
                if not start.is_dir():
                    raise SystemExit("nearest-gan starts from nearest-l1: run that variant first")
            spec = variant_recipe(name, start, args.steps, args.batch, seed, args.work)
            recipe, folders = load_recipe(spec)
            out = args.work / f"{name}-seed{seed}"
            t0 = time.monotonic()
            final = run_recipe(recipe, folders, out, True, None, console)
            minutes = (time.monotonic() - t0) / 60
            assert final is not None
            result = score(val, model_upscale(final), niqe_params)
            rows.append(
                {"variant": name, "what": VARIANTS[name][0], "seed": seed, "train_min": minutes, **result}
            )
            console.print(f"{name} seed {seed}: {result} ({minutes:.1f} min)")
            save(rows, args)
    save(rows, args)


def save_crops(args: argparse.Namespace, base: Path, val: Path) -> None:
    ups = {"bicubic": bicubic_upscale, "base": model_upscale(base)}
    for name in args.crops:  # a variant's checkpoint is its one stage's folder
        ups[name] = model_upscale(args.work / f"{name}-seed0" / VARIANTS[name][1]["stage"])
    names = sorted(p.name for p in (val / "HR").iterdir())[:5]
    size = 128
    rows = [crop_panel(val, n, ups, size)[:, size:] for n in names]  # without the LR panel
    save_panel(rows, CROPS)
    print(f"wrote {CROPS}: bicubic | base | {' | '.join(args.crops)} | HR")


def save(rows: list[dict], args: argparse.Namespace) -> None:
    """Write the JSON record and the markdown section (after every variant: a long run can stop)."""
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    write_doc(rows, args)


if __name__ == "__main__":
    run_script(main)
