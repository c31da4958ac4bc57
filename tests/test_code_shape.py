"""The before-you-stop check on the code's shape: no function in ``toolchain/`` over 100 lines.

A long function hides several jobs; split it into named steps (the layering of the package is
checked by test_layering.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "toolchain"
MAX_FUNCTION_LINES = 100


def long_functions(root: Path, limit: int) -> list[str]:
    """``path:line name (N lines)`` of every function or method under ``root`` longer than ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_over_100_lines() -> None:
    assert not long_functions(PACKAGE, MAX_FUNCTION_LINES)


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    body = "".join(f"        x{i} = {i}\n" for i in range(100))
    (tmp_path / "pkg" / "m.py").write_text("class C:\n    def long(self) -> None:\n" + body)
    assert long_functions(tmp_path / "pkg", 101) == []
    assert long_functions(tmp_path / "pkg", MAX_FUNCTION_LINES) == ["pkg/m.py:2 long (101 lines)"]
