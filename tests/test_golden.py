"""Golden tile plans and blend ramps: the numbers the Android app replays (tests/golden/*.json).

Regenerate only on purpose: `UPDATE_GOLDEN=1 pytest tests/test_golden.py`, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from toolchain.tiling import TileSpec, blend_window, plan_tiles, ramp

GOLDEN = Path(__file__).parent / "golden"
CASES = {"plan_512x512": (512, 512), "plan_300x200": (200, 300), "plan_1x1": (1, 1)}


def golden_plan(height: int, width: int) -> dict:
    spec = TileSpec()
    plan = plan_tiles(height, width, spec)
    corner = blend_window(plan, plan.tiles[0])
    return {
        "plan": plan.to_json_dict(),
        "ramp_8": [round(float(v), 7) for v in ramp(8)],
        "first_tile_window_row0_every_64": [round(float(v), 7) for v in corner[0, ::64]],
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_tile_plans(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    data = golden_plan(*CASES[name])
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(data, indent=1) + "\n")
    expected = json.loads(path.read_text())
    assert data["plan"] == expected["plan"]
    np.testing.assert_allclose(data["ramp_8"], expected["ramp_8"], atol=1e-7)
    np.testing.assert_allclose(
        data["first_tile_window_row0_every_64"], expected["first_tile_window_row0_every_64"], atol=1e-7
    )
    if name == "plan_512x512":
        assert len(expected["plan"]["tiles"]) == 25
