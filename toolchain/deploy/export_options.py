"""What ``toolchain export`` is asked to build: target, precision, routes, calibration, accuracy
gate and where to compile (:class:`ExportOptions`).

Plain values, apart from the pipeline that builds them (:mod:`toolchain.deploy.export`): this
module imports no torch, so the CLI shows these options and their defaults before torch loads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from toolchain.deploy.targets import Artifact, Precision, Target

DEFAULT_CALIBRATION = Path(__file__).resolve().parents[2] / "models" / "samples"


class GraphSet(enum.StrEnum):
    """Which of a target's routes to build (an NPU target has an ONNX/QNN and a LiteRT route)."""

    ALL = "all"
    QNN = "qnn"  # ONNX Runtime QNN (QDQ ONNX + EPContext) and plain ONNX
    LITERT = "litert"  # LiteRT (.tflite, AOT for the NPU)

    def includes(self, artifact: Artifact) -> bool:
        if self is GraphSet.ALL:
            return True
        onnx_route = artifact in (Artifact.QNN_EPCONTEXT, Artifact.ONNX)
        return onnx_route if self is GraphSet.QNN else not onnx_route


class Via(enum.StrEnum):
    """Where the graphs are compiled: offline only, or also on Qualcomm AI Hub (then profiled there)."""

    LOCAL = "local"
    AIHUB = "aihub"


@dataclass(frozen=True)
class ExportOptions:
    target: Target
    precision: Precision
    calibration_dir: Path = DEFAULT_CALIBRATION
    calibration_tiles: int = 16
    verify_tiles: int = 1  # the HTP emulator takes 13-100 s per 128 -> 512 tile
    min_psnr_db: float = 35.0
    skip_verify: bool = False
    allow_partial: bool = False
    graphs: GraphSet = GraphSet.ALL
    via: Via = Via.LOCAL
