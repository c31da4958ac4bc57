"""`toolchain bench device` driven through a fake adb (tests/fake_adb), success path and every failure.

The fake is put first on PATH; the harness code is the one that talks to a real phone. Timeouts are
shortened so that a hanging adb call or an app that never answers ends the test within seconds
(``--timeout`` is the whole run's budget: it must leave room for the fake's setup calls).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pytest
from helpers import tiny_npu_bundle
from test_atomic import make_read_only
from test_manifest import make_manifest, nearest_graph
from typer.testing import CliRunner

from toolchain.bench import adb as adb_module
from toolchain.bench import device as device_module
from toolchain.bench.results import PARTIAL_NOTE, read_result, result_from_dict
from toolchain.cli.main import app
from toolchain.deploy.bundle import write_manifest

FAKE = Path(__file__).parent / "fake_adb" / "fake_adb.py"
TEMPLATE = Path(__file__).parent / "golden" / "bench" / "device_result.json"
PROPS = {
    "ro.product.model": "SM-S928B",
    "ro.product.manufacturer": "samsung",
    "ro.soc.model": "SM8650",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
}
QNN_LIBS = ["libQnnHtp.so", "libQnnHtpV75Stub.so", "libcdsprpc.so"]


class FakeAdb:
    """The fake's configuration and call log."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.config = {
            "devices": [["R5CX10ABCDE", "device"]],
            "props": dict(PROPS),
            "vendor_libs": list(QNN_LIBS),
            "mode": "ok",
            "hang": None,
            "template": str(TEMPLATE),
        }
        self.save()

    def set(self, **changes: object) -> None:
        self.config.update(changes)
        self.save()

    def save(self) -> None:
        (self.state / "config.json").write_text(json.dumps(self.config))

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def am_start(self) -> str:
        return next(" ".join(c) for c in self.calls() if "am start" in " ".join(c))


@pytest.fixture
def fake_adb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAdb:
    """A fake phone (Galaxy S24, SM8650, Android 14) behind an ``adb`` first on PATH."""
    state = tmp_path / "adb-state"
    (state / "fs").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "adb"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_STATE", str(state))
    monkeypatch.setattr(device_module, "POLL_INTERVAL_S", 0.05)
    monkeypatch.setattr(device_module, "APP_START_GRACE_S", 0.0)
    monkeypatch.setattr(adb_module, "CALL_TIMEOUT_S", 10.0)
    return FakeAdb(state)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A tiny verified s24-dsp bundle: one NPU-role graph and one ONNX CPU graph."""
    return tiny_npu_bundle(tmp_path / "nano-s24-dsp-a16w8", "graphs/npu.onnx", "graphs/cpu.onnx", "fallback")


@pytest.fixture
def apk(tmp_path: Path) -> Path:
    path = tmp_path / "edge-sdsr-gallery-debug.apk"
    path.write_bytes(b"PK\x03\x04 not a real apk")
    return path


BUDGET_S = "3"


def bench(bundle: Path, apk: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = ["bench", "device", "--bundle", str(bundle), "--apk", str(apk), "-o", str(out)]
    args += ["--runs", "4", "--warmup", "2", "--timeout", BUDGET_S, *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


# --------------------------------------------------------------------------- success


def test_success_pulls_validates_and_reports(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = bench(bundle, apk, out)
    assert code == 0, output
    (path,) = out.glob("device-*.json")
    result = read_result(path)
    assert result.device.name == "SM-S928B" and result.device.soc == "SM8650"
    assert result.bundle.name == "nano-s24-dsp-a16w8" and not result.partial
    assert [r.label for r in result.runs] == ["npu", "gpu", "cpu"]
    npu = result.runs[0]
    assert npu.tile.warmup == 2 and len(npu.tile.runs_ms) == 4
    html = path.with_suffix(".html").read_text()
    assert "data:image/png;base64," in html and result.bundle.manifest_sha256 in html
    assert "| npu |" in output  # the markdown summary
    calls = fake_adb.calls()
    after_discovery = [c for c in calls if c[0] not in ("start-server", "devices")]
    assert after_discovery and all(c[:2] == ["-s", "R5CX10ABCDE"] for c in after_discovery)
    assert any(c[2] == "install" for c in after_discovery)
    assert any(c[2] == "push" and c[4].endswith("/files/bundles/nano-s24-dsp-a16w8") for c in after_discovery)
    start = fake_adb.am_start()
    assert "-n ai.edgesdsr.gallery/.BenchmarkActivity" in start
    assert "--ei runs 4 --ei warmup 2 --es accelerators npu,gpu,cpu" in start


def test_serial_picks_one_of_several(fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path) -> None:
    fake_adb.set(devices=[["A1", "device"], ["R5CX10ABCDE", "device"]])
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1
    assert error_line(output) == (
        "error: several devices attached: A1 (device), R5CX10ABCDE (device); pick one with --serial"
    )
    code, output = bench(bundle, apk, tmp_path / "out", "--serial", "R5CX10ABCDE")
    assert code == 0, output
    code, output = bench(bundle, apk, tmp_path / "out", "--serial", "B2")
    assert "device B2 is not attached (attached: A1, R5CX10ABCDE)" in error_line(output)


def test_server_start_lines_are_not_devices(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    fake_adb.set(banner=True, devices=[])
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1 and error_line(output).startswith("error: no device: connect a phone")


def test_other_soc_runs_only_the_fallbacks(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    fake_adb.set(props={**PROPS, "ro.soc.model": "SM8550"})
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 0, output
    assert "is compiled for SM8650, SM-S928B has SoC SM8550; running only gpu,cpu" in output
    assert "--es accelerators gpu,cpu " in fake_adb.am_start()
    code, output = bench(bundle, apk, tmp_path / "out2", "--accelerators", "npu")
    assert code == 1
    assert "holds NPU code for SM8650 but SM-S928B has SoC SM8550" in error_line(output)


def test_partial_run_is_kept_only_when_asked(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    fake_adb.set(mode="partial")
    out = tmp_path / "out"
    code, output = bench(bundle, apk, out)
    assert code == 1
    assert "did not finish within 3 s (only a partial result); raise --timeout, or pass --partial" in output
    assert not out.exists() or not list(out.iterdir())
    code, output = bench(bundle, apk, out, "--partial")
    assert code == 0, output
    (path,) = out.glob("device-*.json")
    result = read_result(path)
    assert result.partial and result.notes[0] == PARTIAL_NOTE and len(result.runs) == 1
    html = path.with_suffix(".html").read_text()
    assert html.index("PARTIAL RUN") < html.index("<h1>")
    report = CliRunner().invoke(app, ["bench", "report", str(path), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 1 and "pass --partial to report it" in report.output


def test_app_dying_after_a_partial_result(fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path) -> None:
    fake_adb.set(mode="partial-crash")
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1
    assert "the app exited without writing a final result (crashed?)" in error_line(output)
    code, output = bench(bundle, apk, tmp_path / "out", "--partial")
    assert code == 0, output
    assert "the app exited before finishing; keeping the partial result" in output
    (path,) = (tmp_path / "out").glob("device-*.json")
    assert read_result(path).partial


def test_bundle_without_npu_graphs_runs_anywhere(fake_adb: FakeAdb, apk: Path, tmp_path: Path) -> None:
    """A fallback-only bundle (e.g. s24-exynos) has no SoC to match: every requested accelerator runs."""
    fake_adb.set(props={**PROPS, "ro.soc.model": "s5e9945"})
    cpu_only = tmp_path / "cpu-bundle"
    nearest_graph(cpu_only / "graphs/cpu.onnx", 16)
    plain = make_manifest(cpu_only, [("graphs/cpu.onnx", "onnx", "onnxruntime-cpu", "fallback")])
    write_manifest(cpu_only, dataclasses.replace(plain, target="s24-exynos", soc="Exynos 2400"))
    code, output = bench(cpu_only, apk, tmp_path / "out", "--accelerators", "npu,cpu")
    assert code == 0, output
    assert "warning" not in output and "--es accelerators npu,cpu " in fake_adb.am_start()


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"devices": []}, "error: no device: connect a phone by USB with USB debugging on"),
        (
            {"devices": [["R5CX10ABCDE", "unauthorized"]]},
            "error: device R5CX10ABCDE is unauthorized: unlock the phone and accept the 'Allow USB "
            "debugging' prompt, then retry",
        ),
        ({"devices": [["R5CX10ABCDE", "offline"]]}, "error: device R5CX10ABCDE is offline: replug"),
        (
            {"props": {**PROPS, "ro.build.version.release": "7.1", "ro.build.version.sdk": "25"}},
            "error: SM-S928B runs Android 7.1 (SDK 25); the app needs Android 8.0 (SDK 26) or newer",
        ),
        (
            {"mode": "timeout"},
            "error: no result from the app within 3 s (it is still running); raise --timeout",
        ),
        ({"mode": "crash"}, "error: the app exited without writing a result (crashed?); see `adb logcat"),
        ({"mode": "malformed"}, "is not valid JSON (line 1: "),
        ({"mode": "bad-schema"}, ": result: missing key 'partial'"),
        ({"mode": "no-activity"}, "could not start ai.edgesdsr.gallery/.BenchmarkActivity (Error type 3)"),
    ],
)
def test_failures_are_one_line_errors_and_write_nothing(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path, config: dict, expected: str
) -> None:
    fake_adb.set(**config)
    out = tmp_path / "out"
    code, output = bench(bundle, apk, out)
    assert code == 1
    line = error_line(output)
    assert expected in line, line
    assert not out.exists() or not list(out.iterdir())


def test_hanging_adb_call_times_out(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adb_module, "CALL_TIMEOUT_S", 0.5)
    fake_adb.set(hang="getprop")
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1
    assert "error: `adb shell getprop` did not answer within 0.5 s; check the USB connection" in output


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_hung_adb_and_its_child_are_killed_within_the_budget(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    """Issue 26 item 5: --timeout bounds the whole run (each call had a fixed limit, 10 s here), and a
    hung adb's children (holding its pipes) are killed with it instead of outliving the run."""
    fake_adb.set(hang="getprop", hang_child=True)
    start = time.monotonic()
    code, output = bench(bundle, apk, tmp_path / "out", "--timeout", "2")
    elapsed = time.monotonic() - start
    assert code == 1
    assert "error: `adb shell getprop` did not answer within the --timeout of 2 s for the whole run" in output
    assert elapsed < 2 + 5, elapsed  # before: 10 s, then until the child let go of the pipe (30 s)
    child = int((fake_adb.state / "hang_child.pid").read_text())
    gone = time.monotonic() + 2
    while _alive(child) and time.monotonic() < gone:  # SIGKILL is delivered at once; allow a moment
        time.sleep(0.05)
    assert not _alive(child)


def test_tampered_bundle_is_refused_before_touching_the_phone(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path
) -> None:
    graph = bundle / "graphs/cpu.onnx"
    data = bytearray(graph.read_bytes())
    data[-1] ^= 0xFF
    graph.write_bytes(bytes(data))
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1
    assert "graphs/cpu.onnx sha256 mismatch" in error_line(output)
    assert not any(c[2:3] in (["install"], ["push"]) for c in fake_adb.calls())


def test_missing_apk(fake_adb: FakeAdb, bundle: Path, tmp_path: Path) -> None:
    code, output = bench(bundle, tmp_path / "none.apk", tmp_path / "out")
    assert code == 1
    assert "none.apk not found; build it with `nox -s android` or pass --apk" in error_line(output)


def test_no_adb_on_path(bundle: Path, apk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, output = bench(bundle, apk, tmp_path / "out")
    assert code == 1
    assert error_line(output).startswith("error: adb not found on PATH: install it (`apt-get install adb`")


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5"])
def test_timeout_must_be_finite_and_positive(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path, value: str
) -> None:
    """Issue 26 item 4: --timeout nan or inf waited forever."""
    code, output = bench(bundle, apk, tmp_path / "out", "--timeout", value)
    assert code == 1
    assert error_line(output).startswith(
        f"error: --timeout must be a finite number of seconds > 0, got {value}"
    )
    assert fake_adb.calls() == []


def test_bad_accelerators(fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path) -> None:
    code, output = bench(bundle, apk, tmp_path / "out", "--accelerators", "npu,tpu")
    assert code == 1
    assert "unknown accelerator 'tpu' in --accelerators; use npu, gpu, cpu" in error_line(output)


def test_a_read_only_output_folder_is_refused_before_the_phone(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 item 2: found before install, push and the run, not after them."""
    make_read_only(tmp_path / "ro", monkeypatch)
    code, output = bench(bundle, apk, tmp_path / "ro")
    assert code == 1 and error_line(output).endswith("; choose another -o")
    assert fake_adb.calls() == []


def test_a_failed_write_keeps_the_result_on_stdout(
    fake_adb: FakeAdb, bundle: Path, apk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    measure = device_module.bench_device

    def measure_then_lose_the_folder(*args: object, **kwargs: object):  # noqa: ANN202
        result = measure(*args, **kwargs)
        make_read_only(out, monkeypatch)
        return result

    monkeypatch.setattr(device_module, "bench_device", measure_then_lose_the_folder)
    args = ["bench", "device", "--bundle", str(bundle), "--apk", str(apk), "-o", str(out), "--json"]
    cli = CliRunner().invoke(app, [*args, "--runs", "4", "--warmup", "2"])
    assert cli.exit_code == 1
    assert error_line(cli.output).endswith(
        "; the result is on stdout above (--json prints the whole record); choose another -o"
    )
    result = result_from_dict(json.loads(cli.stdout))
    assert result.device.name == "SM-S928B" and [r.label for r in result.runs] == ["npu", "gpu", "cpu"]
    assert not any(out.iterdir())


# --------------------------------------------------------------------------- real phone


@pytest.mark.device
@pytest.mark.skipif(
    not os.environ.get("EDGE_SDSR_DEVICE_SERIAL"),
    reason="needs a real phone: set EDGE_SDSR_DEVICE_SERIAL, build the APK with `nox -s android`",
)
def test_real_phone(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    bundle = root / "exports" / "nano-s24-dsp-a16w8"
    result = CliRunner().invoke(
        app,
        ["bench", "device", "--bundle", str(bundle), "--serial", os.environ["EDGE_SDSR_DEVICE_SERIAL"]]
        + ["--runs", "5", "--warmup", "2", "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("device-*.json")
    assert read_result(path).source.value == "device"
