"""The host engines (`toolchain upscale --engine`): the fast ones give the reference path's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import assert_one_line_error, invoke, photo
from typer.testing import CliRunner

from toolchain.cli.main import app
from toolchain.engines import Engine, OnnxTileRunner, open_engine, resolve_engine
from toolchain.errors import ToolchainError
from toolchain.imageio import LoadedImage
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.tiling import TileSpec
from toolchain.upscaler import NoiseConfig, TorchTileRunner, upscale_loaded

MIN_PSNR_DB = 50.0  # the bar: the host stays the phone's reference
SAMPLE = Path(__file__).resolve().parents[1] / "models" / "samples" / "sample.png"
EVAL_IMAGES = (  # LR images of ../shared/data/eval: 1 tile, 1 tile, and a 2x2 plan (blended seams)
    ("set5", "img_002.png"),
    ("drealsr", "Canon_10_x1.png"),
    ("urban100-10", "img_001.png"),
)
CPU = torch.device("cpu")


def _rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The top-left ``size`` (w, h) crop of an image as float32 RGB in [0, 1]."""
    image = Image.open(path).convert("RGB")
    return np.asarray(image.crop((0, 0, *size)), dtype=np.float32) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over all RGB values of two uint8 images (stricter than PSNR-Y); inf if equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(255.0**2 / mse)


def _upscale(
    engine: Engine, rgb: np.ndarray, model: EdgeSDSR, noise: NoiseConfig | None = None
) -> np.ndarray:
    """``rgb`` upscaled by ``model`` on ``engine`` (one thread), as uint8 like the CLI writes it."""
    noise = noise or NoiseConfig()
    spec = TileSpec.for_model(model.config)
    runner = open_engine(model, engine, CPU, noise, spec.tile, threads=1)
    return upscale_loaded(LoadedImage(rgb, None, Path("x")), runner, spec, batch_size=4)[0]


@pytest.fixture(scope="module")
def real_images() -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR, torch-reference x4) of the eval photos (if ../shared is there) and the bundled sample."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
    paths = [shared / s / "LR" / n for s, n in EVAL_IMAGES if (shared / s / "LR" / n).is_file()]
    images = [_rgb(p, (200, 161)) for p in paths] + [_rgb(SAMPLE, (128, 128))]
    model = EdgeSDSR.from_pretrained(DEFAULT_CHECKPOINT)
    return [(rgb, _upscale(Engine.TORCH_REFERENCE, rgb, model)) for rgb in images]


@pytest.mark.parametrize("engine", [Engine.ONNXRUNTIME, Engine.TORCH])
def test_fast_engines_match_the_reference_on_real_images(
    engine: Engine, real_images: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    """The shipped nano model on real LR photos: >= 50 dB PSNR against torch-reference, per image."""
    for rgb, reference in real_images:
        fast = _upscale(engine, rgb, EdgeSDSR.from_pretrained(DEFAULT_CHECKPOINT))
        assert fast.shape == reference.shape == (rgb.shape[0] * 4, rgb.shape[1] * 4, 3)
        assert psnr(fast, reference) >= MIN_PSNR_DB


def test_onnxruntime_engine_with_noise_matches_the_reference() -> None:
    """Latent noise reaches the ONNX graph as an input, cut from the same per-image field."""
    model = EdgeSDSR(load_preset("tiny"))
    rgb = np.asarray(photo(56, 40), dtype=np.float32) / 255.0
    noise = NoiseConfig(scale=1.0, seed=3)
    reference = _upscale(Engine.TORCH_REFERENCE, rgb, model, noise)
    assert psnr(_upscale(Engine.ONNXRUNTIME, rgb, model, noise), reference) >= MIN_PSNR_DB
    without = _upscale(Engine.TORCH_REFERENCE, rgb, model)
    assert psnr(without, reference) < MIN_PSNR_DB  # the noise does change the output


def test_auto_is_onnxruntime_on_cpu_and_torch_on_a_gpu() -> None:
    assert resolve_engine(Engine.AUTO, CPU) is Engine.ONNXRUNTIME
    assert resolve_engine(Engine.AUTO, torch.device("cuda")) is Engine.TORCH
    assert resolve_engine(Engine.TORCH_REFERENCE, torch.device("cuda")) is Engine.TORCH_REFERENCE
    with pytest.raises(ToolchainError, match="--engine onnxruntime runs on the CPU only"):
        resolve_engine(Engine.ONNXRUNTIME, torch.device("cuda"))


def test_open_engine_builds_each_runner() -> None:
    model = EdgeSDSR(load_preset("tiny"))
    assert isinstance(open_engine(model, Engine.AUTO, CPU, NoiseConfig(), 32), OnnxTileRunner)
    torch_runner = open_engine(model, Engine.TORCH, CPU, NoiseConfig(), 32)
    assert isinstance(torch_runner, TorchTileRunner)
    assert torch_runner.memory_format is torch.channels_last
    reference = open_engine(EdgeSDSR(load_preset("tiny")), Engine.TORCH_REFERENCE, CPU, NoiseConfig(), 32)
    assert reference.memory_format is torch.contiguous_format


def test_x2_teacher_is_refused_by_every_engine() -> None:
    teacher = EdgeSDSR(load_preset("tiny-x2"))
    for engine in (Engine.ONNXRUNTIME, Engine.TORCH, Engine.TORCH_REFERENCE):
        with pytest.raises(ToolchainError, match="upscaling needs a x4 checkpoint"):
            open_engine(teacher, engine, CPU, NoiseConfig(), 32)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


@pytest.mark.parametrize("engine", ["auto", "onnxruntime", "torch", "torch-reference"])
def test_cli_engine_option(engine: str, tmp_path: Path, tiny_ckpt: Path) -> None:
    photo(40, 36).save(tmp_path / "in.png")
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "-c", tiny_ckpt)
    result = invoke(*args, "--engine", engine)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (160, 144)
    ran = "onnxruntime" if engine == "auto" else engine
    assert result.stderr.splitlines()[-1].endswith(f"with {tiny_ckpt} ({ran})")


def test_cli_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    photo(8, 8).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--engine", "tensorrt")
    assert_one_line_error(result, "Invalid value for '--engine'", "--help")


def test_cli_help_describes_the_engines() -> None:
    result = CliRunner().invoke(app, ["upscale", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for text in ("auto: onnxruntime on the CPU, torch on a GPU", "torch-reference: PyTorch NCHW", ">= 50 dB"):
        assert text in result.output
