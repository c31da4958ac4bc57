"""`toolchain bench aihub`: a bundle's NPU graph profiled through a fake qai-hub REST layer (no network).

The fake hub (the ``fake_hub`` fixture of conftest.py) answers the ``qai_hub.public_rest_api``
calls; any real HTTP request fails the test.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from helpers import tiny_npu_bundle, write_aihub_ini
from typer.testing import CliRunner

from toolchain.bench.results import ImageMethod, read_result
from toolchain.cli.main import app
from toolchain.deploy.targets import get_target
from toolchain.tiling import TileSpec, plan_tiles

pytestmark = pytest.mark.usefixtures("aihub_home")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """An s24-dsp-like bundle: an NPU-role graph and the ONNX graph it was compiled from."""
    return tiny_npu_bundle(
        tmp_path / "bundle", "graphs/npu_ctx.onnx", "graphs/tile.qdq.onnx", "host-reference"
    )


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bench", "aihub", *args])
    return result.exit_code, result.output


def test_profile_becomes_a_result_with_a_computed_image(fake_hub, bundle: Path, tmp_path: Path) -> None:
    fake = fake_hub()
    out = tmp_path / "aihub.json"
    code, output = run("--bundle", str(bundle), "-o", str(out))
    assert code == 0, output
    result = read_result(out)
    (npu,) = result.runs
    assert result.source.value == "aihub" and result.device.name == get_target("s24-dsp").aihub_device
    assert npu.ran_on.value == "npu" and npu.graph == "graphs/tile.qdq.onnx"
    assert npu.tile.runs_ms == (38.0,)  # 38000 microseconds in the fake profile
    tiles = plan_tiles(512, 512, TileSpec(tile=16, overlap=4)).num_tiles
    assert result.workload.image_tiles == tiles == 43 * 43
    assert npu.image.method is ImageMethod.COMPUTED and npu.image.runs_ms == (38.0 * tiles,)
    assert npu.memory.kind.value == "aihub-estimate" and npu.memory.peak_bytes == 12 * 2**20
    assert any("not measured" in note for note in result.notes)
    assert fake.uploads == [("tile.qdq.onnx", fake.pb.MODEL_TYPE_ONNX)]
    assert fake.compile_pb.options == "--target_runtime precompiled_qnn_onnx"
    assert json.loads(out.read_text())["runs"][0]["runtime"] == "aihub-precompiled_qnn_onnx"


def test_not_configured_is_one_line(bundle: Path, tmp_path: Path) -> None:
    code, output = run("--bundle", str(bundle), "-o", str(tmp_path / "a.json"))
    assert code == 1
    assert output.startswith("error: Qualcomm AI Hub is not configured: run `qai-hub configure")
    assert not (tmp_path / "a.json").exists()


def test_unreachable_is_one_line(aihub_home: Path, bundle: Path, tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{port}")
    code, output = run("--bundle", str(bundle), "-o", str(tmp_path / "a.json"))
    assert code == 1 and "error: cannot reach Qualcomm AI Hub at 127.0.0.1:" in output


def test_bad_graph_and_runtime(bundle: Path) -> None:
    code, output = run("--bundle", str(bundle), "--graph", "graphs/npu_ctx.onnx")
    assert (
        code == 1 and "has no ONNX graph graphs/npu_ctx.onnx; its ONNX graphs: graphs/tile.qdq.onnx" in output
    )
    code, output = run("--bundle", str(bundle), "--runtime", "qnn_dlc")
    assert code == 1 and "unknown AI Hub runtime 'qnn_dlc'" in output


def test_the_default_device_is_the_phone_of_the_bundles_target(fake_hub, tmp_path: Path) -> None:
    """Issue 27 item 7: an s25-dsp bundle is profiled on AI Hub's S25, not on a literal S24."""
    fake = fake_hub()
    s25 = tiny_npu_bundle(
        tmp_path / "s25", "graphs/npu_ctx.onnx", "graphs/tile.qdq.onnx", "host-reference", "s25-dsp"
    )
    out = tmp_path / "aihub.json"
    code, output = run("--bundle", str(s25), "-o", str(out))
    assert code == 0, output
    expected = get_target("s25-dsp").aihub_device
    assert expected == "Samsung Galaxy S25 (Family)"
    assert [d.name for d in fake.compile_pb.devices.devices] == [expected]
    assert read_result(out).device.name == expected
