"""Qualcomm AI Hub profiling, offline: the client's REST layer (qai_hub.public_rest_api) is replaced.

The client is :mod:`toolchain.deploy.aihub`; the comparison with the paper and the published models is
:mod:`toolchain.bench.aihub` (the reporting tests at the end).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import FakeHub, write_aihub_ini

from toolchain.bench import aihub as aihub_report
from toolchain.deploy import aihub
from toolchain.deploy.targets import get_target
from toolchain.errors import ToolchainError
from toolchain.tiling import TileSpec, plan_tiles

SPEC = {"lr": ((1, 3, 128, 128), "float32")}
TILES_512 = plan_tiles(512, 512, TileSpec(tile=128, overlap=32)).num_tiles  # the shipped nano tiling: 5 x 5
S24 = get_target("s24-dsp").aihub_device

pytestmark = pytest.mark.usefixtures("aihub_home")


def _closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# --- config ---------------------------------------------------------------------------------


def test_missing_config_is_one_line_error() -> None:
    with pytest.raises(ToolchainError) as err:
        aihub.check_aihub_ready()
    message = str(err.value)
    assert message.startswith("Qualcomm AI Hub is not configured: run `qai-hub configure --api_token TOKEN`")
    assert "QAIHUB_CLIENT_INI" in message and "\n" not in message


def test_env_var_naming_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aihub.CONFIG_ENV, str(tmp_path / "nope.ini"))
    with pytest.raises(ToolchainError, match="QAIHUB_CLIENT_INI=.*nope.ini is not a file"):
        aihub.check_aihub_ready()


def test_config_without_token(aihub_home: Path) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", "https://x.example", token="")
    with pytest.raises(ToolchainError, match="has no api_token"):
        aihub.check_aihub_ready()


def test_default_config_and_reachable_host(aihub_home: Path, listener: int) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{listener}")
    aihub.check_aihub_ready()  # ~/.qai_hub/client.ini, loopback listener: no error


def test_env_config_wins_over_home(tmp_path: Path, aihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    ini = write_aihub_ini(tmp_path / "other.ini", "https://hub.example:8443")
    monkeypatch.setenv(aihub.CONFIG_ENV, str(ini))
    seen = []

    def fake_connect(address, timeout=None, *args, **kwargs):
        seen.append((address, timeout))
        return socket.socket()  # closed again by the check

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    aihub.check_aihub_ready(timeout_s=1.5)
    assert seen == [(("hub.example", 8443), 1.5)]


def test_no_api_url_uses_the_client_default_host(aihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", None)
    seen = []

    def fake_connect(address, timeout=None, *args, **kwargs):
        seen.append(address)
        return socket.socket()

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    aihub.check_aihub_ready()
    assert seen == [("workbench.aihub.qualcomm.com", 443)]


# --- reachability -----------------------------------------------------------------------------


def test_refused_connection_fails_fast(aihub_home: Path) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(ToolchainError) as err:
        aihub.check_aihub_ready()
    assert time.monotonic() - start < 2.5
    message = str(err.value)
    assert message.startswith("cannot reach Qualcomm AI Hub at 127.0.0.1:")
    assert "within 2 s (no network?" in message and "use --via local or retry online" in message
    assert "\n" not in message


def test_hanging_connect_is_cut_at_the_timeout(aihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver or connect that never answers (getaddrinfo has no timeout) still ends at timeout_s."""
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")
    release = threading.Event()

    def hang(address, timeout=None, *args, **kwargs):
        release.wait(10)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    try:
        with pytest.raises(
            ToolchainError, match=r"workbench\.aihub\.qualcomm\.com within 0\.3 s .*timed out"
        ):
            aihub.check_aihub_ready(timeout_s=0.3)
    finally:
        release.set()
    assert time.monotonic() - start < 1.0


def test_dns_failure(aihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")

    def no_dns(address, timeout=None, *args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", no_dns)
    with pytest.raises(ToolchainError, match="DNS lookup of workbench.aihub.qualcomm.com failed"):
        aihub.check_aihub_ready()


def test_proxy_is_what_gets_checked(aihub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")
    monkeypatch.setenv("https_proxy", "http://proxy.corp:3128")
    seen = []

    def fake_connect(address, timeout=None, *args, **kwargs):
        seen.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    with pytest.raises(ToolchainError, match="via proxy proxy.corp:3128 .*connection refused"):
        aihub.check_aihub_ready()
    assert seen == [("proxy.corp", 3128)]


# --- the job flow, with qai_hub.public_rest_api replaced --------------------------------------


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "tile.onnx"
    path.write_bytes(b"not really onnx; the fake hub never parses it")
    return path


def test_profile_flow(fake_hub, onnx_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = fake_hub()
    messages: list[str] = []
    result = aihub.profile_on_aihub(onnx_file, "tflite", SPEC, S24, progress=messages.append)

    assert result.device == S24 and result.runtime == "tflite"
    assert result.compile_job_id == "jcompile" and result.profile_job_id == "jprofile"
    assert result.latency_ms_per_tile == pytest.approx(38.0)
    assert aihub_report.estimate_image_latency(result.latency_ms_per_tile, TILES_512) == pytest.approx(950.0)
    assert result.compute_units == {"NPU": 120, "GPU": 0, "CPU": 1}
    assert result.peak_memory_bytes == 12 * 2**20
    assert result.profile_job_url == "https://workbench.example/jobs/jprofile/"

    # what was sent
    assert fake.uploads == [("tile.onnx", fake.pb.MODEL_TYPE_ONNX)]
    assert fake.compile_pb.options == "--target_runtime tflite"
    assert [d.name for d in fake.compile_pb.devices.devices] == [S24]
    sent_spec = pytest.importorskip("qai_hub").api_utils.tensor_type_list_pb_to_list_shapes
    assert dict(sent_spec(fake.compile_pb.tensor_type_list)) == SPEC
    assert fake.inference_pb.is_profiling_on and fake.inference_pb.model.model_id == "mtarget"
    assert fake.calls[:3] == ["get_device_list", "create_and_upload_model", "create_compile_job"]
    assert fake.calls[-1] == "get_job_results"

    assert any("jcompile" in m for m in messages) and any("jprofile" in m for m in messages)
    assert capsys.readouterr().out == ""  # the client's own progress printing is off


def test_tflite_is_profiled_without_compiling(fake_hub, tmp_path: Path) -> None:
    fake = fake_hub()
    model = tmp_path / "tile.tflite"
    model.write_bytes(b"\x00\x00\x00\x00TFL3")
    result = aihub.profile_on_aihub(model, "tflite", SPEC, S24)
    assert result.compile_job_id is None and result.latency_ms_per_tile == pytest.approx(38.0)
    assert "create_compile_job" not in fake.calls
    assert fake.uploads == [("tile.tflite", fake.pb.MODEL_TYPE_TFLITE)]


def test_compile_failure_is_one_line(fake_hub, onnx_file: Path) -> None:
    fake = fake_hub(fail="compile", reason="Compilation failed.\n  Op GroupNorm is not supported\n  on HTP")
    with pytest.raises(ToolchainError) as err:
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC, S24)
    message = str(err.value)
    assert message == (
        "AI Hub compile job jcompile failed: Compilation failed. Op GroupNorm is not supported on HTP; "
        "full log: https://workbench.example/jobs/jcompile/"
    )
    assert "create_inference_job" not in fake.calls


def test_profile_failure_is_one_line(fake_hub, onnx_file: Path) -> None:
    fake_hub(fail="profile", reason="Device provisioning timed out")
    with pytest.raises(
        ToolchainError, match=r"^AI Hub profile job jprofile failed: Device provisioning timed out;"
    ):
        aihub.profile_on_aihub(onnx_file, "onnx", SPEC, S24)


def test_unknown_device_is_one_line(fake_hub, onnx_file: Path) -> None:
    fake_hub()
    with pytest.raises(ToolchainError) as err:
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC, device_name="Galaxy S99")
    assert str(err.value).startswith("Qualcomm AI Hub request failed: ") and "Galaxy S99" in str(err.value)
    assert "\n" not in str(err.value)


def test_unreachable_hub_stops_before_any_request(
    aihub_home: Path, onnx_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qai_hub = pytest.importorskip("qai_hub")
    fake = FakeHub(qai_hub.public_api_pb2)
    monkeypatch.setattr(qai_hub.public_rest_api, "get_device_list", fake.get_device_list)
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ToolchainError, match="cannot reach Qualcomm AI Hub"):
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC, S24)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("name", "runtime", "match"),
    [
        ("tile.onnx", "qnn_dlc", "unknown AI Hub runtime"),
        ("tile.tflite", "onnx", "already a tflite model"),
        ("tile.safetensors", "tflite", "cannot compile tile.safetensors"),
    ],
)
def test_bad_inputs_fail_before_the_network(tmp_path: Path, name: str, runtime: str, match: str) -> None:
    model = tmp_path / name
    model.write_bytes(b"x")
    with pytest.raises(ToolchainError, match=match):
        aihub.profile_on_aihub(model, runtime, SPEC, S24)


def test_bad_input_spec(onnx_file: Path) -> None:
    with pytest.raises(ToolchainError, match="input_spec entry 'lr'"):
        aihub.profile_on_aihub(onnx_file, "tflite", {"lr": ((1, 0, 128, 128), "float32")}, S24)


# --- reporting --------------------------------------------------------------------------------


def test_parse_profile_units_and_memory_fallback() -> None:
    ms, units, peak = aihub.parse_profile(
        {
            "execution_summary": {
                "estimated_inference_time": 1240,
                "estimated_inference_peak_memory": 0,
                "inference_memory_peak_range": (1000, 2000),
            },
            "execution_detail": [
                {"compute_unit": "NPU"},
                {"compute_unit": "GPU"},
                {"compute_unit": "UNSPECIFIED"},
            ],
        }
    )
    assert ms == pytest.approx(1.24)
    assert units == {"NPU": 1, "GPU": 1, "CPU": 0, "UNSPECIFIED": 1}
    assert peak == 2000
    with pytest.raises(ValueError):
        aihub.parse_profile({})


def test_estimate_image_latency() -> None:
    assert aihub_report.estimate_image_latency(38.0, TILES_512) == pytest.approx(950.0)
    assert aihub_report.estimate_image_latency(10.0, tiles=4, blend_ms=5.0) == pytest.approx(45.0)
    with pytest.raises(ValueError):
        aihub_report.estimate_image_latency(1.0, tiles=0)


def test_published_references_are_consistent() -> None:
    """Checks the table can fail (not a restatement of it): one row per model and precision, one
    size per model, positive figures, and the w8a8 build of a model faster than its float one."""
    rows = aihub_report.AIHUB_PUBLISHED_SR
    assert len({(r.model, r.precision) for r in rows}) == len(rows)
    by_model: dict[str, dict[str, aihub_report.PublishedLatency]] = {}
    for r in rows:
        assert r.precision in ("float", "w8a8") and r.ms_per_tile > 0 and r.params_m > 0, r
        by_model.setdefault(r.model, {})[r.precision] = r
    for model, builds in by_model.items():
        assert len({b.params_m for b in builds.values()}) == 1, model
        if len(builds) == 2:
            assert builds["w8a8"].ms_per_tile < builds["float"].ms_per_tile, model
    assert aihub_report.PAPER_MS_PER_TILE > 0 and aihub_report.PAPER_S_PER_512 > 0
    with pytest.raises(AttributeError):
        aihub_report.AIHUB_PUBLISHED_SR[0].ms_per_tile = 1.0  # type: ignore[misc]


def test_format_comparison() -> None:
    profile = aihub.AihubProfile(
        device=S24,
        runtime="tflite",
        compile_job_id="jc",
        profile_job_id="jp",
        latency_ms_per_tile=38.0,
        compute_units={"NPU": 120, "GPU": 0, "CPU": 0},
        peak_memory_bytes=12 * 2**20,
    )
    text = aihub_report.format_comparison(profile, TileSpec(tile=128, overlap=32))
    lines = text.splitlines()
    ours = next(line for line in lines if line.startswith("ours"))
    assert ours.split()[-2:] == ["38.00", "0.95"]
    paper = next(line for line in lines if line.startswith("Edge-SD-SR"))
    assert paper.split()[-2:] == ["38.00", "1.10"]
    quick = next(line for line in lines if line.startswith("QuickSRNet-small"))
    assert quick.split()[-3:] == ["w8a8", "0.26", "0.01*"]
    assert "NPU 120" in text and "12.0 MiB" in text and "25 tiles" in text


def test_format_comparison_takes_its_tile_count_from_the_graph_spec() -> None:
    profile = aihub.AihubProfile(S24, "onnx", "jc", "jp", 2.0, {"NPU": 10})
    spec = TileSpec(tile=32, overlap=8)
    tiles = plan_tiles(512, 512, spec).num_tiles
    text = aihub_report.format_comparison(profile, spec)
    assert tiles == 21 * 21
    assert f"one 32x32 -> 128x128 tile; image = 512x512 -> 2048x2048 as {tiles} tiles" in text
    ours = next(line for line in text.splitlines() if line.startswith("ours"))
    assert ours.split()[-1] == f"{2.0 * tiles / 1000:.2f}"
