"""`toolchain bench aihub`: a bundle's NPU graph profiled through a fake qai-hub REST layer (no network).

The fake hub (``FakeHub`` of test_aihub.py) answers the ``qai_hub.public_rest_api`` calls; any real
HTTP request fails the test.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_aihub import PROXY_VARS, FakeHub
from test_manifest import make_manifest, nearest_graph
from typer.testing import CliRunner

from toolchain.bench.results import ImageMethod, read_result
from toolchain.cli.main import app
from toolchain.deploy import aihub
from toolchain.deploy.bundle import write_manifest
from toolchain.tiling import TileSpec, plan_tiles


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no QAIHUB_CLIENT_INI, no proxies."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv(aihub.CONFIG_ENV, raising=False)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return path


def write_ini(home: Path, port: int) -> None:
    ini = home / ".qai_hub" / "client.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(
        f"[api]\napi_token = t\napi_url = http://127.0.0.1:{port}\nweb_url = https://workbench.example\n"
    )


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def hub(home: Path, listener: int, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeHub]:
    qai_hub = pytest.importorskip("qai_hub")
    import requests

    def no_http(*args, **kwargs):
        raise AssertionError("a test tried a real HTTP request")

    monkeypatch.setattr(requests.Session, "send", no_http)
    write_ini(home, listener)

    def install(**kwargs) -> FakeHub:
        fake = FakeHub(qai_hub.public_api_pb2, **kwargs)
        for name in (
            "get_device_list",
            "create_and_upload_model",
            "create_compile_job",
            "create_inference_job",
            "get_job",
            "get_job_results",
        ):
            monkeypatch.setattr(qai_hub.public_rest_api, name, getattr(fake, name))
        return fake

    return install


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """An s24-dsp-like bundle: an NPU-role graph and the ONNX graph it was compiled from."""
    path = tmp_path / "bundle"
    nearest_graph(path / "graphs/npu_ctx.onnx", 16)
    nearest_graph(path / "graphs/tile.qdq.onnx", 16)
    manifest = make_manifest(
        path,
        [
            ("graphs/npu_ctx.onnx", "qnn_epcontext", "onnxruntime-qnn", "npu"),
            ("graphs/tile.qdq.onnx", "onnx", "onnxruntime-cpu", "host-reference"),
        ],
    )
    write_manifest(path, dataclasses.replace(manifest, target="s24-dsp"))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bench", "aihub", *args])
    return result.exit_code, result.output


def test_profile_becomes_a_result_with_a_computed_image(hub, bundle: Path, tmp_path: Path) -> None:
    fake = hub()
    out = tmp_path / "aihub.json"
    code, output = run("--bundle", str(bundle), "-o", str(out))
    assert code == 0, output
    result = read_result(out)
    (npu,) = result.runs
    assert result.source.value == "aihub" and result.device.name == aihub.AIHUB_DEVICE
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


def test_unreachable_is_one_line(home: Path, bundle: Path, tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    write_ini(home, port)
    code, output = run("--bundle", str(bundle), "-o", str(tmp_path / "a.json"))
    assert code == 1 and "error: cannot reach Qualcomm AI Hub at 127.0.0.1:" in output


def test_bad_graph_and_runtime(bundle: Path) -> None:
    code, output = run("--bundle", str(bundle), "--graph", "graphs/npu_ctx.onnx")
    assert (
        code == 1 and "has no ONNX graph graphs/npu_ctx.onnx; its ONNX graphs: graphs/tile.qdq.onnx" in output
    )
    code, output = run("--bundle", str(bundle), "--runtime", "qnn_dlc")
    assert code == 1 and "unknown AI Hub runtime 'qnn_dlc'" in output
