"""Peer super-resolution models, the one home for loading them (quality and latency benchmarks).

Each peer is an ``Upscale``: a LoadedImage (RGB float in [0, 1]) -> the x4 image as uint8 HxWx3,
run on the whole input (the peers do not tile). Weights are read from local paths only
(``../shared/baselines`` by default); a missing file or package is a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.errors import ToolchainError
from toolchain.evaluate import bicubic_upscale, to_uint8
from toolchain.imageio import LoadedImage

Upscale = Callable[[LoadedImage], np.ndarray]

DEFAULT_BASELINES = Path(__file__).resolve().parents[2].parent / "shared" / "baselines"
"""``../shared/baselines`` beside the repository (read-only; never committed)."""


@dataclass(frozen=True)
class Peer:
    """A loaded peer: its name, what runs it, and the callable."""

    name: str
    runtime: str
    upscale: Upscale


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ToolchainError(f"peer model {path} not found; point --baselines at ../shared/baselines")
    return path


def realesrgan_general_x4v3(baselines: Path, threads: int | None = None) -> Upscale:
    """Real-ESRGAN-general-x4v3 (fp16 ONNX, SRVGGNetCompact) on ONNX Runtime CPU, whole image.

    ``threads`` caps ONNX Runtime's intra-op threads (None: its default, all cores)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ToolchainError("onnxruntime is needed for the Real-ESRGAN peer: install `.[deploy]`") from None

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        str(_require(baselines / _peer_file("realesrgan-general-x4v3"))),
        options,
        providers=["CPUExecutionProvider"],
    )
    name = session.get_inputs()[0].name

    def upscale(image: LoadedImage) -> np.ndarray:
        x = image.rgb.transpose(2, 0, 1)[None].astype(np.float16)
        y = session.run(None, {name: x})[0][0].astype(np.float32).transpose(1, 2, 0)
        return to_uint8(np.clip(y, 0, 1))

    return upscale


_OPENCV_FIX = "install the tested opencv: pip install -c constraints.txt -e '.[bench]'"


def _opencv_superres():  # noqa: ANN202 - the cv2 module (no stubs)
    """cv2 with contrib's dnn_superres, or a one-line error saying how to install it."""
    try:
        import cv2
    except ImportError:
        raise ToolchainError(
            "opencv-contrib-python-headless is needed for the ESPCN/FSRCNN peers: install `.[bench]`"
        ) from None
    if not hasattr(getattr(cv2, "dnn_superres", None), "DnnSuperResImpl_create"):
        raise ToolchainError(f"opencv {cv2.__version__} has no dnn_superres module; {_OPENCV_FIX}")
    return cv2


def _opencv_failed(cv2, algorithm: str, step: str, exc: Exception) -> ToolchainError:  # noqa: ANN001
    """A ``cv2.error`` (several lines with C++ source paths) as one line naming the peer and the fix."""
    reason = getattr(exc, "err", None) or str(exc).strip().splitlines()[0]
    return ToolchainError(f"opencv {cv2.__version__} could not {step} {algorithm}: {reason}; {_OPENCV_FIX}")


def opencv_dnn_superres(baselines: Path, algorithm: str) -> Upscale:
    """ESPCN / FSRCNN x4 through opencv-contrib's dnn_superres (BGR uint8 in and out)."""
    cv2 = _opencv_superres()
    model = _require(baselines / _peer_file(algorithm))
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    try:
        sr.readModel(str(model))
        sr.setModel(algorithm.lower(), 4)
    except cv2.error as exc:
        raise _opencv_failed(cv2, algorithm, f"load {model} for", exc) from None

    def upscale(image: LoadedImage) -> np.ndarray:
        bgr = to_uint8(image.rgb)[..., ::-1].copy()
        try:
            return sr.upsample(bgr)[..., ::-1].copy()
        except cv2.error as exc:
            raise _opencv_failed(cv2, algorithm, "run", exc) from None

    return upscale


PEER_NAMES = ("realesrgan-general-x4v3", "espcn", "fsrcnn", "bicubic")


_OPENCV_PEERS = ("espcn", "fsrcnn")


def _peer_file(name: str) -> str:
    """The weights file of a peer in the baselines folder."""
    return "realesr-general-x4v3-fp16.onnx" if name == "realesrgan-general-x4v3" else f"{name.upper()}_x4.pb"


def check_peers(baselines: Path, names: tuple[str, ...]) -> None:
    """Fail now, not after the timing of our runs: known names, the folder, each peer's weights
    file and, for ESPCN/FSRCNN, an opencv with dnn_superres."""
    unknown = [name for name in names if name not in PEER_NAMES]
    if unknown:
        raise ToolchainError(f"unknown peer {unknown[0]!r}; peers are {', '.join(PEER_NAMES)}")
    if not Path(baselines).is_dir():
        raise ToolchainError(
            f"peer folder {baselines} does not exist; point --baselines at ../shared/baselines"
        )
    for name in names:
        if name != "bicubic":
            _require(Path(baselines) / _peer_file(name))
    if any(name in _OPENCV_PEERS for name in names):
        _opencv_superres()


def load_peer(baselines: Path, name: str, threads: int | None = None) -> Peer:
    """Load peer ``name`` (one of :data:`PEER_NAMES`) from ``baselines``, ready to call.

    ``threads`` caps the threads of Real-ESRGAN's ONNX Runtime session (the other peers ignore it)."""
    check_peers(baselines, (name,))
    if name == "realesrgan-general-x4v3":
        return Peer(name, "onnxruntime-cpu", realesrgan_general_x4v3(baselines, threads))
    if name == "bicubic":
        return Peer(name, "pillow", bicubic_upscale)
    return Peer(name, "opencv-dnn", opencv_dnn_superres(baselines, name))
