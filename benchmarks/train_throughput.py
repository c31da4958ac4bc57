"""Training throughput of the real stage loop: images/s, the data share of wall time and peak memory.

Runs ``toolchain.train.stages.run_recipe``, the loop ``toolchain train`` runs, on a preset's
recipe (``models/<preset>/recipe.json``) with every stage cut to ``--steps`` steps of
``--batch-size`` HR crops of ``--hr-crop`` px, and validation and the hold-out off. The numbers
are the loop's own ``log.jsonl`` records: ``img_per_s`` and ``data_frac`` (the share of wall time
the training process spends getting a batch: drawing crops and degrading them, or waiting for
the loader workers). With more than 10 steps they cover the steps after the 10th, so start-up
(model build, first CUDA kernels, worker start) stays out; ``*_all_steps`` include it. Peak memory:
``torch.cuda.max_memory_allocated`` per stage on a GPU, the process's ``ru_maxrss`` so far on a CPU.

Run: python benchmarks/train_throughput.py --preset nano --batch-size 16 --steps 20 --device cpu [--json]
(on a GPU: --device cuda; --data FOLDER trains on other photos than the recipe's train_data).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from toolchain.cli.common import run_script
from toolchain.train import stages
from toolchain.train.ddp import DistContext
from toolchain.train.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
LOG_EVERY = 10  # the loop logs every 10th step and the last one


def benchmark_recipe(preset: str, data: list[Path] | None, args: argparse.Namespace, folder: Path) -> Path:
    """The preset's recipe with short stages, no validation, and ``data`` as train_data when given."""
    source = ROOT / "models" / preset / "recipe.json"
    recipe = json.loads(source.read_text())
    if data is None:
        data = [(source.parent / d).resolve() for d in recipe["train_data"]]
    recipe["train_data"] = [str(d.resolve()) for d in data]
    recipe["hr_crop"] = args.hr_crop
    for key in ("holdout", "val_data", "val_niqe", "val_images", "val_crop"):
        recipe.pop(key, None)
    for stage in recipe["stages"]:
        stage.update(steps=args.steps, batch_size=args.batch_size, save_every=args.steps)
    path = folder / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


class StageMemory:
    """Peak memory of each stage: wraps ``stages.run_stage`` (the loop itself is untouched)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_gib: dict[str, float] = {}
        self._run_stage = stages.run_stage

    def __enter__(self) -> StageMemory:
        stages.run_stage = self._measured
        return self

    def __exit__(self, *exc: object) -> None:
        stages.run_stage = self._run_stage

    def _measured(self, run: stages.StageRun) -> bool:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        finished = self._run_stage(run)
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        self.peak_gib[run.stage.stage.value] = peak / 2**30
        return finished

    @property
    def kind(self) -> str:
        return "cuda_max_memory_allocated" if self.device.type == "cuda" else "ru_maxrss_process_so_far"


def stage_rates(records: list[dict], images_per_step: int) -> dict[str, float]:
    """img/s and data_frac of a stage from its cumulative log records.

    Each record holds the averages since the stage started; two records give the interval
    between them: elapsed = step * images_per_step / img_per_s, data time = data_frac * elapsed.
    """
    last = records[-1]
    out = {"img_per_s_all_steps": last["img_per_s"], "data_frac_all_steps": last["data_frac"]}
    first = next((r for r in records if r["step"] == LOG_EVERY), None)
    if first is None or last["step"] <= LOG_EVERY:
        return out | {
            "img_per_s": last["img_per_s"],
            "data_frac": last["data_frac"],
            "measured_steps": last["step"],
        }
    elapsed = [r["step"] * images_per_step / r["img_per_s"] for r in (first, last)]
    span = elapsed[1] - elapsed[0]
    data_s = last["data_frac"] * elapsed[1] - first["data_frac"] * elapsed[0]
    images = (last["step"] - first["step"]) * images_per_step
    return out | {
        "img_per_s": images / span,
        "data_frac": data_s / span,
        "measured_steps": last["step"] - LOG_EVERY,
    }


def machine() -> str:
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    cpu = platform.processor() or platform.machine()
    return f"{platform.node()}: {cpu}, {torch.get_num_threads()} torch threads{gpu}"


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    console = Console(stderr=True, quiet=args.json)
    with tempfile.TemporaryDirectory(prefix="train-throughput-") as tmp:
        recipe_path = benchmark_recipe(args.preset, args.data, args, Path(tmp))
        recipe, folders = load_recipe(recipe_path)
        out = Path(tmp) / "run"
        extra = {} if args.workers is None else {"workers": args.workers}
        started = time.monotonic()
        with StageMemory(device) as memory:
            stages.run_recipe(
                recipe, folders, out, False, None, console, ctx=DistContext(0, 1, device), **extra
            )
        wall_s = time.monotonic() - started
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    date = datetime.date.today().isoformat()
    records = []
    for stage_cfg in recipe.stages:
        name = stage_cfg.stage.value
        stage_log = [r for r in log if r.get("stage") == name and "img_per_s" in r]
        if not stage_log:
            continue
        records.append(
            {
                "device": device.type,
                "preset": args.preset,
                "batch_size": args.batch_size,
                "stage": name,
                **stage_rates(stage_log, args.batch_size * stage_cfg.grad_accum),
                "steps": args.steps,
                "hr_crop": args.hr_crop,
                "workers": args.workers,  # None: the library's default for the device
                "peak_memory_gib": round(memory.peak_gib[name], 3),
                "memory_kind": memory.kind,
                "label": args.label,
                "machine": machine(),
                "torch": torch.__version__,
                "date": date,
                "run_wall_s": round(wall_s, 1),
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="nano", help="models/<preset>/recipe.json (nano, edge)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="steps per stage (> 10: steady-state numbers)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print one JSON document {'records': [...]}")
    parser.add_argument("--data", type=Path, nargs="+", help="training photo folders (default: the recipe's)")
    parser.add_argument("--hr-crop", type=int, default=128, help="HR crop side (issue 25 measured 128)")
    parser.add_argument("--workers", type=int, help="loader workers (default: the library's, by device)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--label", default="", help="a note carried by every record (e.g. the code version)")
    args = parser.parse_args()
    if min(args.batch_size, args.steps, args.hr_crop) < 1 or (args.workers or 0) < 0:
        parser.error("--batch-size, --steps and --hr-crop must be >= 1 and --workers >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    records = run(args)
    if args.json:
        print(json.dumps({"command": " ".join(sys.argv), "records": records}, indent=2))
        return
    print(f"{args.preset}, batch {args.batch_size}, {args.steps} steps per stage, {args.device}: {machine()}")
    print(f"{'stage':<12} {'img/s':>8} {'data_frac':>9} {'peak GiB':>9}  ({records[0]['memory_kind']})")
    for r in records:
        print(f"{r['stage']:<12} {r['img_per_s']:8.1f} {r['data_frac']:9.3f} {r['peak_memory_gib']:9.2f}")


if __name__ == "__main__":
    run_script(main)
