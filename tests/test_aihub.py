"""Qualcomm AI Hub profiling, offline: the client's REST layer (qai_hub.public_rest_api) is replaced.

The client is :mod:`toolchain.deploy.aihub`; the comparison with the paper and the published models is
:mod:`toolchain.bench.aihub` (the reporting tests at the end).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolchain.bench import aihub as aihub_report
from toolchain.deploy import aihub
from toolchain.errors import ToolchainError
from toolchain.tiling import TileSpec, plan_tiles

SPEC = {"lr": ((1, 3, 128, 128), "float32")}
TILES_512 = plan_tiles(512, 512, TileSpec(tile=128, overlap=32)).num_tiles  # the shipped nano tiling: 5 x 5
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no QAIHUB_CLIENT_INI, no proxies: nothing from the real user's setup leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(aihub.CONFIG_ENV, raising=False)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return home


@pytest.fixture
def listener() -> Iterator[int]:
    """A listening TCP socket on 127.0.0.1 (connects succeed from the backlog; nothing is served)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _write_ini(path: Path, api_url: str | None, token: str = "test-token") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[api]", f"api_token = {token}", "web_url = https://workbench.example", "verbose = True"]
    if api_url is not None:
        lines.append(f"api_url = {api_url}")
    path.write_text("\n".join(lines) + "\n")
    return path


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


def test_config_without_token(_offline_env: Path) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", "https://x.example", token="")
    with pytest.raises(ToolchainError, match="has no api_token"):
        aihub.check_aihub_ready()


def test_default_config_and_reachable_host(_offline_env: Path, listener: int) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", f"http://127.0.0.1:{listener}")
    aihub.check_aihub_ready()  # ~/.qai_hub/client.ini, loopback listener: no error


def test_env_config_wins_over_home(
    tmp_path: Path, _offline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    ini = _write_ini(tmp_path / "other.ini", "https://hub.example:8443")
    monkeypatch.setenv(aihub.CONFIG_ENV, str(ini))
    seen = []

    def fake_connect(address, timeout=None, *args, **kwargs):
        seen.append((address, timeout))
        return socket.socket()  # closed again by the check

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    aihub.check_aihub_ready(timeout_s=1.5)
    assert seen == [(("hub.example", 8443), 1.5)]


def test_no_api_url_uses_the_client_default_host(_offline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", None)
    seen = []

    def fake_connect(address, timeout=None, *args, **kwargs):
        seen.append(address)
        return socket.socket()

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    aihub.check_aihub_ready()
    assert seen == [("workbench.aihub.qualcomm.com", 443)]


# --- reachability -----------------------------------------------------------------------------


def test_refused_connection_fails_fast(_offline_env: Path) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(ToolchainError) as err:
        aihub.check_aihub_ready()
    assert time.monotonic() - start < 2.5
    message = str(err.value)
    assert message.startswith("cannot reach Qualcomm AI Hub at 127.0.0.1:")
    assert "within 2 s (no network?" in message and "use --via local or retry online" in message
    assert "\n" not in message


def test_hanging_connect_is_cut_at_the_timeout(_offline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver or connect that never answers (getaddrinfo has no timeout) still ends at timeout_s."""
    _write_ini(_offline_env / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")
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


def test_dns_failure(_offline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")

    def no_dns(address, timeout=None, *args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", no_dns)
    with pytest.raises(ToolchainError, match="DNS lookup of workbench.aihub.qualcomm.com failed"):
        aihub.check_aihub_ready()


def test_proxy_is_what_gets_checked(_offline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_ini(_offline_env / ".qai_hub" / "client.ini", "https://workbench.aihub.qualcomm.com")
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


class FakeHub:
    """Answers the public_rest_api calls that upload -> compile -> profile -> download_profile makes."""

    def __init__(self, api_pb, *, fail: str | None = None, reason: str = "") -> None:
        self.pb = api_pb
        done, failed = api_pb.JOB_STATE_DONE, api_pb.JOB_STATE_FAILED
        self.compile_state = failed if fail == "compile" else done
        self.profile_state = failed if fail == "profile" else done
        self.reason = reason
        self.calls: list[str] = []
        self.uploads: list[tuple[str, int]] = []
        self.compile_pb = None
        self.inference_pb = None

    def device(self):
        return self.pb.Device(
            name=aihub.AIHUB_DEVICE,
            os="14",
            attributes=[
                "framework:tflite",
                "framework:onnx",
                "framework:qnn",
                "chipset:qualcomm-snapdragon-8gen3",
            ],
        )

    def get_device_list(self, config, name="", os="", attributes=None, select=False):
        self.calls.append("get_device_list")
        devices = [self.device()] if name == aihub.AIHUB_DEVICE else []
        return self.pb.DeviceList(devices=devices, total_query_count=len(devices))

    def create_and_upload_model(self, config, path, model_type, name=None, project_id=None, **kwargs):
        self.calls.append("create_and_upload_model")
        assert Path(path).is_file()
        self.uploads.append((Path(path).name, model_type))
        return self.pb.CreateUpdateResponse(id="msource")

    def create_compile_job(self, config, compile_job_pb, project_id=None):
        self.calls.append("create_compile_job")
        self.compile_pb = compile_job_pb
        return self.pb.CreateUpdateResponse(id="jcompile")

    def create_inference_job(self, config, inference_job_pb, project_id=None):
        self.calls.append("create_inference_job")
        self.inference_pb = inference_job_pb
        return self.pb.CreateUpdateResponse(id="jprofile")

    def get_job(self, config, job_id):
        self.calls.append(f"get_job:{job_id}")
        pb = self.pb
        if job_id == "jcompile":
            failed = self.compile_state == pb.JOB_STATE_FAILED
            return pb.Job(
                compile_job=pb.CompileJob(
                    compile_job_id="jcompile",
                    job_state=self.compile_state,
                    failure_reason=self.reason if failed else "",
                    model=pb.Model(model_id="msource", model_type=pb.MODEL_TYPE_ONNX),
                    target_model=pb.Model(model_id="mtarget", model_type=pb.MODEL_TYPE_TFLITE),
                    device=self.device(),
                    options=self.compile_pb.options,
                )
            )
        assert job_id == "jprofile"
        failed = self.profile_state == pb.JOB_STATE_FAILED
        return pb.Job(
            inference_job=pb.InferenceJob(
                inference_job_id="jprofile",
                job_state=self.profile_state,
                failure_reason=self.reason if failed else "",
                is_profiling_on=True,
                model=self.inference_pb.model,
                device=self.device(),
            )
        )

    def get_job_results(self, config, job_id):
        self.calls.append("get_job_results")
        pb = self.pb
        layers = [
            pb.LayerDetail(name=f"conv{i}", layer_type_name="Conv2d", compute_unit=pb.COMPUTE_UNIT_NPU)
            for i in range(120)
        ]
        layers += [pb.LayerDetail(name="resize", layer_type_name="Resize", compute_unit=pb.COMPUTE_UNIT_CPU)]
        detail = pb.ProfileDetail(
            major_version=1,
            minor_version=2,
            execution_time=38000,  # microseconds
            after_execution_peak_memory=12 * 2**20,
            layer_details=layers,
        )
        return pb.JobResult(
            inference_job_result=pb.InferenceJobResult(inference_job_id=job_id, detail=detail)
        )


@pytest.fixture
def hub_online(_offline_env: Path, listener: int, monkeypatch: pytest.MonkeyPatch):
    """qai_hub with its REST layer faked and any real HTTP request turned into a test failure."""
    qai_hub = pytest.importorskip("qai_hub")
    import requests

    def no_http(*args, **kwargs):
        raise AssertionError("a test tried a real HTTP request")

    monkeypatch.setattr(requests.Session, "send", no_http)
    _write_ini(_offline_env / ".qai_hub" / "client.ini", f"http://127.0.0.1:{listener}")

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
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "tile.onnx"
    path.write_bytes(b"not really onnx; the fake hub never parses it")
    return path


def test_profile_flow(hub_online, onnx_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = hub_online()
    messages: list[str] = []
    result = aihub.profile_on_aihub(onnx_file, "tflite", SPEC, progress=messages.append)

    assert result.device == aihub.AIHUB_DEVICE and result.runtime == "tflite"
    assert result.compile_job_id == "jcompile" and result.profile_job_id == "jprofile"
    assert result.latency_ms_per_tile == pytest.approx(38.0)
    assert aihub_report.estimate_image_latency(result.latency_ms_per_tile, TILES_512) == pytest.approx(950.0)
    assert result.compute_units == {"NPU": 120, "GPU": 0, "CPU": 1}
    assert result.peak_memory_bytes == 12 * 2**20
    assert result.profile_job_url == "https://workbench.example/jobs/jprofile/"

    # what was sent
    assert fake.uploads == [("tile.onnx", fake.pb.MODEL_TYPE_ONNX)]
    assert fake.compile_pb.options == "--target_runtime tflite"
    assert [d.name for d in fake.compile_pb.devices.devices] == [aihub.AIHUB_DEVICE]
    sent_spec = pytest.importorskip("qai_hub").api_utils.tensor_type_list_pb_to_list_shapes
    assert dict(sent_spec(fake.compile_pb.tensor_type_list)) == SPEC
    assert fake.inference_pb.is_profiling_on and fake.inference_pb.model.model_id == "mtarget"
    assert fake.calls[:3] == ["get_device_list", "create_and_upload_model", "create_compile_job"]
    assert fake.calls[-1] == "get_job_results"

    assert any("jcompile" in m for m in messages) and any("jprofile" in m for m in messages)
    assert capsys.readouterr().out == ""  # the client's own progress printing is off


def test_tflite_is_profiled_without_compiling(hub_online, tmp_path: Path) -> None:
    fake = hub_online()
    model = tmp_path / "tile.tflite"
    model.write_bytes(b"\x00\x00\x00\x00TFL3")
    result = aihub.profile_on_aihub(model, "tflite", SPEC)
    assert result.compile_job_id is None and result.latency_ms_per_tile == pytest.approx(38.0)
    assert "create_compile_job" not in fake.calls
    assert fake.uploads == [("tile.tflite", fake.pb.MODEL_TYPE_TFLITE)]


def test_compile_failure_is_one_line(hub_online, onnx_file: Path) -> None:
    fake = hub_online(fail="compile", reason="Compilation failed.\n  Op GroupNorm is not supported\n  on HTP")
    with pytest.raises(ToolchainError) as err:
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC)
    message = str(err.value)
    assert message == (
        "AI Hub compile job jcompile failed: Compilation failed. Op GroupNorm is not supported on HTP; "
        "full log: https://workbench.example/jobs/jcompile/"
    )
    assert "create_inference_job" not in fake.calls


def test_profile_failure_is_one_line(hub_online, onnx_file: Path) -> None:
    hub_online(fail="profile", reason="Device provisioning timed out")
    with pytest.raises(
        ToolchainError, match=r"^AI Hub profile job jprofile failed: Device provisioning timed out;"
    ):
        aihub.profile_on_aihub(onnx_file, "onnx", SPEC)


def test_unknown_device_is_one_line(hub_online, onnx_file: Path) -> None:
    hub_online()
    with pytest.raises(ToolchainError) as err:
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC, device_name="Galaxy S99")
    assert str(err.value).startswith("Qualcomm AI Hub request failed: ") and "Galaxy S99" in str(err.value)
    assert "\n" not in str(err.value)


def test_unreachable_hub_stops_before_any_request(
    _offline_env: Path, onnx_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qai_hub = pytest.importorskip("qai_hub")
    fake = FakeHub(qai_hub.public_api_pb2)
    monkeypatch.setattr(qai_hub.public_rest_api, "get_device_list", fake.get_device_list)
    _write_ini(_offline_env / ".qai_hub" / "client.ini", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ToolchainError, match="cannot reach Qualcomm AI Hub"):
        aihub.profile_on_aihub(onnx_file, "tflite", SPEC)
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
        aihub.profile_on_aihub(model, runtime, SPEC)


def test_bad_input_spec(onnx_file: Path) -> None:
    with pytest.raises(ToolchainError, match="input_spec entry 'lr'"):
        aihub.profile_on_aihub(onnx_file, "tflite", {"lr": ((1, 0, 128, 128), "float32")})


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
        device=aihub.AIHUB_DEVICE,
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
    profile = aihub.AihubProfile(aihub.AIHUB_DEVICE, "onnx", "jc", "jp", 2.0, {"NPU": 10})
    spec = TileSpec(tile=32, overlap=8)
    tiles = plan_tiles(512, 512, spec).num_tiles
    text = aihub_report.format_comparison(profile, spec)
    assert tiles == 21 * 21
    assert f"one 32x32 -> 128x128 tile; image = 512x512 -> 2048x2048 as {tiles} tiles" in text
    ours = next(line for line in text.splitlines() if line.startswith("ours"))
    assert ours.split()[-1] == f"{2.0 * tiles / 1000:.2f}"
