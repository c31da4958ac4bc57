"""Peer super-resolution models from ../shared/baselines as `evaluate.Upscale` callables.

Each takes a LoadedImage (RGB float in [0, 1]) and returns the x4 image as uint8 HxWx3.
Weights are read from local paths only; a missing file or package is a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolchain.errors import ToolchainError
from toolchain.evaluate import to_uint8
from toolchain.imageio import LoadedImage

Upscale = Callable[[LoadedImage], np.ndarray]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ToolchainError(f"peer model {path} not found; point --baselines at ../shared/baselines")
    return path


def realesrgan_general_x4v3(baselines: Path) -> Upscale:
    """Real-ESRGAN-general-x4v3 (fp16 ONNX, SRVGGNetCompact) on ONNX Runtime CPU, whole image."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(_require(baselines / "realesr-general-x4v3-fp16.onnx")), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name

    def upscale(image: LoadedImage) -> np.ndarray:
        x = image.rgb.transpose(2, 0, 1)[None].astype(np.float16)
        y = session.run(None, {name: x})[0][0].astype(np.float32).transpose(1, 2, 0)
        return to_uint8(np.clip(y, 0, 1))

    return upscale


def opencv_dnn_superres(baselines: Path, algorithm: str) -> Upscale:
    """ESPCN / FSRCNN x4 through opencv-contrib's dnn_superres (BGR uint8 in and out)."""
    try:
        import cv2
    except ImportError:
        raise ToolchainError("opencv-contrib-python-headless is needed for ESPCN/FSRCNN peers") from None
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(_require(baselines / f"{algorithm.upper()}_x4.pb")))
    sr.setModel(algorithm.lower(), 4)

    def upscale(image: LoadedImage) -> np.ndarray:
        bgr = to_uint8(image.rgb)[..., ::-1].copy()
        return sr.upsample(bgr)[..., ::-1].copy()

    return upscale
