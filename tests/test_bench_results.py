"""The benchmark result schema: strict parsing, cross-field rules, statistics and the golden example.

``tests/golden/bench/device_result.json`` is what the app's Kotlin writer must reproduce key for key;
it is rewritten only with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from toolchain.bench.results import (
    SCHEMA_VERSION,
    Accelerator,
    BenchResult,
    BundleInfo,
    DeviceInfo,
    ImageMethod,
    ImageTiming,
    Memory,
    MemoryKind,
    RatioBasis,
    RunResult,
    RunStatus,
    Source,
    Subject,
    Timing,
    Tool,
    Version,
    Workload,
    computed_image,
    median_ms,
    p90_ms,
    parse_result_text,
    read_result,
    result_from_dict,
    result_to_json,
    speedups,
    write_result,
)
from toolchain.errors import ToolchainError
from toolchain.tiling import TileSpec

GOLDEN = Path(__file__).parent / "golden" / "bench" / "device_result.json"
WORKLOAD = Workload.for_image(TileSpec(), 512, 512)


def example_device_result() -> BenchResult:
    """The schema example the app must match: what BenchmarkActivity writes for npu,gpu,cpu."""
    npu_tile = Timing(warmup=3, runs_ms=(39.5, 38.2, 38.9, 41.0, 38.4))
    return BenchResult(
        schema_version=SCHEMA_VERSION,
        source=Source.DEVICE,
        run_id="device-20260101-120000",
        created_utc="2026-01-01T12:00:00Z",
        partial=False,
        tool=Tool(name="edge-sdsr-gallery", version="0.1.0", git_commit=None),
        versions=(
            Version("onnxruntime", "1.23.2"),
            Version("qnn", "2.51.0"),
            Version("tensorflow-lite", "2.16.1"),
        ),
        device=DeviceInfo(
            name="SM-S928B",
            manufacturer="samsung",
            soc="SM8650",
            os="Android 14",
            android_sdk=34,
            cpu_cores=8,
            qnn_libs=("libQnnHtp.so", "libQnnHtpV75Stub.so", "libcdsprpc.so"),
        ),
        bundle=BundleInfo(
            name="nano-s24-dsp-a16w8",
            manifest_sha256="0123456789abcdef" * 4,
            schema_version="1.0",
            target="s24-dsp",
            soc="Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75",
            model_id="edge-sd-sr-nano",
        ),
        workload=WORKLOAD,
        runs=(
            RunResult(
                label="npu",
                subject=Subject.OURS,
                requested=Accelerator.NPU,
                ran_on=Accelerator.NPU,
                runtime="onnxruntime-qnn",
                graph="graphs/edge-sd-sr-nano-a16w8-sm8650_ctx.onnx",
                status=RunStatus.OK,
                reason=None,
                load_ms=412.0,
                tile=npu_tile,
                image=ImageTiming(ImageMethod.MEASURED, 1, (1120.0, 1098.5, 1105.25)),
                memory=Memory(MemoryKind.PSS, 187_000_000),
                notes=(),
            ),
            RunResult(
                label="gpu",
                subject=Subject.OURS,
                requested=Accelerator.GPU,
                ran_on=None,
                runtime=None,
                graph=None,
                status=RunStatus.SKIPPED,
                reason="the bundle has no graph for the GPU",
                load_ms=None,
                tile=None,
                image=None,
                memory=None,
                notes=(),
            ),
            RunResult(
                label="cpu",
                subject=Subject.OURS,
                requested=Accelerator.CPU,
                ran_on=Accelerator.CPU,
                runtime="onnxruntime-cpu",
                graph="graphs/edge-sd-sr-nano-a16w8.qdq.onnx",
                status=RunStatus.OK,
                reason=None,
                load_ms=95.5,
                tile=Timing(warmup=1, runs_ms=(610.0, 598.0, 603.5)),
                image=ImageTiming(ImageMethod.MEASURED, 0, (15250.0,)),
                memory=Memory(MemoryKind.PSS, 240_000_000),
                notes=("graph optimizations disabled (QDQ reference)",),
            ),
        ),
        ratios=(),
        notes=("example values that show the schema; not a measurement",),
    )


def example_host_result() -> BenchResult:
    """A host result with one of ours, one peer, a computed image and the ratios."""
    ours_tile = Timing(1, (240.0, 250.0, 245.0))
    peer_tile = Timing(1, (300.0, 310.0, 305.0))
    base = dict(
        subject=Subject.OURS,
        requested=Accelerator.CPU,
        ran_on=Accelerator.CPU,
        graph=None,
        status=RunStatus.OK,
        reason=None,
        load_ms=10.0,
        memory=Memory(MemoryKind.RSS, 10_000_000),
        notes=(),
    )
    runs = (
        RunResult(
            label="torch", runtime="torch", tile=ours_tile, image=computed_image(ours_tile, WORKLOAD), **base
        ),
        RunResult(
            **{**base, "subject": Subject.PEER},
            label="realesrgan",
            runtime="onnxruntime-cpu",
            tile=peer_tile,
            image=ImageTiming(ImageMethod.MEASURED, 1, (4800.0, 4900.0)),
        ),
    )
    device = example_device_result()
    return dataclasses.replace(
        device,
        source=Source.HOST,
        run_id="host-1",
        device=DeviceInfo("host", None, "Example CPU", "Linux", None, 2, ()),
        runs=runs,
        ratios=speedups(runs),
        notes=("host numbers are not phone numbers",),
    )


def as_dict(result: BenchResult) -> dict[str, Any]:
    return json.loads(result_to_json(result))


# --------------------------------------------------------------------------- golden


def test_golden_device_example_matches() -> None:
    text = result_to_json(example_device_result())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, (
        "golden changed: rerun with UPDATE_GOLDEN=1 and update the Kotlin writer"
    )
    assert read_result(GOLDEN) == example_device_result()


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    result = example_host_result()
    path = write_result(tmp_path / "r.json", result)
    assert read_result(path) == result
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


# --------------------------------------------------------------------------- strict parsing


def _edit(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or with value ... delete) the key at a dotted path like ``runs.0.tile.warmup``."""
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", "red", r"^result: unknown key 'colour'"),
        ("runs.0.speed", 1, r"^result\.runs\[0\]: unknown key 'speed'"),
        ("partial", ..., r"^result: missing key 'partial'"),
        ("runs.0.memory", ..., r"^result\.runs\[0\]: missing key 'memory'"),
        ("runs.0.tile.warmup", "3", r"^result\.runs\[0\]\.tile\.warmup: expected int, got '3'"),
        ("runs.0.tile.runs_ms.2", "fast", r"^result\.runs\[0\]\.tile\.runs_ms\[2\]: expected a number"),
        ("runs.0.tile.runs_ms.2", -1.0, r"runs_ms\[2\] must be a finite number of milliseconds > 0"),
        ("runs.0.tile.runs_ms", [], r"runs_ms must hold at least one timed run"),
        ("source", "phone", r"^result\.source: 'phone' is not one of device, aihub, host"),
        ("runs.0.ran_on", "tpu", r"^result\.runs\[0\]\.ran_on: 'tpu' is not one of npu, gpu, cpu"),
        ("device.qnn_libs", "libQnnHtp.so", r"^result\.device\.qnn_libs: expected a list"),
        ("bundle.manifest_sha256", "abc", r"manifest_sha256 must be 64 lowercase hex digits"),
        ("workload.image_tiles", 16, r"image_tiles is 16 but the tile plan of a 512x512 image has 25 tiles"),
        ("run_id", "../x", r"run_id must be"),
        ("created_utc", "yesterday", r"created_utc must be an ISO 8601 time"),
        ("runs.2.label", "npu", r"run label 'npu' is used twice"),
        ("runs.0.ran_on", "cpu", r"ran on cpu, not the requested npu, so reason must say why"),
        ("runs.1.reason", None, r"a skipped run needs a reason"),
        ("runs.0.tile", None, r"status ok needs tile timings"),
        ("runs.0.memory.kind", "rss", r"memory kind rss in a device result \(expected pss\)"),
        ("runs.0.image.method", "computed", r"a computed image latency is one value with warmup 0"),
    ],
)
def test_bad_results_are_one_line_errors_with_the_key_path(path: str, value: Any, expected: str) -> None:
    data = _edit(as_dict(example_device_result()), path, value)
    with pytest.raises(ToolchainError, match=expected) as err:
        result_from_dict(data)
    assert "\n" not in str(err.value)


def test_computed_image_must_equal_tiles_times_median() -> None:
    data = as_dict(example_host_result())
    assert data["runs"][0]["image"] == {"method": "computed", "warmup": 0, "runs_ms": [25 * 245.0]}
    with pytest.raises(
        ToolchainError, match=r"computed image latency 6000 ms is not image_tiles x median tile"
    ):
        result_from_dict(_edit(data, "runs.0.image.runs_ms", [6000.0]))


def test_ratios_are_recomputed_and_refer_to_runs() -> None:
    result = example_host_result()
    tile = next(r for r in result.ratios if r.per is RatioBasis.TILE)
    assert tile.speedup == pytest.approx(305.0 / 245.0)
    image = next(r for r in result.ratios if r.per is RatioBasis.IMAGE)
    assert image.speedup == pytest.approx(4850.0 / (25 * 245.0))
    data = as_dict(result)
    with pytest.raises(ToolchainError, match=r"does not match the runs' medians"):
        result_from_dict(_edit(data, "ratios.0.speedup", 2.0))
    with pytest.raises(ToolchainError, match=r"ratio peer 'torch' is not a run of subject peer"):
        result_from_dict(_edit(data, "ratios.0.peer", "torch"))
    with pytest.raises(ToolchainError, match=r"ratio ours 'nope' is not a run label"):
        result_from_dict(_edit(data, "ratios.0.ours", "nope"))


def test_versions_and_malformed_text() -> None:
    text = result_to_json(example_device_result())
    assert parse_result_text(text, "r.json") == example_device_result()
    with pytest.raises(ToolchainError, match=r"^r\.json is not valid JSON \(line \d+: "):
        parse_result_text(text[:40], "r.json")
    with pytest.raises(ToolchainError, match=r"r\.json: result schema version 2\.0 is not supported"):
        parse_result_text(text.replace('"schema_version": "1.0"', '"schema_version": "2.0"', 1), "r.json")
    newer = json.loads(text.replace('"schema_version": "1.0"', '"schema_version": "1.9"', 1))
    newer["energy_mj"] = 1
    with pytest.raises(ToolchainError, match=r"unknown key 'energy_mj'.*newer schema 1\.9"):
        parse_result_text(json.dumps(newer), "r.json")
    with pytest.raises(ToolchainError, match=r"is not a benchmark result: no valid schema_version"):
        parse_result_text("[1, 2]", "r.json")


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"does not exist; pass a JSON written by `toolchain bench`"):
        read_result(tmp_path / "none.json")


def test_statistics() -> None:
    assert median_ms([3.0, 1.0, 2.0]) == 2.0
    assert median_ms([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert p90_ms([5.0]) == 5.0
    assert p90_ms([float(v) for v in range(1, 11)]) == pytest.approx(9.1)  # numpy's linear default
    assert p90_ms([1.0, 100.0]) == pytest.approx(90.1)
    with pytest.raises(ValueError):
        median_ms([])
