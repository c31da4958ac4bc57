"""`toolchain bench host` and `toolchain bench report` on a tiny bundle (no export needed).

The bundle's graph is the 4x nearest-neighbour ONNX of test_manifest (16 px tiles); our torch model is
the embedded default checkpoint; the only peer is bicubic, so no ../shared files are needed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from test_atomic import make_read_only
from test_bench_results import example_device_result
from test_manifest import ONNX_CPU, make_manifest, nearest_graph
from typer.testing import CliRunner

from toolchain.bench import host as host_module
from toolchain.bench.host import (
    PSNR_NOTE,
    HostBenchOptions,
    PeakRss,
    bench_engines,
    bench_host,
    first_tile,
    parse_engines,
    prepare_image,
    time_calls,
)
from toolchain.bench.peers import load_peer
from toolchain.bench.report import PUBLISHED_NOTE, markdown_summary
from toolchain.bench.results import (
    HOST_NOTE,
    ImageMethod,
    RunStatus,
    read_result,
    result_from_dict,
    write_result,
)
from toolchain.cli.main import app
from toolchain.deploy.bundle import write_manifest
from toolchain.errors import ToolchainError
from toolchain.imageio import save_image
from toolchain.tiling import TileSpec, plan_tiles


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle"
    nearest_graph(path / "graphs/nearest.onnx", 16)
    nearest_graph(path / "graphs/nearest-ref.onnx", 16)
    reference = ("graphs/nearest-ref.onnx", "onnx", "onnxruntime-cpu", "host-reference")
    write_manifest(path, make_manifest(path, [ONNX_CPU, reference]))
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    save_image(path, rng.random((30, 50, 3), dtype=np.float32))
    return path


def test_host_run_times_ours_and_the_peers(bundle: Path, photo: Path, tmp_path: Path) -> None:
    options = HostBenchOptions(runs=2, warmup=1, image=photo, size=40, baselines=tmp_path, peers=("bicubic",))
    messages: list[str] = []
    result = bench_host(bundle, options, messages.append)
    by_label = {run.label: run for run in result.runs}
    engines = ["ours-engine-onnxruntime", "ours-engine-torch", "ours-engine-torch-reference"]
    # every ONNX graph of the bundle, in manifest order; the app's CPU fallback is labelled as such
    ours = ["ours-onnxruntime-cpu-fallback", "ours-onnxruntime-cpu", "ours-litert-cpu"]
    assert list(by_label) == [*ours, *engines, "bicubic"]
    assert by_label["ours-onnxruntime-cpu"].graph == "graphs/nearest-ref.onnx"
    assert "fp32 host-reference graph" in by_label["ours-onnxruntime-cpu"].notes
    onnx = by_label["ours-onnxruntime-cpu-fallback"]
    assert onnx.graph == "graphs/nearest.onnx" and onnx.tile.warmup == 1 and len(onnx.tile.runs_ms) == 2
    assert onnx.image.method is ImageMethod.MEASURED and len(onnx.image.runs_ms) == 2
    assert onnx.memory.kind.value == "rss" and onnx.memory.peak_bytes > 10 * 2**20
    litert = by_label["ours-litert-cpu"]
    assert litert.status is RunStatus.SKIPPED and "has no litert graph" in litert.reason
    for label in engines:
        assert (
            "the torch checkpoint is edge-sd-sr-nano, the bundle holds edge-sd-sr-test"
            in by_label[label].notes
        )
    assert "the default of `toolchain upscale` on CPU" in by_label["ours-engine-onnxruntime"].notes
    # every output of ours but the reference's own is compared with the reference's
    for label in ("ours-onnxruntime-cpu-fallback", "ours-engine-onnxruntime", "ours-engine-torch"):
        psnr_notes = [n for n in by_label[label].notes if n.startswith(PSNR_NOTE)]
        assert len(psnr_notes) == 1 and "tile" in psnr_notes[0] and "image" in psnr_notes[0], label
    fast = next(n for n in by_label["ours-engine-onnxruntime"].notes if n.startswith(PSNR_NOTE))
    assert float(re.search(r"image ([0-9.]+|inf) dB", fast).group(1)) >= 50.0  # inf: identical
    assert not any(n.startswith(PSNR_NOTE) for n in by_label["ours-engine-torch-reference"].notes)
    assert result.workload.image_tiles == plan_tiles(40, 40, TileSpec(tile=16, overlap=4)).num_tiles == 9
    assert HOST_NOTE in result.notes
    pairs = {(r.ours, r.peer, r.per.value) for r in result.ratios}
    assert ("ours-onnxruntime-cpu-fallback", "bicubic", "tile") in pairs
    assert ("ours-engine-torch", "bicubic", "image") in pairs
    assert any("warm-up" in m for m in messages)

    # the report of this result and a device result: one offline page with the plot and references
    host_json = write_result(tmp_path / "host.json", result)
    device_json = write_result(tmp_path / "device.json", example_device_result())
    out = tmp_path / "report" / "report.html"
    cli = CliRunner().invoke(app, ["bench", "report", str(host_json), str(device_json), "-o", str(out)])
    assert cli.exit_code == 0, cli.output
    html = out.read_text()
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html  # opens offline
    assert PUBLISHED_NOTE in html and "Real-ESRGAN-general-x4v3" in html and "Edge-SD-SR (paper)" in html
    assert result.bundle.manifest_sha256 in html and "SM-S928B" in html
    assert out.with_suffix(".md").read_text() == markdown_summary([result, example_device_result()])
    assert "| ours-onnxruntime-cpu |" in cli.output and "PARTIAL" not in html


def test_time_calls_skips_the_warmup() -> None:
    timing = time_calls(lambda: sum(range(1000)), warmup=2, runs=3)
    assert timing.warmup == 2 and len(timing.runs_ms) == 3 and all(t > 0 for t in timing.runs_ms)


def test_prepare_image_mirrors_small_and_crops_large(photo: Path) -> None:
    small = prepare_image(photo, 64)
    assert small.rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(small.rgb[:30, :50], prepare_image(photo, 64).rgb[:30, :50])
    crop = prepare_image(photo, 20)
    assert crop.rgb.shape == (20, 20, 3)


def test_peak_rss_sees_a_large_allocation() -> None:
    probe = PeakRss()
    probe.reset()
    before = probe.peak_bytes()
    block = np.ones(64 * 2**20, dtype=np.uint8)  # 64 MiB, touched
    after = probe.peak_bytes()
    assert block.sum() == 64 * 2**20
    assert after - before >= 48 * 2**20


def test_bad_options_and_missing_peers(bundle: Path, photo: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="--runs must be >= 1"):
        HostBenchOptions(runs=0)
    options = HostBenchOptions(runs=1, warmup=0, image=photo, size=16, baselines=tmp_path / "none")
    with pytest.raises(ToolchainError, match="peer folder .*none does not exist; point --baselines"):
        bench_host(bundle, options)


def test_report_refuses_no_files_and_bad_suffix(tmp_path: Path) -> None:
    cli = CliRunner().invoke(app, ["bench", "report", str(tmp_path / "missing.json"), "-o", "r.html"])
    assert cli.exit_code == 1 and "missing.json does not exist" in cli.output
    device_json = write_result(tmp_path / "device.json", example_device_result())
    cli = CliRunner().invoke(app, ["bench", "report", str(device_json), "-o", str(tmp_path / "r.pdf")])
    assert cli.exit_code == 1 and "must end in .html" in cli.output
    assert read_result(device_json) == example_device_result()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "r.json is empty (a run cut short?); pass a JSON written by `toolchain bench`"),
        (b'{"schema_version": ', "r.json is not valid JSON (line 1: Expecting value); pass a JSON written"),
        (b"[1, 2]", "r.json is not a benchmark result: no valid schema_version (got None, expected "),
        (b'{"schema_version": "1.0"}', "r.json: result: missing key 'source'; pass a JSON written by"),
        (None, "r.json is a folder; pass the result files in it ("),
    ],
)
def test_report_on_a_bad_input_says_what_to_do(tmp_path: Path, content: bytes | None, expected: str) -> None:
    """Issue 26 item 11: malformed, empty or folder input had no "; what to do" part."""
    path = tmp_path / "r.json"
    path.mkdir() if content is None else path.write_bytes(content)
    cli = CliRunner().invoke(app, ["bench", "report", str(path), "-o", str(tmp_path / "r.html")])
    assert cli.exit_code == 1
    line = _error_line(cli.output)
    assert expected in line, line
    assert line.endswith(("; pass a JSON written by `toolchain bench`", "*.json)"))


def test_engines_alone_on_a_preset_with_one_thread(photo: Path) -> None:
    """What benchmarks/speed.py runs for the edge preset, here on tiny (random weights, seeded)."""
    import torch

    from toolchain.engines import Engine
    from toolchain.model.config import load_preset
    from toolchain.model.edge_sdsr import EdgeSDSR

    def load() -> EdgeSDSR:
        torch.manual_seed(0)
        return EdgeSDSR(load_preset("tiny"))

    threads_before = torch.get_num_threads()
    options = HostBenchOptions(
        runs=1,
        warmup=0,
        image=photo,
        size=40,
        engines=(Engine.ONNXRUNTIME, Engine.TORCH_REFERENCE),
        threads=1,
    )
    runs = bench_engines(load, TileSpec(tile=32, overlap=8), options)
    assert [r.label for r in runs] == ["ours-engine-onnxruntime", "ours-engine-torch-reference"]
    assert all("1 thread(s)" in r.notes[0] for r in runs) and torch.get_num_threads() == threads_before
    assert runs[0].image.method is ImageMethod.MEASURED
    assert any(n.startswith(PSNR_NOTE) for n in runs[0].notes)


def test_engines_option_is_parsed_strictly() -> None:
    assert [e.value for e in parse_engines("torch, onnxruntime")] == ["torch", "onnxruntime"]
    for bad in ("", "auto", "torch,tensorrt"):
        with pytest.raises(
            ToolchainError, match="comma-separated list of onnxruntime, torch, torch-reference"
        ):
            parse_engines(bad)
    with pytest.raises(ToolchainError, match="--threads must be >= 1"):
        HostBenchOptions(threads=0)


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_a_read_only_output_folder_is_refused_before_timing(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 item 2: not after 20 s of timing, and never a traceback."""

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("timed although the result cannot be written")

    monkeypatch.setattr(host_module, "bench_host", never)
    make_read_only(tmp_path / "ro", monkeypatch)
    cli = CliRunner().invoke(
        app, ["bench", "host", "--bundle", str(bundle), "-o", str(tmp_path / "ro/r.json")]
    )
    assert cli.exit_code == 1
    assert _error_line(cli.output).endswith("; choose another -o") and "ro: " in cli.output


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_write_keeps_the_result_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """The folder turns read-only during the run: the write fails with one line, the numbers survive."""
    folder = tmp_path / "out"
    result = example_device_result()

    def run_then_lose_the_folder(*_args: object, **_kwargs: object):  # noqa: ANN202
        make_read_only(folder, monkeypatch)
        return result

    monkeypatch.setattr(host_module, "bench_host", run_then_lose_the_folder)
    args = ["bench", "host", "-o", str(folder / "r.json")] + ["--json"] * as_json
    cli = CliRunner().invoke(app, args)
    assert cli.exit_code == 1
    line = _error_line(cli.output)
    assert "r.json: " in line and line.endswith(
        "; the result is on stdout above (--json prints the whole record); choose another -o"
    )
    if as_json:
        assert result_from_dict(json.loads(cli.stdout)) == result
    else:
        assert "| npu |" in cli.stdout
    assert not any(folder.iterdir())


def test_size_is_bounded_like_upscale_inputs(tmp_path: Path) -> None:
    """Issue 26 item 4: --size 40000 allocated 17.9 GiB and died of a MemoryError traceback."""
    cli = CliRunner().invoke(app, ["bench", "host", "--size", "40000", "-o", str(tmp_path / "r.json")])
    assert cli.exit_code == 1
    assert _error_line(cli.output) == (
        "error: --size 40000 is above the input limit of 4096 (4096x4096 = 16.8 MP, as for "
        "`toolchain upscale`); use --size 4096 or less"
    )
    HostBenchOptions(size=4096)


def test_opencv_range_and_pin_agree() -> None:
    """Issue 26 item 7: pyproject allowed opencv 5.1, which breaks the peers; constraints pins inside it."""
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (spec,) = [r.specifier for r in map(Requirement, extras["bench"]) if r.name.startswith("opencv")]
    pins = [line.split("#")[0].strip() for line in (root / "constraints.txt").read_text().splitlines()]
    (pin,) = [Requirement(p) for p in pins if p.startswith("opencv")]
    (pinned,) = [s.version for s in pin.specifier]
    assert pinned in spec and "5.1.0" not in spec


def test_missing_peers_and_opencv_are_found_before_timing(
    bundle: Path, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 item 7: a missing --baselines folder, weights file or opencv, before the 20 s of timing."""

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("timed before the peers were checked")

    monkeypatch.setattr(host_module._Bench, "ours", never)
    options = HostBenchOptions(runs=1, warmup=0, image=photo, size=16, peers=("espcn", "bicubic"))
    with pytest.raises(ToolchainError, match="peer folder .*none does not exist; point --baselines"):
        bench_host(bundle, dataclasses.replace(options, baselines=tmp_path / "none"))
    with pytest.raises(ToolchainError, match="peer model .*ESPCN_x4.pb not found; point --baselines"):
        bench_host(bundle, dataclasses.replace(options, baselines=tmp_path))
    (tmp_path / "ESPCN_x4.pb").write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(ToolchainError, match="opencv-contrib-python-headless is needed for the ESPCN"):
        bench_host(bundle, dataclasses.replace(options, baselines=tmp_path))


def test_an_opencv_error_is_one_line(tmp_path: Path) -> None:
    """cv2.error (several lines, C++ paths) was uncaught: now one line naming the peer and the fix."""
    pytest.importorskip("cv2")
    (tmp_path / "ESPCN_x4.pb").write_bytes(b"not a GraphDef")
    with pytest.raises(ToolchainError) as excinfo:
        load_peer(tmp_path, "espcn")
    message = str(excinfo.value)
    assert "\n" not in message and "could not load" in message and "for espcn: " in message
    assert message.endswith("; install the tested opencv: pip install -c constraints.txt -e '.[bench]'")


def test_an_image_smaller_than_the_tile_is_padded_as_upscale_pads_it(
    bundle: Path, photo: Path, tmp_path: Path
) -> None:
    """Issue 26 item 8: --size below the tile (10 < 16 here, 64 < 128 for nano) gave an internal
    shape message; the tile is now padded to the graph's size, as `upscale --bundle` pads it."""
    options = HostBenchOptions(
        runs=1, warmup=0, image=photo, size=10, baselines=tmp_path, peers=("bicubic",), engines=()
    )
    result = bench_host(bundle, options)
    by_label = {run.label: run for run in result.runs}
    assert by_label["ours-onnxruntime-cpu-fallback"].status is RunStatus.OK
    assert by_label["ours-onnxruntime-cpu-fallback"].image.method is ImageMethod.MEASURED
    assert result.workload.image_tiles == 1 and result.workload.image_width == 10
    rgb = prepare_image(photo, 10).rgb
    tile = first_tile(rgb, TileSpec(tile=16, overlap=4))
    assert tile.shape == (16, 16, 3)
    np.testing.assert_array_equal(tile[:10, :10], rgb)
    np.testing.assert_array_equal(tile[10:, :10], np.repeat(rgb[-1:], 6, axis=0))  # replicate padding
    np.testing.assert_array_equal(
        first_tile(prepare_image(photo, 40).rgb, TileSpec(tile=16, overlap=4)),
        prepare_image(photo, 40).rgb[:16, :16],
    )
