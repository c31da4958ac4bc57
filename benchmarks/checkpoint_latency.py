"""Host latency of two checkpoints side by side: a 512 -> 2048 upscale and one tile, per engine.

For a change of the default model (issue 10 asks for the latency before and after): both
checkpoints run in the same process, engine by engine and interleaved, on the same input (the
bundled sample, mirrored out to --size), with the timing of `toolchain bench host`
(toolchain/bench/host.py). Prints the medians and the ratio after / before.

Run: python benchmarks/checkpoint_latency.py --before OLD_CKPT --after models/nano
     [--engines onnxruntime,torch] [--runs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from toolchain.bench.host import HostBenchOptions, bench_engines, parse_engines
from toolchain.cli.common import run_script
from toolchain.model.edge_sdsr import EdgeSDSR, read_checkpoint_config
from toolchain.tiling import TileSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkpoint folder before the change")
    parser.add_argument("--after", type=Path, required=True, help="checkpoint folder after the change")
    parser.add_argument("--engines", default="onnxruntime,torch", help="comma-separated engines")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="side of the square LR input")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()
    options = HostBenchOptions(
        runs=args.runs, size=args.size, engines=parse_engines(args.engines), threads=args.threads
    )
    rows = []
    for engine in options.engines:
        single = dataclasses.replace(options, engines=(engine,))
        timed = {}
        for name, path in (("before", args.before), ("after", args.after)):
            spec = TileSpec.for_model(read_checkpoint_config(path))
            (run,) = bench_engines(lambda path=path: EdgeSDSR.from_pretrained(path), spec, single)
            timed[name] = (run.tile.median_ms, run.image.median_ms)
        rows.append((engine.value, timed["before"], timed["after"]))
    print(f"{args.size} -> {args.size * 4} upscale, median of {args.runs} runs after a warm-up")
    print(f"before: {args.before}   after: {args.after}")
    print("| engine | tile before ms | tile after ms | image before s | image after s | after / before |")
    print("|---|---|---|---|---|---|")
    for engine, (tb, ib), (ta, ia) in rows:
        print(f"| {engine} | {tb:.0f} | {ta:.0f} | {ib / 1000:.2f} | {ia / 1000:.2f} | {ia / ib:.2f} |")


if __name__ == "__main__":
    run_script(main)
