"""Compile the paper-scale `edge` preset (random weights) for the Galaxy S24 NPU and record the cost.

Runs `toolchain export --preset edge --target s24-dsp` in a subprocess under GNU time and
writes benchmarks/results/edge_export.json and .md: wall time per export stage, peak memory
(max RSS), bundle size per graph, and whether every NPU graph is fully offloaded. The HTP
emulator gate is skipped (--skip-verify): one 68-GMAC tile would take many minutes on a CPU.

Run: python benchmarks/edge_export.py [--precision a16w8]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="a16w8")
    parser.add_argument("--calibration-tiles", type=int, default=4)
    parser.add_argument("--graphs", default="all", help="all | qnn | litert (see toolchain export --help)")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "edge-s24-dsp")
    args = parser.parse_args()
    time_bin = shutil.which("time") or "/usr/bin/time"
    toolchain = str(Path(sys.executable).with_name("toolchain"))
    cmd = [
        time_bin,
        "-v",
        toolchain,
        "export",
        "--preset",
        "edge",
        "--target",
        "s24-dsp",
        "--precision",
        args.precision,
        "--calibration-tiles",
        str(args.calibration_tiles),
        "--graphs",
        args.graphs,
        "--skip-verify",
        "--force",
        "-o",
        str(args.out),
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "error:" in line]
        sys.exit(f"export failed ({done.returncode}): {errors[-1] if errors else done.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    manifest = json.loads((args.out / "manifest.json").read_text())
    report = (args.out / "report.md").read_text()
    stages = dict(re.findall(r"^\| ([^|]+?) \| ([\d.]+) \|$", report, flags=re.M))
    sizes = {f["file"]: f["size_bytes"] for f in manifest["files"]}
    record = {
        "command": " ".join(cmd[2:]).replace(toolchain, "toolchain"),
        "machine": f"{platform.machine()} {platform.processor() or ''}, {platform.node()}".strip(),
        "cpu_count": __import__("os").cpu_count(),
        "wall_seconds": round(wall, 1),
        "peak_rss_gb": round(peak_kb / 1024**2, 2),
        "stage_seconds": {k.strip(): float(v) for k, v in stages.items() if k.strip() != "stage"},
        "bundle_bytes": sum(sizes.values()),
        "graphs": [
            {
                "file": g["file"],
                "runtime": g["runtime"],
                "precision": g["precision"],
                "role": g["role"],
                "bytes": g["size_bytes"] + (sizes[g["context_binary"]] if g["context_binary"] else 0),
            }
            for g in manifest["graphs"]
        ],
        "qnn_sdk": manifest["compiler"]["qnn_sdk_version"],
        "litert": manifest["compiler"]["litert_version"],
        "toolchain_commit": manifest["toolchain"]["git_commit"],
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "edge_export.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# `edge` preset (157.5 M params, 68.8 GMACs/patch) compiled for SM8650",
        "",
        f"Command: `{record['command']}` on {record['cpu_count']} CPU cores, no GPU.",
        f"Wall time {record['wall_seconds']:.0f} s, peak memory {record['peak_rss_gb']:.2f} GB, "
        f"bundle {record['bundle_bytes'] / 1e6:.1f} MB, QNN {record['qnn_sdk']}, LiteRT {record['litert']}.",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in record["stage_seconds"].items()],
        "",
        "| graph | runtime | precision | role | MB |",
        "|---|---|---|---|---|",
        *[
            f"| {g['file']} | {g['runtime']} | {g['precision']} | {g['role']} | {g['bytes'] / 1e6:.1f} |"
            for g in record["graphs"]
        ],
    ]
    (out_dir / "edge_export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
