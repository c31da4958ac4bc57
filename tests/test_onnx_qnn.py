"""The ONNX Runtime QNN route on the tiny preset: export, QDQ, SM8650 context binary, HTP emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")  # the deploy extra
onnx = pytest.importorskip("onnx")

from helpers import psnr_db, random_tiles, seeded_tiny_graph  # noqa: E402

from toolchain.deploy import onnx_qnn  # noqa: E402
from toolchain.deploy.graph import INPUT_NAME, OUTPUT_NAME, TileGraph, example_input  # noqa: E402
from toolchain.deploy.targets import Precision, get_target  # noqa: E402
from toolchain.errors import ToolchainError  # noqa: E402

S24 = get_target("s24-dsp")  # SM8650: soc_model 57, htp_arch 75
# Measured on the seeded tiny model (8 random calibration tiles, held-out tile): QDQ on CPU vs
# float: A16W8 42.7 dB, A8W8 30.7 dB; HTP emulator vs QDQ on CPU: A16W8 65.3 dB. At opset 20
# (GroupNorm as InstanceNormalization) the emulator was 19 dB off the QDQ model: caught here.
MIN_QDQ_VS_FLOAT_DB = 36.0
MIN_EMULATOR_VS_QDQ_DB = 50.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[TileGraph, Path]:
    """The seeded tiny tile graph and its float ONNX export (once per module)."""
    graph = seeded_tiny_graph()
    path = tmp_path_factory.mktemp("onnx_qnn") / "tiny.onnx"
    onnx_qnn.export_onnx(graph, example_input(graph.sampler.model), path)
    return graph, path


@pytest.fixture(scope="module")
def a16w8(tiny: tuple[TileGraph, Path]) -> tuple[Path, dict[str, dict]]:
    """tiny as an A16W8 QDQ model calibrated on 8 random tiles, and its I/O quantization."""
    graph, float_path = tiny
    path = float_path.with_name("tiny_a16w8.onnx")
    side = graph.sampler.model.config.lr_tile
    return path, onnx_qnn.quantize_qdq(float_path, path, random_tiles(0, 8, side), Precision.A16W8)


@pytest.fixture
def qnn() -> None:
    pytest.importorskip("onnxruntime_qnn")


def test_float_onnx_matches_torch(tiny: tuple[TileGraph, Path]) -> None:
    graph, path = tiny
    model = onnx.load(path)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    assert not list(path.parent.glob("*.data"))  # one file, no external data
    assert "GroupNormalization" in {n.op_type for n in model.graph.node}
    x = example_input(graph.sampler.model)
    with torch.no_grad():
        expected = graph(x).numpy()
    got = onnx_qnn.run_onnx_cpu(path, x.numpy())
    assert got.shape == (1, 128, 128, 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_a16w8_qdq_close_to_float(tiny: tuple[TileGraph, Path], a16w8: tuple[Path, dict[str, dict]]) -> None:
    path, io = a16w8
    # Inputs and outputs are [0, 1]: uint16 with zero point 0 and scale 1/65535.
    for name in (INPUT_NAME, OUTPUT_NAME):
        assert io[name]["dtype"] == "uint16"
        assert io[name]["zero_point"] == 0
        assert io[name]["scale"] == pytest.approx(1 / 65535, rel=1e-3)
    x = random_tiles(1, 1, 32)[0]
    psnr = psnr_db(onnx_qnn.run_onnx_cpu(path, x), onnx_qnn.run_onnx_cpu(tiny[1], x))
    print(f"A16W8 QDQ (CPU) vs float: {psnr:.1f} dB")
    assert psnr > MIN_QDQ_VS_FLOAT_DB


def test_quantize_rejects_bad_input(tiny: tuple[TileGraph, Path], tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    with pytest.raises(ToolchainError, match="no QDQ form"):
        onnx_qnn.quantize_qdq(tiny[1], out, random_tiles(0, 1, 32), Precision.FP16)
    with pytest.raises(ToolchainError, match="shape"):
        onnx_qnn.quantize_qdq(tiny[1], out, random_tiles(0, 1, 16), Precision.A8W8)
    with pytest.raises(ToolchainError, match=r"outside \[0, 1\]"):
        onnx_qnn.quantize_qdq(tiny[1], out, [t * 255 for t in random_tiles(0, 1, 32)], Precision.A8W8)


@pytest.mark.slow
def test_sm8650_epcontext_runs_in_emulator(
    qnn: None, a16w8: tuple[Path, dict[str, dict]], tmp_path: Path
) -> None:
    qdq_path = a16w8[0]
    result = onnx_qnn.compile_qnn_context(qdq_path, tmp_path, S24.qnn_soc_model, S24.htp_arch)
    assert result.cpu_nodes == 0 and result.qnn_nodes > 100
    assert result.soc == "SM8650" and result.qnn_sdk_version.startswith("v2.")
    wrapper = onnx.load(result.epcontext_path)
    assert [(n.op_type, n.domain) for n in wrapper.graph.node] == [("EPContext", "com.microsoft")]
    # the phone's older ONNX Runtime refuses a newer IR version than the source graph's
    assert wrapper.ir_version == onnx.load(qdq_path, load_external_data=False).ir_version
    assert {o.domain for o in wrapper.opset_import} == {"", "com.microsoft"}
    assert result.context_binary_path.parent == tmp_path
    assert onnx_qnn.context_binary_soc(result.context_binary_path) == "SM8650"

    x = random_tiles(1, 1, 32)[0]
    emulated = onnx_qnn.run_epcontext(result.epcontext_path, x, S24.qnn_soc_model, S24.htp_arch)
    psnr = psnr_db(emulated, onnx_qnn.run_onnx_cpu(qdq_path, x))
    print(f"HTP emulator vs A16W8 QDQ on CPU: {psnr:.1f} dB (compile {result.seconds:.1f} s)")
    assert psnr > MIN_EMULATOR_VS_QDQ_DB


def _relu_hardmax(path: Path) -> Path:
    """A float model whose Hardmax the QNN EP does not take (Relu goes to the NPU)."""
    h, tp = onnx.helper, onnx.TensorProto
    graph = h.make_graph(
        [h.make_node("Relu", ["x"], ["r"]), h.make_node("Hardmax", ["r"], ["y"])],
        "partial",
        [h.make_tensor_value_info("x", tp.FLOAT, [1, 4, 4])],
        [h.make_tensor_value_info("y", tp.FLOAT, [1, 4, 4])],
    )
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", onnx_qnn.ONNX_OPSET)]), path)
    return path


def test_partial_offload_is_an_error(qnn: None, tmp_path: Path) -> None:
    model = _relu_hardmax(tmp_path / "partial.onnx")
    with pytest.raises(ToolchainError, match="1 of 2 nodes .* would run on the CPU"):
        onnx_qnn.compile_qnn_context(model, tmp_path / "ctx", S24.qnn_soc_model, S24.htp_arch, fp16=True)
    result = onnx_qnn.compile_qnn_context(
        model, tmp_path / "ctx", S24.qnn_soc_model, S24.htp_arch, fp16=True, allow_partial=True
    )
    assert (result.qnn_nodes, result.cpu_nodes) == (1, 1)
    assert sorted(n.op_type for n in onnx.load(result.epcontext_path).graph.node) == ["EPContext", "Hardmax"]


def test_context_binary_soc(tmp_path: Path) -> None:
    blob = tmp_path / "ctx.bin"
    blob.write_bytes(b"\x00junk;soc_type=SM8750;arch=79;num_nsps=1\x00")
    assert onnx_qnn.context_binary_soc(blob) == "SM8750"
    blob.write_bytes(b"no target here")
    assert onnx_qnn.context_binary_soc(blob) is None
    blob.write_bytes(b"")
    assert onnx_qnn.context_binary_soc(blob) is None


def test_missing_onnxruntime_qnn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime_qnn", None)  # makes the import raise ImportError
    with pytest.raises(
        ToolchainError, match=r"onnxruntime-qnn is not installed; pip install -e '\.\[deploy\]'"
    ):
        onnx_qnn.compile_qnn_context(tmp_path / "m.onnx", tmp_path, "57", "75")
    with pytest.raises(ToolchainError, match="onnxruntime-qnn is not installed"):
        onnx_qnn.run_epcontext(tmp_path / "m_ctx.onnx", np.zeros((1, 32, 32, 3), np.float32), "57", "75")
    assert not list(tmp_path.iterdir())
