"""`toolchain export` end to end on the tiny preset: bundles, the NPU graphs, the gate, errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("onnxruntime_qnn")
pytest.importorskip("ai_edge_litert")

from toolchain.cli.main import app  # noqa: E402
from toolchain.deploy.bundle import verify_bundle  # noqa: E402
from toolchain.deploy.export import _selected_artifacts  # noqa: E402
from toolchain.deploy.export_options import ExportOptions, GraphSet  # noqa: E402
from toolchain.deploy.graph import TileGraph  # noqa: E402
from toolchain.deploy.litert import op_names  # noqa: E402
from toolchain.deploy.manifest import read_manifest  # noqa: E402
from toolchain.deploy.onnx_qnn import context_binary_soc  # noqa: E402
from toolchain.deploy.qnn_pairing import LITERT_QNN_SDK, check_loads_on_app  # noqa: E402
from toolchain.deploy.targets import (  # noqa: E402
    DEFAULT_BUNDLE,
    Artifact,
    Precision,
    default_bundle_dir,
    get_target,
    model_id,
)
from toolchain.errors import ToolchainError  # noqa: E402
from toolchain.model.config import load_preset  # noqa: E402
from toolchain.model.edge_sdsr import EdgeSDSR  # noqa: E402
from toolchain.tiling import TileSpec, plan_tiles  # noqa: E402

runner = CliRunner()
pytestmark = pytest.mark.slow


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    torch.manual_seed(0)
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def dsp_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_ckpt: Path) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "dsp"
    result = invoke("export", "--target", "s24-dsp", "-c", tiny_ckpt, "-o", out, "--min-psnr", "30")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def cpu_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_ckpt: Path) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "cpu"
    result = invoke("export", "--target", "cpu", "-c", tiny_ckpt, "-o", out)
    assert result.exit_code == 0, result.output
    return out


def test_s24_dsp_bundle_is_fully_offloaded_and_verified(dsp_bundle: Path) -> None:
    manifest = verify_bundle(dsp_bundle)
    assert manifest.target == "s24-dsp" and manifest.htp_arch == "75" and not manifest.verify_skipped
    npu = {g.runtime.value: g for g in manifest.graphs if g.role.value == "npu"}
    assert set(npu) == {"onnxruntime-qnn", "litert-npu"}
    qnn = npu["onnxruntime-qnn"]
    assert qnn.accuracy_psnr_y_db is not None and qnn.accuracy_psnr_y_db >= 30
    assert "HTP emulator" in qnn.accuracy_method
    assert context_binary_soc(dsp_bundle / qnn.context_binary) == "SM8650"
    assert set(op_names(dsp_bundle / npu["litert-npu"].file)) == {"DISPATCH_OP"}
    assert b"SM8650" in (dsp_bundle / npu["litert-npu"].file).read_bytes()
    spec = TileSpec.for_model(load_preset("tiny"))  # the tiny model's 32 px tiles, 8 px overlap
    assert manifest.tile_spec == spec.to_json_dict()
    assert manifest.example_plan_512 == plan_tiles(512, 512, spec).to_json_dict()  # replayable
    assert len(manifest.example_plan_512["tiles"]) == 21 * 21
    report = (dsp_bundle / "report.md").read_text()
    assert "HTP emulator" in report and "QNN" in report
    # the app's CPU step: float graphs (ONNX opset 17 with fast InstanceNormalization, and LiteRT for an
    # app without ONNX Runtime), not the quantized ones
    fallbacks = {g.runtime.value: g for g in manifest.graphs if g.role.value == "fallback"}
    assert set(fallbacks) == {"onnxruntime-cpu", "litert-cpu"}
    for fallback in fallbacks.values():
        assert fallback.precision.value == "fp32" and fallback.qnn_sdk_version is None
        assert fallback.accuracy_psnr_y_db is not None and fallback.accuracy_psnr_y_db >= 60
    opsets = {
        o.domain: o.version for o in onnx.load(dsp_bundle / fallbacks["onnxruntime-cpu"].file).opset_import
    }
    assert opsets.get("", opsets.get("ai.onnx")) == 17
    # each NPU graph records its QNN: the EPContext one loads on the app's runtime, LiteRT's is 2.50.40
    check_loads_on_app(qnn.qnn_sdk_version, "the EPContext graph")
    assert npu["litert-npu"].qnn_sdk_version == LITERT_QNN_SDK
    assert manifest.compiler.qnn_sdk_version == LITERT_QNN_SDK  # the newest, for 1.0 readers


def test_manifest_schema_round_trip(dsp_bundle: Path) -> None:
    data = json.loads((dsp_bundle / "manifest.json").read_text())
    assert data["schema_version"].startswith("1.")
    assert read_manifest(dsp_bundle) == verify_bundle(dsp_bundle)
    for g in data["graphs"]:
        assert g["inputs"][0]["shape"] == [1, 32, 32, 3] and g["inputs"][0]["layout"] == "NHWC"
        assert g["outputs"][0]["shape"] == [1, 128, 128, 3]


def test_host_runner_matches_torch_with_float_graphs(
    tmp_path: Path, cpu_bundle: Path, tiny_ckpt: Path
) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((45, 70, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    outs = {}
    for name, extra in (
        ("torch", ["-c", tiny_ckpt, "--tile", "32", "--overlap", "8"]),
        ("onnx", ["--bundle", cpu_bundle, "--runtime", "onnx"]),
        ("litert", ["--bundle", cpu_bundle, "--runtime", "litert"]),
    ):
        result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / f"{name}.png", *extra)
        assert result.exit_code == 0, result.output
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png")).astype(int)
    assert outs["torch"].shape == (180, 280, 3)
    # 8-bit outputs: a float difference below 1e-3 can flip at most one rounding step
    assert np.abs(outs["onnx"] - outs["torch"]).max() <= 1
    assert np.abs(outs["litert"] - outs["torch"]).max() <= 1


def test_host_runner_float_tile_within_1e3(cpu_bundle: Path, tiny_ckpt: Path) -> None:
    from toolchain.deploy.host_runner import open_bundle_runner

    run, spec = open_bundle_runner(cpu_bundle, "onnx")
    tile = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    run.start_image(plan_tiles(32, 32, spec))
    got = run(tile, plan_tiles(32, 32, spec).tiles)
    with torch.inference_mode():
        want = TileGraph(EdgeSDSR.from_pretrained(tiny_ckpt))(torch.from_numpy(tile)).numpy()
    assert np.abs(got - want).max() < 1e-3


def test_exynos_and_s25_bundles(tmp_path: Path, tiny_ckpt: Path) -> None:
    result = invoke("export", "--target", "s24-exynos", "-c", tiny_ckpt, "-o", tmp_path / "exy")
    assert result.exit_code == 0, result.output
    assert "no offline compiler" in result.output
    manifest = verify_bundle(tmp_path / "exy")
    assert [(g.runtime.value, g.role.value) for g in manifest.graphs] == [
        ("litert-gpu", "fallback"),
        ("onnxruntime-cpu", "fallback"),  # the float CPU fallback
    ]
    assert "Exynos" in manifest.note
    result = invoke("export", "--target", "s25-dsp", "-c", tiny_ckpt, "-o", tmp_path / "s25", "--skip-verify")
    assert result.exit_code == 0, result.output
    manifest = verify_bundle(tmp_path / "s25")
    assert manifest.verify_skipped and manifest.htp_arch == "79"
    qnn = next(g for g in manifest.graphs if g.runtime.value == "onnxruntime-qnn")
    assert qnn.accuracy_psnr_y_db is None
    assert context_binary_soc(tmp_path / "s25" / qnn.context_binary) == "SM8750"


def test_gate_fails_on_broken_quantization(tmp_path: Path, tiny_ckpt: Path, monkeypatch) -> None:
    import toolchain.deploy.export as export_module

    real = export_module.cut_tiles

    def dark_calibration(folder: Path, tile: int, count: int, seed: int) -> list[np.ndarray]:
        tiles = real(folder, tile, count, seed)
        return [t * 0.01 for t in tiles] if seed == 0 else tiles  # calibrate on near-black tiles

    monkeypatch.setattr(export_module, "cut_tiles", dark_calibration)
    out = tmp_path / "broken"
    result = invoke("export", "--target", "s24-dsp", "-c", tiny_ckpt, "-o", out, "--precision", "a8w8")
    one_line_error(result, "below --min-psnr")
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_export_errors(tmp_path: Path, tiny_ckpt: Path, cpu_bundle: Path, monkeypatch) -> None:
    one_line_error(invoke("export", "--target", "pixel9"), "unknown target", "s24-dsp")
    one_line_error(
        invoke("export", "--target", "s24-exynos", "--precision", "a16w8", "-c", tiny_ckpt), "a16w8"
    )
    one_line_error(invoke("export", "-c", tmp_path / "missing"), "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(
        invoke("export", "-c", tiny_ckpt, "--calibration", empty, "-o", tmp_path / "x"), "calibration"
    )
    one_line_error(invoke("export", "--target", "cpu", "-c", tiny_ckpt, "-o", cpu_bundle), "--force")
    # a phone's float ONNX graph is its CPU fallback, not something for AI Hub to compile for the NPU
    result = invoke(
        "export", "--target", "s24-exynos", "-c", tiny_ckpt, "--via", "aihub", "-o", tmp_path / "g"
    )
    one_line_error(result, "--via aihub", "s24-exynos")
    assert not (tmp_path / "g").exists()
    litert_only = ExportOptions(
        dataclasses.replace(get_target("s24-exynos"), artifacts=(Artifact.LITERT,)),
        Precision.FP16,
        graphs=GraphSet.QNN,
    )
    with pytest.raises(ToolchainError, match="has no qnn graphs"):
        _selected_artifacts(litert_only)
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime_qnn", None)
    one_line_error(invoke("export", "-c", tiny_ckpt, "-o", tmp_path / "noqnn"), "onnxruntime-qnn")
    assert not (tmp_path / "noqnn").exists()


def test_via_aihub_is_an_export_route_recorded_in_the_report(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch
) -> None:
    import toolchain.deploy.aihub as aihub

    calls: list[tuple[str, bool, str, dict]] = []

    def fake_profile(
        model_path: Path, runtime: str, input_spec: dict, device_name: str, progress=None
    ) -> aihub.AihubProfile:
        calls.append((model_path.name, model_path.is_file(), runtime, input_spec))
        return aihub.AihubProfile(device_name, runtime, "jc123", "jp456", 2.5, {"NPU": 7, "CPU": 1})

    monkeypatch.setattr(aihub, "check_aihub_ready", lambda: None)
    monkeypatch.setattr(aihub, "profile_on_aihub", fake_profile)
    out = tmp_path / "hub"
    args = ("--target", "cpu", "--graphs", "qnn", "--skip-verify", "--via", "aihub")
    result = invoke("export", *args, "-c", tiny_ckpt, "-o", out)
    assert result.exit_code == 0, result.output
    manifest = verify_bundle(out)
    [(name, existed, runtime, spec)] = calls
    assert existed and runtime == "onnx" and [f"graphs/{name}"] == [g.file for g in manifest.graphs]
    assert spec == {"lr_tile": ((1, 32, 32, 3), "float32")}
    report = (out / "report.md").read_text()
    assert "compile job jc123, profile job jp456" in report and "2.50 ms per tile" in report
    assert "NPU 7, CPU 1" in report
    assert "as 441 tiles" in result.output  # 512x512 in the tiny model's 32 px tiles, 8 px overlap


def test_via_aihub_profiles_on_the_phone_of_the_target(tmp_path: Path, tiny_ckpt: Path, fake_hub) -> None:
    """Issue 27 item 7: `--via aihub` on s25-dsp asks AI Hub for its S25, not for an S24."""
    fake = fake_hub()
    out = tmp_path / "s25"
    args = ("--target", "s25-dsp", "--graphs", "qnn", "--skip-verify", "--via", "aihub")
    result = invoke("export", *args, "-c", tiny_ckpt, "-o", out)
    assert result.exit_code == 0, result.output
    assert [d.name for d in fake.compile_pb.devices.devices] == ["Samsung Galaxy S25 (Family)"]
    assert fake.uploads == [(Path(verify_bundle(out).graphs[0].file).name, fake.pb.MODEL_TYPE_ONNX)]
    assert "Qualcomm AI Hub (Samsung Galaxy S25 (Family), onnx runtime)" in (out / "report.md").read_text()


def test_tampered_bundle_is_refused(tmp_path: Path, cpu_bundle: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(cpu_bundle, bundle)
    graph = next((bundle / "graphs").glob("*.onnx"))
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    one_line_error(invoke("verify-bundle", bundle), "sha256 mismatch")
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    one_line_error(
        invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--bundle", bundle), "sha256"
    )
    assert not (tmp_path / "o.png").exists()


def test_the_default_out_is_where_bench_and_the_app_build_look(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --out the bundle lands in exports/<model>-<target>-<precision>, the same rule that
    names DEFAULT_BUNDLE (exports/nano-s24-dsp-a16w8) for `toolchain bench` and android/tools."""
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "--target", "cpu", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    name = EdgeSDSR.from_pretrained(tiny_ckpt).config.name
    assert (tmp_path / default_bundle_dir(name, "cpu", "fp32") / "manifest.json").is_file()
    headline = default_bundle_dir("nano", "s24-dsp", "a16w8")
    assert headline == DEFAULT_BUNDLE == Path("exports/nano-s24-dsp-a16w8")


def test_a_preset_export_names_its_graph_files_by_its_model_id(tmp_path: Path) -> None:
    """Issue 27, item 6: one name (deploy/targets.model_id) in the manifest and in the graph file names."""
    out = tmp_path / "preset"
    result = invoke("export", "--target", "cpu", "--preset", "tiny", "-o", out, "--graphs", "all")
    assert result.exit_code == 0, result.output
    manifest = verify_bundle(out)
    assert manifest.model_id == model_id("tiny-random-init")
    assert all(Path(g.file).name.startswith(f"{manifest.model_id}-") for g in manifest.graphs)
