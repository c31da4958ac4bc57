"""The LiteRT route on the tiny preset: export, quantization, op lists, Qualcomm AOT and its errors."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import psnr_db, random_tiles, seeded_tiny_graph

from toolchain.deploy import litert
from toolchain.deploy.graph import TileGraph, example_input
from toolchain.deploy.targets import Precision
from toolchain.errors import ToolchainError

SOC = "SM8650"
# Measured on the seeded tiny model, 8 calibration tiles, held-out tile: A8W8 26.1 dB,
# A16W8 28.2 dB (GroupNorm's per-tile statistics dominate), FP16 71.3 dB.
MIN_PSNR_DB = {Precision.A8W8: 22.0, Precision.A16W8: 24.0, Precision.FP16: 60.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[TileGraph, Path]:
    """The seeded tiny tile graph and its float32 .tflite (exported once per module)."""
    pytest.importorskip("litert_torch")
    graph = seeded_tiny_graph()
    path = tmp_path_factory.mktemp("litert") / "tiny_fp32.tflite"
    litert.export_tflite(graph, example_input(graph.sampler.model), path)
    return graph, path


@pytest.fixture(scope="module")
def quantized(tiny: tuple[TileGraph, Path]) -> dict[Precision, Path]:
    """tiny quantized to every precision, calibrated on 8 random tiles."""
    pytest.importorskip("ai_edge_quantizer")
    float_path = tiny[1]
    side = tiny[0].sampler.model.config.lr_tile
    paths = {}
    for precision in (Precision.A8W8, Precision.A16W8, Precision.FP16):
        paths[precision] = float_path.with_name(f"tiny_{precision.value}.tflite")
        io = litert.quantize_tflite(float_path, paths[precision], random_tiles(0, 8, side), precision)
        assert io == (None, None)  # float I/O for every precision
    return paths


@pytest.fixture(scope="session")
def litert_qnn_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LiteRT route's onnxruntime-qnn wheel, downloaded once per test session."""
    pytest.importorskip("ai_edge_litert")
    folder = tmp_path_factory.mktemp("wheel")
    return litert._litert_qnn_wheel(folder)


@pytest.fixture
def qnn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, litert_qnn_wheel: Path) -> Path:
    """A private QNN library cache (never the user's ~/.cache), filled from the session's wheel."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(litert.QNN_WHEEL_ENV, str(litert_qnn_wheel))
    return tmp_path / "cache"


@pytest.mark.slow
def test_float_tflite_matches_torch(tiny: tuple[TileGraph, Path]) -> None:
    graph, path = tiny
    x = random_tiles(1, 1, graph.sampler.model.config.lr_tile)[0]
    with torch.inference_mode():
        expected = graph(torch.from_numpy(x)).numpy()
    got = litert.run_tflite(path, x)
    assert got.shape == expected.shape == (1, 128, 128, 3)
    assert np.abs(got - expected).max() < 1e-4
    ops = litert.op_names(path)
    # the graph's own NHWC<->NCHW permutes are folded away at both ends
    assert ops[0] != "TRANSPOSE" and ops[-1] != "TRANSPOSE"
    assert litert.io_quantization(path) == (None, None)


@pytest.mark.slow
@pytest.mark.parametrize("precision", [Precision.A8W8, Precision.A16W8, Precision.FP16])
def test_quantized_graph_runs_close_to_float(
    tiny: tuple[TileGraph, Path], quantized: dict[Precision, Path], precision: Precision
) -> None:
    x = random_tiles(1, 1, tiny[0].sampler.model.config.lr_tile)[0]  # not a calibration tile
    reference = litert.run_tflite(tiny[1], x)
    got = litert.run_tflite(quantized[precision], x)
    assert got.dtype == np.float32 and got.shape == reference.shape
    assert psnr_db(got, reference) > MIN_PSNR_DB[precision]
    ops = litert.op_names(quantized[precision])
    if precision is Precision.FP16:
        assert "DEQUANTIZE" in ops and "QUANTIZE" not in ops  # float16 weights, float compute
    else:
        assert ops[0] == "QUANTIZE"  # float input, integer graph


@pytest.mark.slow
def test_integer_io_is_read_and_handled(
    tiny: tuple[TileGraph, Path], quantized: dict[Precision, Path], tmp_path: Path
) -> None:
    """A graph with int8 I/O (ai-edge-quantizer's default): its quantization is exposed and applied."""
    from ai_edge_quantizer import quantizer, recipe

    side = tiny[0].sampler.model.config.lr_tile
    q = quantizer.Quantizer(str(tiny[1]), recipe.static_wi8_ai8())
    calibration = q.calibrate({"serving_default": [{"args_0": t} for t in random_tiles(0, 8, side)]})
    int_io = tmp_path / "int_io.tflite"
    int_io.write_bytes(bytes(q.quantize(calibration, enable_progress_report=False).quantized_model))
    quant_in, quant_out = litert.io_quantization(int_io)
    assert quant_in is not None and quant_out is not None
    assert (quant_in.dtype, quant_in.zero_point) == ("int8", -128)
    assert quant_in.scale == pytest.approx(1 / 255, rel=1e-3)  # int8 = pixel value - 128
    x = random_tiles(1, 1, side)[0]
    # same integer graph as the float-I/O A8W8 one, up to the I/O rounding
    assert psnr_db(litert.run_tflite(int_io, x), litert.run_tflite(quantized[Precision.A8W8], x)) > 35


@pytest.mark.slow
def test_quantize_refuses_bad_calibration(tiny: tuple[TileGraph, Path], tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_quantizer")
    with pytest.raises(ToolchainError, match=r"calibration tile 0 has shape \(1, 16, 16, 3\)"):
        litert.quantize_tflite(tiny[1], tmp_path / "q.tflite", random_tiles(0, 1, 16), Precision.A8W8)
    with pytest.raises(ToolchainError, match="no calibration tiles"):
        litert.quantize_tflite(tiny[1], tmp_path / "q.tflite", [], Precision.A16W8)
    assert not (tmp_path / "q.tflite").exists()


def test_quantize_refuses_fp32(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="fp32 needs no quantization"):
        litert.quantize_tflite(tmp_path / "f.tflite", tmp_path / "q.tflite", [], Precision.FP32)


@pytest.mark.slow
def test_aot_sm8650_is_one_dispatch_op(quantized: dict[Precision, Path], qnn_cache: Path) -> None:
    out = quantized[Precision.A8W8].with_name("tiny_a8w8_sm8650.tflite")
    result = litert.aot_compile(quantized[Precision.A8W8], out, SOC)
    assert result.path == out and result.soc == SOC and result.seconds > 0
    assert result.ops == ("DISPATCH_OP",) and litert.op_names(out) == ["DISPATCH_OP"]
    data = out.read_bytes()
    assert b"soc_type=SM8650;arch=75" in data  # the embedded QNN context binary's target
    assert result.qnn_version is not None and f"v{result.qnn_version}.".encode() in data
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left
    with pytest.raises(ToolchainError, match="compiled for an NPU"):
        litert.run_tflite(out, np.zeros((1, 32, 32, 3), np.float32))


@pytest.mark.slow
def test_aot_refuses_partial_offload(
    quantized: dict[Precision, Path], qnn_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(litert, "op_names", lambda path: ["DISPATCH_OP", "RELU_0_TO_1"])
    out = tmp_path / "partial.tflite"
    with pytest.raises(ToolchainError, match=r"left 1 ops \(RELU_0_TO_1\) on the CPU.*allow_partial=True"):
        litert.aot_compile(quantized[Precision.FP16], out, SOC)
    assert not out.exists()
    result = litert.aot_compile(quantized[Precision.FP16], out, SOC, allow_partial=True)
    assert result.ops == ("DISPATCH_OP", "RELU_0_TO_1") and out.is_file()


def test_qnn_libraries_set_up_once(qnn_cache: Path) -> None:
    lib = litert.ensure_litert_qnn_sdk()
    assert lib.is_relative_to(qnn_cache)
    names = {p.name for p in lib.iterdir()}
    assert names == {*litert.QNN_HOST_LIBS, litert.QNN_STUB_LIB}
    stub = (lib / litert.QNN_STUB_LIB).stat()
    assert litert.ensure_litert_qnn_sdk() == lib
    assert (lib / litert.QNN_STUB_LIB).stat().st_mtime_ns == stub.st_mtime_ns  # not rebuilt


def test_qnn_libraries_come_from_the_litert_route_qnn(qnn_cache: Path) -> None:
    """LiteRT's compiler needs QNN >= 2.50: the unpacked wheel records the QNN it holds."""
    lib = litert.ensure_litert_qnn_sdk()
    assert (lib.parent / "QNN_VERSION").read_text() == litert.LITERT_QNN_SDK
    assert (lib.parent / "onnxruntime_qnn.libs").is_dir()  # the libc++ the libraries' RPATH names


def test_qnn_setup_offline_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(litert.QNN_WHEEL_ENV, raising=False)
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution (network unreachable)\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(ToolchainError) as err:
        litert.ensure_litert_qnn_sdk()
    message = str(err.value)
    assert "\n" not in message and "network unreachable" in message and litert.QNN_WHEEL_ENV in message
    assert not (tmp_path / "cache" / "edge-sdsr" / "qnn" / f"litert-qnn-{litert.LITERT_QNN_SDK}").exists()


def test_qnn_setup_refuses_a_wheel_of_another_qnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "onnxruntime_qnn-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("onnxruntime_qnn/build_and_package_info.py", "qnn_version = '2.49.40'\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(litert.QNN_WHEEL_ENV, str(wheel))
    with pytest.raises(ToolchainError, match=r"holds 2\.49\.40, not QNN 2\.50\.40"):
        litert.ensure_litert_qnn_sdk()
    monkeypatch.setenv(litert.QNN_WHEEL_ENV, str(tmp_path / "missing.whl"))
    with pytest.raises(ToolchainError, match="is not a file"):
        litert.ensure_litert_qnn_sdk()


def test_qnn_setup_names_missing_gcc(qnn_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match="gcc not found"):
        litert.ensure_litert_qnn_sdk()


def test_aot_refuses_unknown_soc(qnn_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="no Qualcomm SoC 'SM0000'.*SM8650"):
        litert.aot_compile(tmp_path / "missing.tflite", tmp_path / "out.tflite", "SM0000")


def test_op_names_refuses_missing_file(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    with pytest.raises(ToolchainError, match="does not exist"):
        litert.op_names(tmp_path / "missing.tflite")


def test_bicubic_skip_lowers_to_a_plain_conv(tmp_path: Path) -> None:
    """A grouped (depthwise, multiplier 16) form was left on the CPU by the SM8650 compiler."""
    from toolchain.model.lr_skip import BicubicUpsample

    path = tmp_path / "skip.tflite"
    litert.export_tflite(BicubicUpsample(4), torch.rand(1, 3, 16, 16), path)
    ops = set(litert.op_names(path))
    assert "CONV_2D" in ops, ops
    assert "DEPTHWISE_CONV_2D" not in ops and "RESIZE_BILINEAR" not in ops, ops


def test_the_delegate_banner_is_dropped_and_other_native_lines_kept(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Only LiteRT's XNNPACK banner is dropped from file descriptor 2; its warnings and errors pass."""
    import os

    from toolchain.deploy.litert_log import quiet_delegate_banner

    with quiet_delegate_banner():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: a real problem\n")
    assert capfd.readouterr().err == "ERROR: a real problem\n"


@pytest.mark.slow
def test_upscale_with_a_litert_bundle_keeps_stderr_to_its_summary(tmp_path: Path) -> None:
    """Issue 27 item 8: LiteRT printed `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` on the
    CLI's stderr when its interpreter started. A fresh process, since LiteRT prints it once per process."""
    litert_torch = pytest.importorskip("litert_torch")
    import sys

    import torch.nn.functional as F
    from test_manifest import ONNX_CPU, SPEC, make_manifest, nearest_graph

    from toolchain.deploy.bundle import write_manifest
    from toolchain.imageio import save_image

    class Nearest4x(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x.permute(0, 3, 1, 2), scale_factor=4, mode="nearest").permute(0, 2, 3, 1)

    bundle = tmp_path / "bundle"
    nearest_graph(bundle / ONNX_CPU[0], SPEC.tile)
    litert_torch.convert(Nearest4x().eval(), (torch.rand(1, SPEC.tile, SPEC.tile, 3),)).export(
        str(bundle / "graphs" / "nearest.tflite")
    )
    graphs = [("graphs/nearest.tflite", "litert", "litert-cpu", "fallback"), ONNX_CPU]
    write_manifest(bundle, make_manifest(bundle, graphs))
    save_image(tmp_path / "in.png", np.zeros((8, 8, 3), dtype=np.uint8))
    args = [
        "upscale",
        tmp_path / "in.png",
        "-o",
        tmp_path / "out.png",
        "--bundle",
        bundle,
        "--runtime",
        "litert",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "toolchain.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"1 written, 0 failed, 0 skipped (not images) with bundle {bundle} (litert)"
    ], done.stderr
