"""The CLI starts without torch (issue 26 item 12): `--help`, `targets`, usage errors and an input
refused from its header never import it (seconds of start-up); the commands that run a model import
it themselves. `--help`, `targets` and usage errors import no numpy, SciPy, ONNX or LiteRT either.
Each check runs the CLI in a fresh Python process, where nothing imported them before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from test_upscale_batch import png_header

from toolchain.cli.main import app

HEAVY = ("torch", "numpy", "scipy", "onnx", "onnxruntime", "ai_edge_litert")
CHILD = f"""
import json, sys
from typer.testing import CliRunner
from toolchain.cli.main import app
results = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, args)
    results.append({{"args": args, "exit_code": result.exit_code, "output": result.output,
                    "heavy": [m for m in {HEAVY!r} if m in sys.modules]}})
print(json.dumps(results))
"""


def run_fresh(*invocations: list[str | Path]) -> list[dict]:
    """Each invocation of the CLI in turn in one fresh Python process: its exit code, its output and
    the HEAVY modules imported by then."""
    args = json.dumps([[str(a) for a in invocation] for invocation in invocations])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, args], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def imported(results: list[dict], allowed: tuple[str, ...] = ()) -> list[tuple[list[str], str]]:
    """(invocation, module) for each HEAVY module but ``allowed`` imported by then (the first
    invocation that lists a module imported it)."""
    return [(r["args"], module) for r in results for module in r["heavy"] if module not in allowed]


def command_paths() -> Iterator[list[str]]:
    """Every command and group of the CLI, the root first: [], ["upscale"], ..., ["bench", "host"]."""

    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return walk(typer.main.get_command(app), [])


def assert_one_error_line(result: dict, *needles: str) -> None:
    lines = [line for line in result["output"].splitlines() if line.strip()]
    assert result["exit_code"] == 1 and len(lines) == 1 and lines[0].startswith("error:"), result
    for needle in needles:
        assert needle in lines[0], result


def test_the_help_of_every_command_imports_no_torch() -> None:
    paths = list(command_paths())
    assert ["upscale"] in paths and ["degrade"] in paths and ["bench", "host"] in paths
    results = run_fresh(*([*path, "--help"] for path in paths))
    assert [r["args"] for r in results if r["exit_code"] != 0 or "Usage" not in r["output"]] == []
    assert imported(results) == []


def test_targets_imports_no_torch() -> None:
    results = run_fresh(["targets"], ["targets", "--json"])
    assert all(r["exit_code"] == 0 and "s24-dsp" in r["output"] for r in results), results
    assert imported(results) == []


def test_usage_errors_import_no_torch(tmp_path: Path) -> None:
    """Parse errors, and the checks of options that a command makes before its work, come before torch."""
    image, out = tmp_path / "in.png", tmp_path / "out.png"
    cases = {
        "Missing argument": ["upscale"],
        "Missing option '--out'": ["upscale", image],
        "No such option: --bogus": ["eval", "--bogus"],
        "unknown target 'nope'": ["export", "--target", "nope"],
        "unknown precision 'int3'": ["export", "--precision", "int3"],
        "'nope' is not one of": ["upscale", image, "-o", out, "--engine", "nope"],
        "--batch-size must be a finite number": ["upscale", image, "-o", out, "--batch-size", "0"],
        "--noise-scale must be a finite number": ["upscale", image, "-o", out, "--noise-scale", "2"],
        "either --kind or --probe": [
            "degrade",
            tmp_path,
            "-o",
            out,
            "--kind",
            "bicubic",
            "--probe",
            "camera-noise",
        ],
        "either --preset or --checkpoint": ["info", "--preset", "nano", "-c", tmp_path],
        "does not exist; pass a folder with HR/ and LR/": ["eval", "--data", tmp_path / "missing"],
    }
    results = run_fresh(*cases.values())
    for needle, result in zip(cases, results, strict=True):
        assert_one_error_line(result, needle)
    assert imported(results) == []


def test_an_input_over_the_pixel_limit_is_refused_without_torch(tmp_path: Path) -> None:
    """A 900 MP PNG was refused from its header only after ~3 s of importing torch."""
    huge = png_header(tmp_path / "huge.png", 30000, 30000)
    other = png_header(tmp_path / "other.png", 5000, 5000)
    single, batch = run_fresh(
        ["upscale", huge, "-o", tmp_path / "out.png"],
        ["upscale", huge, other, "-o", tmp_path / "out"],
    )
    assert_one_error_line(single, "huge.png is 30000x30000 = 900.0 MP, over the 16.8 MP limit")
    lines = batch["output"].splitlines()
    assert batch["exit_code"] == 1 and len(lines) == 3, batch
    assert "huge.png is 30000x30000" in lines[0] and "other.png is 5000x5000" in lines[1]
    assert lines[2].startswith("0 written, 2 failed, 0 skipped (not images) with ")
    assert imported([single, batch], allowed=("numpy",)) == []  # numpy: toolchain.imageio reads the header
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out").exists()
