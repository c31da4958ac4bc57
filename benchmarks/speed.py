"""Host speed of `toolchain upscale`: every engine and the bundle's CPU graphs next to Real-ESRGAN.

One run of `toolchain bench host` (toolchain/bench/host.py: the timing, the engines, the peers and
the PSNR against the torch-reference engine live there) on the nano checkpoint and the exported
bundle, plus the `edge` preset (random weights, seeded) on the engines, and optionally the
4000x3000 -> 16000x12000 upscale with progress, wall time and peak RSS. Medians and ratios are
printed side by side: ratios taken in one run survive a busy machine far better than seconds, and
the output says when the machine was busy (1-minute load average at the start).

Writes benchmarks/results/speed.json and speed.md.

Run (quiet machine): python benchmarks/speed.py --large
  [--more-bundles exports/nano-s24-exynos-a8w8 exports/nano-cpu-fp32]   (their CPU graphs too)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolchain.atomic import write_text_atomic
from toolchain.bench.host import (
    DEFAULT_IMAGE,
    DEFAULT_NOTE,
    PSNR_NOTE,
    HostBenchOptions,
    PeakRss,
    bench_engines,
    bench_host,
    parse_engines,
)
from toolchain.bench.report import markdown_summary
from toolchain.bench.results import BenchResult, RunResult, RunStatus
from toolchain.cli.common import run_script
from toolchain.configio import to_dict
from toolchain.engines import Engine
from toolchain.imageio import MAX_INPUT_PIXELS, LoadedImage, load_image, save_image
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.tiling import TileSpec, plan_tiles

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "exports" / "nano-s24-dsp-a16w8"
PEERS = ("realesrgan-general-x4v3", "bicubic")
REALESRGAN = "realesrgan-general-x4v3"
REFERENCE = "ours-engine-torch-reference"
LARGE_SIZE = (4000, 3000)  # LR width x height -> 16000 x 12000
BUSY_LOAD_PER_CPU = 0.25  # a 1-minute load average above this share of the CPUs marks the run as disturbed
BUSY_CPU_SHARE = 0.5  # ... as does this process getting less than this share of the threads it may use


def main() -> None:
    args = _parser().parse_args()
    say: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    load_start = os.getloadavg()[0]
    cpu_start, wall_start = _cpu_seconds(), time.perf_counter()
    options = HostBenchOptions(
        runs=args.runs,
        warmup=args.warmup,
        image=args.image,
        size=args.size,
        peers=PEERS,
        engines=parse_engines(args.engines),
        threads=args.threads,
    )
    nano = bench_host(args.bundle, options, say)
    # other targets' bundles: only their CPU graphs, next to this run's torch-reference on the same input
    only_reference = dataclasses.replace(options, peers=(), engines=(Engine.TORCH_REFERENCE,))
    others = [(bundle.name, bench_host(bundle, only_reference, say)) for bundle in args.more_bundles]
    edge: tuple[RunResult, ...] = ()
    if args.edge_engines:
        edge_options = HostBenchOptions(
            runs=args.edge_runs,
            warmup=args.warmup,
            image=args.image,
            size=args.size,
            engines=parse_engines(args.edge_engines),
            threads=args.threads,
        )
        edge_spec = TileSpec.for_model(load_preset("edge"))
        edge = bench_engines(_edge_model, edge_spec, edge_options, say, full_image=args.edge_image)
    large = _large_run(args.image, args.threads, say) if args.large else None
    load_end = os.getloadavg()[0]
    threads = args.threads or os.cpu_count() or 1
    cpu_share = (_cpu_seconds() - cpu_start) / (time.perf_counter() - wall_start) / threads
    record = {
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "load_average_1min": {"start": load_start, "end": load_end, "cpus": os.cpu_count()},
        "busy": _busy(load_start) or cpu_share < BUSY_CPU_SHARE,
        "cpu_share": cpu_share,
        "summary": _summary_rows(nano, edge, others),
        "nano": to_dict(nano),
        "more_bundles": {name: to_dict(result) for name, result in others},
        "edge": [to_dict(run) for run in edge],
        "large": large,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "speed.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    markdown = _markdown(record, nano)
    write_text_atomic(args.out / "speed.md", markdown)
    print(markdown)
    say(f"wrote {args.out / 'speed.json'} and {args.out / 'speed.md'}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle", type=Path, default=DEFAULT_BUNDLE, help="exported bundle (its CPU graphs)"
    )
    parser.add_argument(
        "--more-bundles",
        type=Path,
        nargs="*",
        default=[],
        help="other targets' bundles (e.g. s24-exynos, cpu): their CPU graphs are timed too",
    )
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="input, mirrored/cropped to --size")
    parser.add_argument("--size", type=int, default=512, help="side of the LR test image (512 -> 2048)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per runtime (default all)")
    parser.add_argument("--engines", default="onnxruntime,torch,torch-reference", help="nano engines")
    parser.add_argument(
        "--edge-engines",
        default="onnxruntime,torch-reference",
        help="engines for the edge preset (random weights; '' skips it)",
    )
    parser.add_argument("--edge-runs", type=int, default=3, help="timed edge tiles (68.8 GMACs each)")
    parser.add_argument(
        "--edge-image", action="store_true", help="also run edge's 25-tile image (else tiles x median tile)"
    )
    parser.add_argument(
        "--large", action="store_true", help="also upscale 4000x3000 -> 16000x12000 (minutes, ~1-2 GB RSS)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return parser


def _edge_model() -> EdgeSDSR:
    """The paper-scale preset with seeded random weights (timing only; the same weights every call)."""
    import torch

    torch.manual_seed(0)
    return EdgeSDSR(load_preset("edge")).eval()


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    t = os.times()
    return t.user + t.system


def _busy(load_average: float) -> bool:
    return load_average > BUSY_LOAD_PER_CPU * (os.cpu_count() or 1)


def _median_s(run: RunResult, per: str) -> float | None:
    timing = run.tile if per == "tile" else run.image
    return None if timing is None else timing.median_ms / 1000.0


def _psnr_text(run: RunResult) -> str:
    note = next((n for n in run.notes if n.startswith(PSNR_NOTE)), None)
    if run.label == REFERENCE:
        return "reference"
    return "" if note is None else note[len(PSNR_NOTE) :].strip()


def _summary_rows(
    nano: BenchResult, edge: tuple[RunResult, ...], others: list[tuple[str, BenchResult]]
) -> list[dict[str, object]]:
    """One row per run: medians (s), speedups vs Real-ESRGAN and vs torch-reference (> 1: faster).

    Of each other bundle's result only its graphs are rows; its own torch-reference run (the same
    input, minutes apart) is their reference.
    """
    realesrgan = next((r for r in nano.runs if r.label == REALESRGAN), None)
    rows = []
    groups = [("nano", nano.runs, nano.runs), ("edge (random weights)", edge, edge)]
    for name, result in others:
        graphs = tuple(r for r in result.runs if not r.label.startswith("ours-engine-"))
        groups.append((f"nano, bundle {name}", graphs, result.runs))
    for model, runs, with_reference in groups:
        reference = next((r for r in with_reference if r.label == REFERENCE), None)
        for run in runs:
            row: dict[str, object] = {
                "model": model if run.label not in (REALESRGAN, "bicubic") else "peer",
                "label": run.label,
                "runtime": run.runtime,
                "graph": run.graph,
                "status": run.status.value,
                "reason": run.reason,
                "image_method": None if run.image is None else run.image.method.value,
                "psnr_vs_reference": _psnr_text(run),
                "cli_default": any(n == DEFAULT_NOTE for n in run.notes),
            }
            for per in ("tile", "image"):
                median = _median_s(run, per)
                row[f"{per}_median_s"] = median
                for name, other in (("realesrgan", realesrgan), ("reference", reference)):
                    base = None if other is None else _median_s(other, per)
                    row[f"{per}_speedup_vs_{name}"] = (
                        None if median is None or base is None else base / median
                    )
            rows.append(row)
    return rows


def _large_run(image_path: Path, threads: int | None, say: Callable[[str], None]) -> dict[str, object]:
    """4000x3000 -> 16000x12000 with the CLI's default engine: progress, wall time, peak RSS."""
    import torch

    from toolchain.engines import Engine, open_engine, resolve_engine
    from toolchain.upscaler import NoiseConfig, upscale_loaded

    width, height = LARGE_SIZE
    memory = PeakRss()
    memory.reset()
    start = time.perf_counter()
    rgb = load_image(image_path, MAX_INPUT_PIXELS).rgb
    pad = ((0, max(0, height - rgb.shape[0])), (0, max(0, width - rgb.shape[1])), (0, 0))
    rgb = np.ascontiguousarray(np.pad(rgb, pad, mode="symmetric")[:height, :width])
    model = EdgeSDSR.from_pretrained(DEFAULT_CHECKPOINT)
    spec = TileSpec.for_model(model.config)
    cpu = torch.device("cpu")
    engine = resolve_engine(Engine.AUTO, cpu)
    runner = open_engine(model, engine, cpu, NoiseConfig(), spec.tile, threads)
    tiles = plan_tiles(height, width, spec).num_tiles
    compute_start = time.perf_counter()
    last_report = [compute_start]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last_report[0] >= 10.0 or done == total:
            elapsed = now - compute_start
            eta = elapsed / done * (total - done)
            say(f"large: {done}/{total} tiles, {elapsed:.0f} s elapsed, ETA {eta:.0f} s")
            last_report[0] = now

    out, _ = upscale_loaded(LoadedImage(rgb, None, image_path), runner, spec, 4, progress)
    compute_s = time.perf_counter() - compute_start
    with tempfile.TemporaryDirectory() as tmp:
        save_start = time.perf_counter()
        save_image(Path(tmp) / "large.png", out, None)
        save_s = time.perf_counter() - save_start
    peak = memory.peak_bytes()
    return {
        "input": f"{image_path.name} mirrored out to {width}x{height}",
        "output": f"{out.shape[1]}x{out.shape[0]}",
        "engine": engine.value,
        "tiles": tiles,
        "upscale_s": compute_s,
        "s_per_tile": compute_s / tiles,
        "png_save_s": save_s,
        "wall_s": time.perf_counter() - start,
        "peak_rss_bytes": peak,
        "peak_rss_since_process_start": memory.since_start,
    }


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(record: dict, nano: BenchResult) -> str:  # noqa: ANN001 - plain JSON record
    load = record["load_average_1min"]
    lines = ["# Host speed of `toolchain upscale` (nano, edge) next to Real-ESRGAN-general-x4v3", ""]
    if record["busy"]:
        lines += [
            f"**Measured on a BUSY machine** (1-minute load average {load['start']:.2f} at the start on "
            f"{load['cpus']} CPUs; this process got {record['cpu_share']:.0%} of the CPU time its threads "
            "could use): seconds are inflated. Ratios taken in one run survive a steady load, not one "
            "that comes and goes; rerun on a quiet machine for numbers to quote.",
            "",
        ]
    lines += [
        f"Command: `{record['command']}`. Input: {nano.workload.image_width}x{nano.workload.image_height} "
        f"-> x4 as {nano.workload.image_tiles} tiles of {nano.workload.tile} px (overlap "
        f"{nano.workload.overlap}), and one {nano.workload.tile} px tile. Median of "
        f"{_runs_of(nano)} timed runs after the warm-up. Speedup = the other's median / this one's "
        "(> 1: this one is faster). PSNR against the `torch-reference` engine's output (RGB; the image "
        "as the uint8 the CLI writes).",
        "",
        "| model | run | runtime (graph) | tile (s) | image (s) | vs Real-ESRGAN (tile / image) | "
        "vs torch-reference (image) | PSNR vs reference | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in record["summary"]:
        note = row["reason"] or ""
        if row["image_method"] == "computed":
            note = "image computed: tiles x median tile"
        if row["cli_default"]:
            note = "`toolchain upscale` default on CPU"
        runtime = _fmt(row["runtime"]) + (f" (`{row['graph']}`)" if row["graph"] else "")
        lines.append(
            f"| {row['model']} | {row['label']} | {runtime} | {_fmt(row['tile_median_s'], 3)} | "
            f"{_fmt(row['image_median_s'])} | {_fmt(row['tile_speedup_vs_realesrgan'])} / "
            f"{_fmt(row['image_speedup_vs_realesrgan'])} | {_fmt(row['image_speedup_vs_reference'])} | "
            f"{row['psnr_vs_reference'] or '-'} | {note} |"
        )
    large = record["large"]
    lines += ["", "## 4000x3000 -> 16000x12000", ""]
    if large is None:
        lines.append("Not run (`--large`).")
    else:
        peak = large["peak_rss_bytes"]
        lines.append(
            f"Engine {large['engine']}, {large['tiles']} tiles: upscale {large['upscale_s']:.1f} s "
            f"({large['s_per_tile']:.3f} s per tile), PNG save {large['png_save_s']:.1f} s, wall "
            f"{large['wall_s']:.1f} s, peak RSS {_fmt(None if peak is None else peak / 2**30)} GiB"
            + (" (since process start)" if large["peak_rss_since_process_start"] else "")
            + "."
        )
    lines += ["", "## Full `toolchain bench host` result (nano)", "", markdown_summary([nano])]
    return "\n".join(lines) + "\n"


def _runs_of(result: BenchResult) -> int:
    return max((len(r.tile.runs_ms) for r in result.runs if r.status is RunStatus.OK and r.tile), default=0)


if __name__ == "__main__":
    run_script(main)
