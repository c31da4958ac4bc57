"""Bundle manifest schema, bundle verification, atomic bundle folders and the host tile runner.

Everything runs on a hand-built ONNX graph (4x nearest upscale, 16x16 -> 64x64 tiles),
so no model export is needed and each test takes milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from toolchain.deploy.bundle import (
    build_bundle_atomically,
    file_entry,
    verify_bundle,
    write_manifest,
)
from toolchain.deploy.host_runner import open_bundle_runner
from toolchain.deploy.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    Compiler,
    FileEntry,
    GraphFile,
    IOTensor,
    Manifest,
    QuantParams,
    Toolchain,
    example_plan,
    read_manifest,
)
from toolchain.errors import ToolchainError
from toolchain.hashing import sha256_file
from toolchain.imageio import save_image
from toolchain.provenance import git_commit
from toolchain.tiling import TileSpec
from toolchain.upscaler import upscale_file

SPEC = TileSpec(tile=16, overlap=4)
GRAPH = "graphs/nearest.onnx"
UINT8_QUANT = QuantParams(scale=1 / 255, zero_point=0, dtype="uint8")


def nearest_graph(path: Path, tile: int, dtype: str = "float32") -> None:
    """ONNX graph (1, tile, tile, 3) -> (1, 4 tile, 4 tile, 3), NHWC, 4x nearest-neighbour."""
    onnx = pytest.importorskip("onnx")  # the deploy extra
    from onnx import TensorProto, helper

    elem = {"float32": TensorProto.FLOAT, "uint8": TensorProto.UINT8}[dtype]
    nodes = [
        helper.make_node("Transpose", ["lr_tile"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Resize",
            ["x_nchw", "", "scales"],
            ["y_nchw"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
        helper.make_node("Transpose", ["y_nchw"], ["hr_tile"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "nearest4x",
        [helper.make_tensor_value_info("lr_tile", elem, [1, tile, tile, 3])],
        [helper.make_tensor_value_info("hr_tile", elem, [1, 4 * tile, 4 * tile, 3])],
        initializer=[helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 4.0, 4.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def io_tensors(tile: int, dtype: str = "float32") -> tuple[IOTensor, IOTensor]:
    quant = UINT8_QUANT if dtype == "uint8" else None
    return (
        IOTensor("lr_tile", (1, tile, tile, 3), dtype, "NHWC", (0.0, 1.0), quant),
        IOTensor("hr_tile", (1, 4 * tile, 4 * tile, 3), dtype, "NHWC", (0.0, 1.0), quant),
    )


def make_manifest(bundle: Path, graphs: list[tuple[str, str, str, str]], dtype: str = "float32") -> Manifest:
    """Manifest for files already in ``bundle``; ``graphs`` holds (file, artifact, runtime, role)."""
    files = tuple(
        file_entry(bundle, p.relative_to(bundle).as_posix())
        for p in sorted(bundle.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    )
    by_name = {f.file: f for f in files}
    inputs, outputs = io_tensors(SPEC.tile, dtype)
    graph_files = tuple(
        GraphFile(
            file=file,
            sha256=by_name[file].sha256,
            size_bytes=by_name[file].size_bytes,
            artifact=artifact,
            precision="fp32" if dtype == "float32" else "a8w8",
            runtime=runtime,
            role=role,
            inputs=(inputs,),
            outputs=(outputs,),
            context_binary=None,
            accuracy_psnr_y_db=99.5,
            accuracy_method="host ONNX Runtime vs torch on 2 tiles",
            qnn_sdk_version="2.49.40" if artifact == "qnn_epcontext" else None,
        )
        for file, artifact, runtime, role in graphs
    )
    return Manifest(
        schema_version=SCHEMA_VERSION,
        model_id="edge-sd-sr-test",
        preset="tiny",
        scale=SPEC.scale,
        target="cpu",
        soc="x86_64 / arm64 CPU",
        htp_arch=None,
        npu_soc_models=(),
        note="",
        tile_spec=SPEC.to_json_dict(),
        example_plan_512=example_plan(SPEC),
        graphs=graph_files,
        files=files,
        verify_skipped=False,
        accuracy_threshold_db=30.0,
        toolchain=Toolchain(version="0.1.0", git_commit=None),
        compiler=Compiler(
            qnn_sdk_version=None, litert_version=None, onnxruntime_version="1.32.0", min_runtime_note=""
        ),
        created_utc="2025-01-02T03:04:05Z",
    )


ONNX_CPU = (GRAPH, "onnx", "onnxruntime-cpu", "fallback")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A verified bundle with one float32 nearest-upscale ONNX graph."""
    path = tmp_path / "bundle"
    nearest_graph(path / GRAPH, SPEC.tile)
    write_manifest(path, make_manifest(path, [ONNX_CPU]))
    return path


def edit_manifest(bundle: Path, edit) -> None:
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    edit(data)
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))


def one_line_error(excinfo: pytest.ExceptionInfo[ToolchainError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- schema


def test_manifest_round_trip(bundle: Path) -> None:
    written = make_manifest(bundle, [ONNX_CPU])
    read = read_manifest(bundle)
    assert read == written
    plan = read.example_plan_512
    assert plan["rows"] == plan["cols"] == 43 and len(plan["tiles"]) == 43 * 43  # stride 12 over 512 px
    assert len(example_plan(TileSpec())["tiles"]) == 25  # the shipped 128/32 spec: 5x5 tiles
    assert read.parsed_tile_spec() == SPEC
    assert not list(bundle.glob(".*"))  # the atomic write left no temporary file (.manifest.*.tmp.json)


def test_quant_params_round_trip(tmp_path: Path) -> None:
    nearest_graph(tmp_path / GRAPH, SPEC.tile, "uint8")
    manifest = make_manifest(tmp_path, [ONNX_CPU], dtype="uint8")
    write_manifest(tmp_path, manifest)
    read = read_manifest(tmp_path)
    assert read == manifest
    assert read.graphs[0].inputs[0].quant == UINT8_QUANT


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["graphs"][0].update(extra=1), r"manifest\.graphs\[0\]: unknown key 'extra'"),
        (lambda d: d.update(colour="red"), r"manifest: unknown key 'colour'"),
        (
            lambda d: d["graphs"][0].update(size_bytes="12"),
            r"manifest\.graphs\[0\]\.size_bytes: expected int",
        ),
        (
            lambda d: d["graphs"][0].update(runtime="tpu"),
            r"manifest\.graphs\[0\]\.runtime: 'tpu' is not one of",
        ),
        (lambda d: d.pop("tile_spec"), r"missing key 'tile_spec'"),
        (lambda d: d["graphs"][0]["inputs"][0].pop("quant"), r"inputs\[0\]: missing key 'quant'"),
        (lambda d: d["tile_spec"].update(overlap=5), r"example_plan_512 does not match tile_spec"),
        (lambda d: d["files"].pop(), r"graph graphs/nearest\.onnx is not listed in files"),
    ],
)
def test_schema_errors_name_the_key(bundle: Path, edit, expected: str) -> None:
    edit_manifest(bundle, edit)
    with pytest.raises(ToolchainError) as excinfo:
        read_manifest(bundle)
    message = one_line_error(excinfo)
    assert re.search(expected, message), message
    assert str(bundle) in message and "toolchain export" in message


def test_unknown_major_version_is_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda d: d.update(schema_version="2.0"))
    with pytest.raises(ToolchainError) as excinfo:
        read_manifest(bundle)
    message = one_line_error(excinfo)
    assert "schema version 2.0 is not supported" in message and "1.x" in message


def test_newer_minor_version_is_read_when_keys_are_known(bundle: Path) -> None:
    edit_manifest(bundle, lambda d: d.update(schema_version="1.7"))
    assert read_manifest(bundle).schema_version == "1.7"
    edit_manifest(bundle, lambda d: d.update(added_in_1_7=True))
    with pytest.raises(ToolchainError, match="written by a newer toolchain"):
        read_manifest(bundle)


def test_missing_and_malformed_manifest(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(ToolchainError) as excinfo:
        read_manifest(tmp_path)
    assert "has no manifest.json" in one_line_error(excinfo)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ToolchainError) as excinfo:
        read_manifest(tmp_path)
    assert "not valid JSON (line 1" in one_line_error(excinfo)


def test_construction_checks_values() -> None:
    with pytest.raises(ValueError, match="zero_point 300 is outside"):
        QuantParams(scale=0.1, zero_point=300, dtype="uint8")
    with pytest.raises(ValueError, match="integer dtype uint8 but no quant"):
        IOTensor("x", (1, 4, 4, 3), "uint8", "NHWC", (0.0, 1.0), None)
    with pytest.raises(ValueError, match="normalised relative path"):
        FileEntry(file="../escape.bin", sha256="0" * 64, size_bytes=1)


# --------------------------------------------------------------------------- verify_bundle


def test_verify_bundle_passes_and_allows_report(bundle: Path) -> None:
    (bundle / "report.md").write_text("# export report\n")
    manifest = verify_bundle(bundle)
    assert manifest.graphs[0].sha256 == sha256_file(bundle / GRAPH)


def test_verify_bundle_detects_a_flipped_byte(bundle: Path) -> None:
    data = bytearray((bundle / GRAPH).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / GRAPH).write_bytes(bytes(data))
    with pytest.raises(ToolchainError) as excinfo:
        verify_bundle(bundle)
    message = one_line_error(excinfo)
    assert f"{GRAPH} sha256 mismatch (expected " in message and "re-export" in message


def test_verify_bundle_detects_size_change_and_missing_file(bundle: Path) -> None:
    with (bundle / GRAPH).open("ab") as fp:
        fp.write(b"\0")
    with pytest.raises(ToolchainError, match="size mismatch"):
        verify_bundle(bundle)
    (bundle / GRAPH).unlink()
    with pytest.raises(ToolchainError, match=f"{GRAPH} is missing"):
        verify_bundle(bundle)


def test_verify_bundle_reports_stray_files(bundle: Path) -> None:
    (bundle / "graphs" / "stray.bin").write_bytes(b"x")
    with pytest.raises(ToolchainError) as excinfo:
        verify_bundle(bundle)
    assert "unlisted file(s) graphs/stray.bin" in one_line_error(excinfo)


# --------------------------------------------------------------------------- atomic bundle folders


def test_build_bundle_atomically_commits_on_success(tmp_path: Path) -> None:
    final = tmp_path / "out" / "bundle"
    with build_bundle_atomically(final, force=False) as work:
        assert work.parent == final.parent and not final.exists()
        (work / "a.txt").write_text("new")
    assert (final / "a.txt").read_text() == "new"
    assert sorted(p.name for p in final.parent.iterdir()) == ["bundle"]


def test_build_bundle_atomically_cleans_up_on_exception(tmp_path: Path) -> None:
    final = tmp_path / "bundle"
    with pytest.raises(RuntimeError, match="boom"):
        with build_bundle_atomically(final, force=False) as work:
            (work / "half.onnx").write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_build_bundle_atomically_refuses_existing_dir_without_force(bundle: Path) -> None:
    before = sorted(p.relative_to(bundle) for p in bundle.rglob("*"))
    entered = False
    with pytest.raises(ToolchainError) as excinfo:
        with build_bundle_atomically(bundle, force=False):
            entered = True
    assert not entered
    assert one_line_error(excinfo) == f"{bundle} exists; pass --force to overwrite or choose another --out"
    assert sorted(p.relative_to(bundle) for p in bundle.rglob("*")) == before
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["bundle"]


def test_build_bundle_atomically_force_replaces_only_bundles(bundle: Path, tmp_path: Path) -> None:
    with build_bundle_atomically(bundle, force=True) as work:
        (work / "b.txt").write_text("replacement")
    assert [p.name for p in bundle.iterdir()] == ["b.txt"]
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["bundle"]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(ToolchainError, match="not a bundle"):
        with build_bundle_atomically(precious, force=True):
            pass
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_git_commit_never_raises() -> None:
    commit = git_commit()
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit)


# --------------------------------------------------------------------------- host runner


def nearest_upscale_via_bundle(bundle: Path, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Upscale a random 37x23 (HxW) image through the bundle; returns (output, expected)."""
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(37, 23, 3), dtype=np.uint8)
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    save_image(src, image)
    runner, spec = open_bundle_runner(bundle, "onnx")
    assert spec == SPEC
    width, height = upscale_file(src, dst, runner, spec, batch_size=4)  # 3x2 tiles: batches of 4 and 2
    assert (width, height) == (23 * 4, 37 * 4)
    from PIL import Image

    with Image.open(dst) as im:
        out = np.asarray(im.convert("RGB"))
    return out, image.repeat(4, axis=0).repeat(4, axis=1)


def test_host_runner_reproduces_nearest_upscale_exactly(bundle: Path, tmp_path: Path) -> None:
    out, expected = nearest_upscale_via_bundle(bundle, tmp_path)
    np.testing.assert_array_equal(out, expected)


def test_host_runner_quantizes_uint8_io(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    nearest_graph(bundle / GRAPH, SPEC.tile, "uint8")
    write_manifest(bundle, make_manifest(bundle, [ONNX_CPU], dtype="uint8"))
    out, expected = nearest_upscale_via_bundle(bundle, tmp_path)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.slow
def test_host_runner_litert_matches_nearest_upscale(bundle: Path, tmp_path: Path) -> None:
    litert_torch = pytest.importorskip("litert_torch")
    import torch
    import torch.nn.functional as F

    class Nearest4x(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x.permute(0, 3, 1, 2), scale_factor=4, mode="nearest").permute(0, 2, 3, 1)

    litert_torch.convert(Nearest4x().eval(), (torch.rand(1, SPEC.tile, SPEC.tile, 3),)).export(
        str(bundle / "graphs" / "nearest.tflite")
    )
    graphs = [("graphs/nearest.tflite", "litert", "litert-cpu", "fallback"), ONNX_CPU]
    write_manifest(bundle, make_manifest(bundle, graphs))
    runner, _ = open_bundle_runner(bundle, "litert")
    assert runner.graph.file == "graphs/nearest.tflite"
    tiles = np.random.default_rng(0).random((3, SPEC.tile, SPEC.tile, 3), dtype=np.float32)
    np.testing.assert_array_equal(runner(tiles, []), tiles.repeat(4, axis=1).repeat(4, axis=2))


def test_host_runner_refuses_tampered_bundle(bundle: Path) -> None:
    (bundle / "stray.txt").write_text("x")
    with pytest.raises(ToolchainError, match="unlisted file"):
        open_bundle_runner(bundle, "onnx")


def test_host_runner_explains_npu_only_graphs(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "graphs").mkdir(parents=True)
    (bundle / "graphs" / "model_ctx.onnx").write_bytes(b"EPContext stand-in")
    nearest_graph(bundle / "graphs" / "reference.onnx", SPEC.tile)
    graphs = [
        ("graphs/model_ctx.onnx", "qnn_epcontext", "onnxruntime-qnn", "npu"),
        ("graphs/reference.onnx", "onnx", "onnxruntime-cpu", "host-reference"),
    ]
    write_manifest(bundle, make_manifest(bundle, graphs))
    runner, _ = open_bundle_runner(bundle, "onnx")  # picks the host reference
    assert runner.graph.file == "graphs/reference.onnx"

    with pytest.raises(ToolchainError) as excinfo:
        open_bundle_runner(bundle, "onnx", graph_file="graphs/model_ctx.onnx")
    message = one_line_error(excinfo)
    assert "model_ctx.onnx (qnn_epcontext) holds NPU code and cannot run on the host CPU" in message
    assert "offers --runtime onnx" in message

    with pytest.raises(ToolchainError) as excinfo:
        open_bundle_runner(bundle, "litert")
    message = one_line_error(excinfo)
    assert (
        "cannot run on the host CPU with --runtime litert" in message and "offers --runtime onnx" in message
    )


def test_host_runner_checks_graph_against_manifest(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    nearest_graph(bundle / GRAPH, 8)  # graph takes 8x8 tiles, manifest says 16x16
    write_manifest(bundle, make_manifest(bundle, [ONNX_CPU]))
    with pytest.raises(ToolchainError) as excinfo:
        open_bundle_runner(bundle, "onnx")
    assert "has shape 1x8x8x3, manifest says 1x16x16x3" in one_line_error(excinfo)


def test_host_runner_checks_tile_spec_against_io(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    nearest_graph(bundle / GRAPH, SPEC.tile)
    manifest = make_manifest(bundle, [ONNX_CPU])
    inputs, outputs = io_tensors(32)
    graph = dataclasses.replace(manifest.graphs[0], inputs=(inputs,), outputs=(outputs,))
    write_manifest(bundle, dataclasses.replace(manifest, graphs=(graph,)))
    with pytest.raises(ToolchainError) as excinfo:
        open_bundle_runner(bundle, "onnx")
    assert "is 32x32 but the tile spec (tile 16, scale 4) needs 16x16" in one_line_error(excinfo)


def test_tile_graph_io_is_described_by_the_manifest_type() -> None:
    """One graph I/O type: the export's io_specs are IOTensor, sized from the model's lr_tile."""
    from toolchain.deploy.graph import io_specs
    from toolchain.model.config import load_preset
    from toolchain.model.edge_sdsr import EdgeSDSR

    inp, out = io_specs(EdgeSDSR(load_preset("tiny")))
    assert inp == IOTensor("lr_tile", (1, 32, 32, 3), "float32", "NHWC", (0.0, 1.0), None)
    assert out == IOTensor("hr_tile", (1, 128, 128, 3), "float32", "NHWC", (0.0, 1.0), None)


def test_a_manifest_that_is_a_link_or_a_fifo_is_refused_at_once(bundle: Path, tmp_path: Path) -> None:
    """Issue 26, item 6: the manifest is held to the graphs' rule, a regular file inside the bundle."""
    import os

    outside = tmp_path / "elsewhere.json"
    (bundle / MANIFEST_NAME).rename(outside)
    (bundle / MANIFEST_NAME).symlink_to(outside)
    with pytest.raises(ToolchainError, match=r"manifest\.json is a link; a bundle is made of regular files"):
        verify_bundle(bundle)
    (bundle / MANIFEST_NAME).unlink()
    os.mkfifo(bundle / MANIFEST_NAME)  # reading it would block forever
    with pytest.raises(ToolchainError, match=r"manifest\.json is not a regular file"):
        read_manifest(bundle)
