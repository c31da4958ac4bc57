"""Is data loading the bottleneck? Crop + degrade throughput next to a training step's, in one run.

Times, on this machine's CPU threads, (a) drawing a batch of HR crops, (b) the same plus the
recipe's degradation (and plain bicubic for reference), and (c) one optimizer step of each
training stage's loss for the recipe's preset at the recipe's batch size. Data loading runs in
the training process, so its share of a step is data / (data + step).
Writes benchmarks/results/data_loading.md.

Run: python benchmarks/data_loading.py [--recipe models/nano/recipe.json] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console

from toolchain.cli.common import run_script
from toolchain.data.datasets import HRCropSampler
from toolchain.data.degradations import DegradationConfig, degrade
from toolchain.train.recipe import Stage, load_recipe
from toolchain.train.stages import (
    init_model,
    init_teacher,
    loss_for,
    trainable_components,
    trainable_parameters,
)

ROOT = Path(__file__).resolve().parents[1]


def per_batch_seconds(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "models" / "nano" / "recipe.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_loading.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe, folders = load_recipe(args.recipe)
    data = HRCropSampler.from_folders(folders, recipe.hr_crop, recipe.max_side, Console(stderr=True))
    batch = recipe.stages[0].batch_size
    gen = torch.Generator().manual_seed(0)
    hr = data.batch(batch, gen)
    lr = degrade(hr, recipe.degradation, gen)

    rows: list[tuple[str, float]] = []
    crop = per_batch_seconds(lambda: data.batch(batch, gen), 2, args.repeats)
    rows.append(("HR crops (flip/rot90)", crop))
    bicubic = DegradationConfig.bicubic(recipe.degradation.scale)
    rows.append(
        ("crops + bicubic", crop + per_batch_seconds(lambda: degrade(hr, bicubic, gen), 2, args.repeats))
    )
    recipe_deg = per_batch_seconds(lambda: degrade(hr, recipe.degradation, gen), 2, args.repeats)
    label = (
        f"crops + recipe degradation ({recipe.degradation.kind}, clean_prob {recipe.degradation.clean_prob})"
    )
    rows.append((label, crop + recipe_deg))
    data_s = crop + recipe_deg

    model = init_model(recipe)
    teacher = init_teacher(recipe, None) if recipe.teacher_preset else None
    steps: list[tuple[str, float]] = []
    for stage_cfg in recipe.stages:
        stage = stage_cfg.stage
        if stage is Stage.TEACHER:
            continue  # the same loss and network as joint at x2
        if stage is Stage.ADVERSARIAL:
            continue  # needs its discriminator's optimizer step; timed by sharpness_ablations.py
        loss_fn = loss_for(stage_cfg, recipe, teacher)
        opt = torch.optim.AdamW(trainable_parameters(model, trainable_components(stage_cfg)), lr=1e-5)

        def step(loss_fn=loss_fn, opt=opt) -> None:  # noqa: ANN001
            opt.zero_grad(set_to_none=True)
            loss_fn(model, hr, lr, gen)[0].backward()
            opt.step()

        steps.append((stage.value, per_batch_seconds(step, 1, max(3, args.repeats // 2))))

    lines = [
        f"Recipe `{args.recipe.relative_to(ROOT)}`, batch {batch}, HR crop {recipe.hr_crop} px, "
        f"{args.threads} CPU threads, torch {torch.__version__}.",
        "",
        "| data pipeline | s / batch | images / s |",
        "|---|---|---|",
        *[f"| {name} | {s:.3f} | {batch / s:.1f} |" for name, s in rows],
        "",
        "| training step (stage) | s / step | images / s | data share of a step |",
        "|---|---|---|---|",
        *[f"| {name} | {s:.3f} | {batch / s:.1f} | {data_s / (data_s + s):.1%} |" for name, s in steps],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
