"""The package's layers point one way: diffusion <- model <- pipeline <- everything that runs it, and
above those: engines <- deploy <- bench <- cli (export never reaches up into benchmarking, a host
engine never depends on deploy)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "toolchain"
ABOVE_MODEL = (
    "pipeline",
    "cpu_graph",
    "budget",
    "upscaler",
    "engines",
    "evaluate",
    "deploy",
    "train",
    "bench",
    "cli",
)
ABOVE_PIPELINE = tuple(layer for layer in ABOVE_MODEL if layer not in ("pipeline", "cpu_graph"))
FORBIDDEN = {
    "diffusion": ("model", *ABOVE_MODEL),
    "model": ABOVE_MODEL,
    "tiling.py": ("model", "diffusion", *ABOVE_MODEL),
    "imageio.py": ("model", "diffusion", *ABOVE_MODEL),
    "devices.py": ("model", "diffusion", *ABOVE_MODEL),
    "engine_options.py": ("model", "diffusion", *ABOVE_MODEL),
    "batch.py": ("engines", "evaluate", "deploy", "train", "bench", "cli"),
    "pipeline.py": ABOVE_PIPELINE,
    "cpu_graph.py": ABOVE_PIPELINE,
    "upscaler.py": ("engines", "evaluate", "deploy", "train", "bench", "cli"),
    "evaluate.py": ("upscaler", "engines", "deploy", "train", "bench", "cli"),
    "engines.py": ("deploy", "bench", "cli", "train"),
    "train": ("deploy", "bench", "cli"),
    "deploy": ("bench", "cli"),
    "bench": ("cli",),
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "toolchain":  # from toolchain import deploy
            found.update(f"toolchain.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(layer: str) -> None:
    root = PACKAGE / layer
    files = sorted(root.glob("*.py")) if root.is_dir() else [root]
    assert files
    upward = [
        f"{f.relative_to(PACKAGE)} imports {module}"
        for f in files
        for module in sorted(_imports(f))
        if any(
            module == f"toolchain.{up}" or module.startswith(f"toolchain.{up}.") for up in FORBIDDEN[layer]
        )
    ]
    assert not upward, upward


def test_no_private_imports_from_other_packages() -> None:
    """Another package's underscored modules are its internals (e.g. typer's vendored click,
    ``typer._click``): they change without notice, so the toolchain imports public names only."""
    private = [
        f"{f.relative_to(PACKAGE)} imports {module}"
        for f in sorted(PACKAGE.rglob("*.py"))
        for module in sorted(_imports(f))
        if not module.startswith("toolchain")
        and any(part.startswith("_") and not part.startswith("__") for part in module.split("."))
    ]
    assert not private, private
