"""Golden vectors for the Android app's Kotlin core (tests/golden/android/), written from the toolchain.

The Kotlin JUnit tests (android/core, android/ort) read these files and must agree exactly: tile
plans and blend windows bit for bit in float32, pixel conversion, the band assembly of a
deterministic fake runner, a small bundle whose manifest must parse (written by
toolchain/deploy/manifest.py) and manifests/bundles that must be refused, each with the reason.

By default the files are compared with what the toolchain computes now; regenerate on purpose
with ``UPDATE_GOLDEN=1 pytest tests/test_android_golden.py`` and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from toolchain.configio import dumps_compact
from toolchain.deploy.bundle import file_entry, verify_bundle, write_manifest
from toolchain.deploy.host_runner import _Codec, dequantize, open_bundle_runner, quantize
from toolchain.deploy.manifest import (
    IO_DTYPES,
    LAYOUTS,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    Compiler,
    GraphFile,
    GraphRole,
    IOTensor,
    Manifest,
    QuantParams,
    Runtime,
    Toolchain,
    example_plan,
    manifest_from_dict,
    read_manifest,
)
from toolchain.deploy.qnn_pairing import APP_QNN_RUNTIME
from toolchain.deploy.targets import DEFAULT_BUNDLE, Artifact, Precision
from toolchain.errors import ToolchainError
from toolchain.imageio import MAX_INPUT_PIXELS
from toolchain.tiling import PadMode, TileSpec, _axis_window, blend_window, plan_tiles, ramp, upscale_tiled

GOLDEN = Path(__file__).parent / "golden" / "android"
BUNDLE = GOLDEN / "bundle"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
BUNDLE_SPEC = TileSpec(tile=16, overlap=4, scale=4)
U8 = QuantParams(scale=1 / 255, zero_point=0, dtype="uint8")
GOLDEN_QNN = "v2.49.40.260812120000"  # the form onnxruntime-qnn 2.5.0 writes into the EPContext model
NPU_PLACEHOLDER = (
    b"placeholder: the golden bundle's manifest lists an NPU graph; real EPContext models and QNN "
    b"context binaries come from `toolchain export` and only run on the phone\n"
)


def f32_list(values: np.ndarray) -> list[float]:
    """float32 values as JSON numbers that parse back to the same float32 exactly."""
    return [float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def check_golden(name: str, data: Any) -> None:
    """Write ``name`` under UPDATE_GOLDEN=1, otherwise require the committed file to equal ``data``."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps_compact(data) + "\n", encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert json.loads(path.read_text(encoding="utf-8")) == data, f"{name} differs; UPDATE_GOLDEN=1 to rewrite"


# --------------------------------------------------------------------------- tiling

WINDOW_SPECS = {
    "default": TileSpec(),
    "tiny_reflect": TileSpec(tile=8, overlap=2, scale=2, pad_mode=PadMode.REFLECT),
    "no_overlap": TileSpec(tile=8, overlap=0, scale=3),
    "half_overlap": TileSpec(tile=6, overlap=3, scale=1),
}
PLAN_SIZES = [(200, 300), (1, 1), (129, 128), (37, 50), (8, 8), (9, 100)]


def test_tiling_golden() -> None:
    plans, windows = [], []
    for name, spec in WINDOW_SPECS.items():
        for height, width in PLAN_SIZES:
            plans.append({"spec_name": name, "plan": plan_tiles(height, width, spec).to_json_dict()})
        plan = plan_tiles(300, 200, spec)
        size = spec.tile * spec.scale
        rng = np.random.default_rng(len(windows))
        for tile in (plan.tiles[0], plan.tiles[len(plan.tiles) // 2], plan.tiles[-1]):
            window = blend_window(plan, tile)
            points = rng.integers(0, size, size=(16, 2))
            windows.append(
                {
                    "spec_name": name,
                    "height": 300,
                    "width": 200,
                    "tile": [tile.row, tile.col],
                    "axis_y": f32_list(_axis_window(tile.row, plan.rows, spec)),
                    "axis_x": f32_list(_axis_window(tile.col, plan.cols, spec)),
                    "points": [[int(r), int(c), float(window[r, c])] for r, c in points],
                }
            )
    ramps = {str(n): f32_list(ramp(n)) for n in (1, 2, 3, 5, 8, 16, 31, 32, 64, 100, 128, 256)}
    specs = {name: spec.to_json_dict() for name, spec in WINDOW_SPECS.items()}
    check_golden("tiling.json", {"specs": specs, "plans": plans, "ramps": ramps, "windows": windows})


def test_pixels_golden() -> None:
    """uint8 -> float (v / 255 in float32) and float -> uint8 (clip(x*255+0.5) truncated)."""
    to_float = np.arange(256, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    edges = np.array([(k - 0.5) / 255 for k in range(257)], dtype=np.float32)
    tricky = np.concatenate(
        [
            edges,
            np.nextafter(edges, np.float32(-1)),
            np.nextafter(edges, np.float32(2)),
            np.array([-1.0, -1e-8, 0.0, 1.0, 1.0 + 1e-7, 2.0, 1e30, -1e30], dtype=np.float32),
        ]
    )
    to_byte = np.clip(tricky * 255.0 + 0.5, 0, 255).astype(np.uint8)
    check_golden(
        "pixels.json",
        {"byte_to_float": f32_list(to_float), "float_in": f32_list(tricky), "byte_out": to_byte.tolist()},
    )


def fake_runner(spec: TileSpec) -> Callable[[np.ndarray, list], np.ndarray]:
    """A deterministic stand-in for a graph: nearest x``scale``, * 0.9 + 0.05 + 0.001 * (x mod 7)."""
    size = spec.tile * spec.scale
    ripple = (np.arange(size) % 7).astype(np.float32) * np.float32(0.001)

    def run(tiles: np.ndarray, _tiles: list) -> np.ndarray:
        up = tiles.repeat(spec.scale, axis=1).repeat(spec.scale, axis=2)
        return up * np.float32(0.9) + np.float32(0.05) + ripple[None, None, :, None]

    return run


def test_assembly_golden() -> None:
    """The whole upscale_tiled path (pad, extract, blend, bands, uint8 rounding) on a fake runner."""
    cases = []
    for name, spec, (height, width) in (
        ("tiny_reflect", WINDOW_SPECS["tiny_reflect"], (13, 21)),
        ("replicate_scale3", TileSpec(tile=10, overlap=3, scale=3), (23, 11)),
        ("single_tile", TileSpec(tile=16, overlap=4, scale=2), (5, 9)),
    ):
        rng = np.random.default_rng(height * 1000 + width)
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        image = pixels.astype(np.float32) / np.float32(255.0)
        as_float = upscale_tiled(image, spec, fake_runner(spec), batch_size=3)
        as_bytes = upscale_tiled(image, spec, fake_runner(spec), batch_size=2, out_dtype=np.uint8)
        cases.append(
            {
                "name": name,
                "spec": spec.to_json_dict(),
                "height": height,
                "width": width,
                "rgb": pixels.ravel().tolist(),
                "out_float": f32_list(as_float),
                "out_bytes": as_bytes.ravel().tolist(),
            }
        )
    check_golden("assembly.json", {"cases": cases})


# --------------------------------------------------------------------------- bundle + manifests


def _tensors(dtype: str) -> tuple[IOTensor, IOTensor]:
    quant = U8 if dtype == "uint8" else None
    tile, out = BUNDLE_SPEC.tile, BUNDLE_SPEC.tile * BUNDLE_SPEC.scale
    return (
        IOTensor("lr_tile", (1, tile, tile, 3), dtype, "NHWC", (0.0, 1.0), quant),
        IOTensor("hr_tile", (1, out, out, 3), dtype, "NHWC", (0.0, 1.0), quant),
    )


def _graph(
    bundle: Path, file: str, artifact: str, precision: str, runtime: str, role: str, **kw: Any
) -> GraphFile:
    entry = file_entry(bundle, file)
    dtype = kw.pop("dtype", "float32")
    inputs, outputs = _tensors(dtype)
    return GraphFile(
        file=file,
        sha256=entry.sha256,
        size_bytes=entry.size_bytes,
        artifact=artifact,
        precision=precision,
        runtime=runtime,
        role=role,
        inputs=(inputs,),
        outputs=(outputs,),
        context_binary=kw.pop("context_binary", None),
        accuracy_psnr_y_db=kw.pop("psnr", None),
        accuracy_method=kw.pop("method", None),
        qnn_sdk_version=kw.pop("qnn", None),
    )


def build_bundle(bundle: Path) -> None:
    """A small s24-dsp-shaped bundle: placeholder NPU graph, float and uint8-I/O nearest ONNX graphs."""
    from test_manifest import nearest_graph

    shutil.rmtree(bundle, ignore_errors=True)
    nearest_graph(bundle / "graphs/nearest.onnx", BUNDLE_SPEC.tile)
    nearest_graph(bundle / "graphs/nearest-u8.onnx", BUNDLE_SPEC.tile, "uint8")
    (bundle / "graphs/nearest_ctx.onnx").write_bytes(NPU_PLACEHOLDER)
    (bundle / "graphs/nearest_ctx_qnn.bin").write_bytes(NPU_PLACEHOLDER)
    graphs = (
        _graph(
            bundle,
            "graphs/nearest_ctx.onnx",
            "qnn_epcontext",
            "a16w8",
            "onnxruntime-qnn",
            "npu",
            context_binary="graphs/nearest_ctx_qnn.bin",
            psnr=53.25,
            method="golden placeholder",
            qnn=GOLDEN_QNN,
        ),
        _graph(bundle, "graphs/nearest.onnx", "onnx", "fp32", "onnxruntime-cpu", "host-reference", psnr=99.0),
        _graph(
            bundle, "graphs/nearest-u8.onnx", "onnx", "a8w8", "onnxruntime-cpu", "fallback", dtype="uint8"
        ),
    )
    files = tuple(
        file_entry(bundle, name)
        for name in sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    )
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        model_id="edge-sd-sr-golden",
        preset="tiny",
        scale=BUNDLE_SPEC.scale,
        target="s24-dsp",
        soc="Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75",
        htp_arch="75",
        npu_soc_models=("SM8650",),
        note="golden test bundle for the Android core (tests/test_android_golden.py)",
        tile_spec=BUNDLE_SPEC.to_json_dict(),
        example_plan_512=example_plan(BUNDLE_SPEC),
        graphs=graphs,
        files=files,
        verify_skipped=False,
        accuracy_threshold_db=35.0,
        toolchain=Toolchain(version="0.1.0", git_commit=None),
        compiler=Compiler(
            qnn_sdk_version=GOLDEN_QNN,
            litert_version=None,
            onnxruntime_version="1.32.0",
            min_runtime_note=f"each NPU graph needs a QNN runtime >= its qnn_sdk_version ({GOLDEN_QNN})",
        ),
        created_utc="2026-11-29T08:00:00Z",
    )
    write_manifest(bundle, manifest)


_DELETE = object()
# name -> (key path into the valid manifest JSON, new value or _DELETE, kind, text the message must contain)
MANIFEST_CASES: dict[str, tuple[list[Any], Any, str, str]] = {
    "unknown_key": (["extra"], 1, "invalid", "unknown key 'extra'"),
    "missing_key": (["preset"], _DELETE, "invalid", "missing key 'preset'"),
    "wrong_type_str_for_int": (["scale"], "4", "invalid", "manifest.scale"),
    "wrong_type_bool_for_int": (["scale"], True, "invalid", "manifest.scale"),
    "null_for_str": (["model_id"], None, "invalid", "manifest.model_id"),
    "nested_wrong_type": (
        ["graphs", 1, "inputs", 0, "shape", 0],
        1.5,
        "invalid",
        "manifest.graphs[1].inputs[0].shape[0]",
    ),
    "nested_missing_key": (
        ["graphs", 2, "inputs", 0, "quant", "scale"],
        _DELETE,
        "invalid",
        "missing key 'scale'",
    ),
    "bad_enum": (["graphs", 0, "runtime"], "tpu", "invalid", "'tpu' is not one of"),
    "quant_out_of_range": (
        ["graphs", 2, "inputs", 0, "quant", "zero_point"],
        300,
        "invalid",
        "zero_point 300",
    ),
    "unknown_major_version": (["schema_version"], "2.0", "unsupported_schema", "2.0"),
    "bad_version_string": (["schema_version"], "one", "invalid", "schema_version"),
    "plan_does_not_match_spec": (["example_plan_512", "tiles", 1], [0, 13], "invalid", "example_plan_512"),
    "bad_tile_spec": (["tile_spec", "overlap"], 9, "invalid", "overlap must be <= tile/2"),
    "graph_hash_differs_from_files": (["graphs", 1, "sha256"], "0" * 64, "invalid", "sha256/size differ"),
    "context_binary_not_listed": (
        ["graphs", 0, "context_binary"],
        "graphs/other_qnn.bin",
        "invalid",
        "graphs/other_qnn.bin",
    ),
    "bad_created_utc": (["created_utc"], "yesterday", "invalid", "created_utc"),
    "bad_graph_qnn_version": (["graphs", 0, "qnn_sdk_version"], "two", "invalid", "not a QNN version"),
    "qnn_context_without_qnn_version": (
        ["graphs", 0, "qnn_sdk_version"],
        None,
        "invalid",
        "qnn_sdk_version must name",
    ),
}


def apply_edit(data: dict, path: list[Any], value: Any) -> None:
    """Set (or delete, for ``_DELETE``) the value at ``path`` in the manifest JSON ``data``."""
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


# name -> (change to the bundle folder, text the Kotlin message must contain)
BUNDLE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "flipped_byte": ({"flip_byte": ["graphs/nearest.onnx", 20]}, "graphs/nearest.onnx"),
    "missing_file": ({"delete": "graphs/nearest-u8.onnx"}, "graphs/nearest-u8.onnx"),
    "stray_file": ({"add": "graphs/extra.bin"}, "graphs/extra.bin"),
}


def _reason(folder: Path, check: Callable[[Path], Any]) -> str:
    with pytest.raises(ToolchainError) as excinfo:
        check(folder)
    return str(excinfo.value).replace(f"bundle {folder}: ", "")


def apply_bundle_change(folder: Path, change: dict[str, Any]) -> None:
    if "flip_byte" in change:
        name, offset = change["flip_byte"]
        data = bytearray((folder / name).read_bytes())
        data[offset] ^= 0xFF
        (folder / name).write_bytes(bytes(data))
    if "delete" in change:
        (folder / change["delete"]).unlink()
    if "add" in change:
        (folder / change["add"]).write_bytes(b"not in the manifest\n")


def test_bundle_and_manifest_golden(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    if UPDATE:
        build_bundle(BUNDLE)
    manifest = verify_bundle(BUNDLE)
    valid = json.loads((BUNDLE / MANIFEST_NAME).read_text(encoding="utf-8"))
    cases = []
    for name, (path, value, kind, mention) in MANIFEST_CASES.items():
        folder = tmp_path / name
        shutil.copytree(BUNDLE, folder)
        data = copy.deepcopy(valid)
        apply_edit(data, path, value)
        (folder / MANIFEST_NAME).write_text(json.dumps(data, indent=1), encoding="utf-8")
        reason = _reason(folder, read_manifest)
        assert mention in reason, f"{name}: {reason}"
        edit = {"path": path, "delete": True} if value is _DELETE else {"path": path, "value": value}
        cases.append({"name": name, "kind": kind, "must_mention": mention, "reason": reason, "edit": edit})
    tampered = []
    for name, (change, mention) in BUNDLE_CASES.items():
        folder = tmp_path / f"bundle-{name}"
        shutil.copytree(BUNDLE, folder)
        apply_bundle_change(folder, change)
        read_manifest(folder)  # the manifest itself is fine: only the files are wrong
        reason = _reason(folder, verify_bundle)
        assert mention in reason, f"{name}: {reason}"
        tampered.append({"name": name, "change": change, "must_mention": mention, "reason": reason})
    legacy = legacy_1_0(valid)
    (tmp_path / "legacy").mkdir()
    shutil.copytree(BUNDLE / "graphs", tmp_path / "legacy" / "graphs")
    (tmp_path / "legacy" / MANIFEST_NAME).write_text(json.dumps(legacy, indent=1), encoding="utf-8")
    legacy_manifest = verify_bundle(tmp_path / "legacy")
    legacy_graphs = [g.qnn_sdk_version for g in legacy_manifest.graphs]
    assert legacy_manifest.npu_soc_models == ()  # 1.0 named no SoC: no phone takes its NPU graphs
    assert legacy_graphs == [g.qnn_sdk_version for g in manifest.graphs]  # NPU graphs take the top-level one
    summary = {
        "target": manifest.target,
        "tile_spec": manifest.tile_spec,
        "graphs": [
            [g.file, g.artifact.value, g.runtime.value, g.role.value, g.qnn_sdk_version]
            for g in manifest.graphs
        ],
        "qnn_sdk_version": manifest.compiler.qnn_sdk_version,
        "npu_soc_models": list(manifest.npu_soc_models),
        "files": len(manifest.files),
    }
    check_golden(
        "manifests.json",
        {
            "valid_summary": summary,
            "refused": cases,
            "tampered": tampered,
            "legacy_1_0": {"manifest": legacy, "graph_qnn_sdk_versions": legacy_graphs},
        },
    )


MANIFEST_KINDS = {
    # name: (what manifest.json is, where a link points: "outside" or "inside" the bundle)
    "link_outside": ("link", "outside"),
    "link_inside": ("link", "inside"),
    "fifo": ("fifo", None),
    "folder": ("folder", None),
}


def make_manifest_kind(folder: Path, kind: str, link_to: str | None) -> None:
    """Turn ``folder``'s manifest.json into ``kind``; a link points at the real manifest, moved
    outside the bundle or to ``.manifest.json`` inside it (so reading through the link would succeed)."""
    manifest = folder / MANIFEST_NAME
    if kind == "link":
        real = folder.parent / "elsewhere.json" if link_to == "outside" else folder / ".manifest.json"
        manifest.rename(real)
        manifest.symlink_to(real)
        return
    manifest.unlink()
    if kind == "fifo":
        os.mkfifo(manifest)  # reading it would block until a writer comes
    else:
        manifest.mkdir()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs links and FIFOs (POSIX)")
def test_manifest_file_kinds_golden(tmp_path: Path) -> None:
    """Issue 26 item 6: manifest.json must be a regular file; a link (to anywhere), a FIFO or a folder
    is refused before it is read. Links and FIFOs cannot live in git, so the golden lists the cases
    and the reasons; the Kotlin test builds each one in a temporary folder and must give the reason."""
    cases = []
    for name, (kind, link_to) in MANIFEST_KINDS.items():
        folder = tmp_path / name / "bundle"
        shutil.copytree(BUNDLE, folder)
        make_manifest_kind(folder, kind, link_to)
        reason = _reason(folder, read_manifest)
        assert "a bundle is made of regular files" in reason, f"{name}: {reason}"
        cases.append({"name": name, "manifest": kind, "link_to": link_to, "reason": reason})
    check_golden("manifest_kinds.json", {"cases": cases})


def legacy_1_0(manifest: dict[str, Any]) -> dict[str, Any]:
    """The same manifest as schema 1.0 wrote it: no per-graph ``qnn_sdk_version``."""
    graphs = [{k: v for k, v in g.items() if k != "qnn_sdk_version"} for g in manifest["graphs"]]
    legacy = {k: v for k, v in manifest.items() if k != "npu_soc_models"}
    return {**legacy, "schema_version": "1.0", "graphs": graphs}


def test_ort_io_golden() -> None:
    """What the host runner feeds/reads for one tile: quantize/dequantize of the uint8 graph's I/O.

    The Kotlin OrtTileRunner must produce the same float32 output for the same input on the
    bundle's ONNX graphs (both are 4x nearest, so the output is the decoded LR tile repeated).
    """
    pytest.importorskip("onnxruntime")
    tile = BUNDLE_SPEC.tile
    rng = np.random.default_rng(7)
    x = rng.random((1, tile, tile, 3), dtype=np.float32)
    x.ravel()[:256] = (np.arange(256, dtype=np.float32) + np.float32(0.5)) / np.float32(255.0)  # ties
    x.ravel()[256:260] = np.array([-0.25, 1.5, 0.0, 1.0], dtype=np.float32)  # clipped by quantize
    expected = {}
    for graph in ("graphs/nearest.onnx", "graphs/nearest-u8.onnx"):
        runner, _ = open_bundle_runner(BUNDLE, "onnx", graph)
        out = runner(x, [])
        lr = out[0, :: BUNDLE_SPEC.scale, :: BUNDLE_SPEC.scale]
        np.testing.assert_array_equal(out[0], lr.repeat(4, axis=0).repeat(4, axis=1))
        expected[graph] = f32_list(lr)
    np.testing.assert_array_equal(
        np.asarray(expected["graphs/nearest-u8.onnx"], dtype=np.float32),
        dequantize(quantize(x, U8), U8).ravel(),
    )
    check_golden("ort_io.json", {"input": f32_list(x), "expected_lr": expected})


CODEC_CASES = {
    "nchw_float_signed_range": IOTensor("x", (1, 3, 4, 5), "float32", "NCHW", (-1.0, 1.0), None),
    "nhwc_int8": IOTensor("x", (1, 4, 5, 3), "int8", "NHWC", (0.0, 1.0), QuantParams(1 / 255, -128, "int8")),
    "nhwc_int16_signed_range": IOTensor(
        "x", (1, 4, 5, 3), "int16", "NHWC", (-1.0, 1.0), QuantParams(1 / 32767, 0, "int16")
    ),
    "nchw_uint8_offset_zero_point": IOTensor(
        "x", (1, 3, 4, 5), "uint8", "NCHW", (0.0, 1.0), QuantParams(0.0041, 7, "uint8")
    ),
}


def test_codec_golden() -> None:
    """The host runner's I/O codec (value range, layout, quantization) for layouts and dtypes the
    bundle graphs above do not use; the Kotlin TensorCodec must encode and decode identically."""
    rng = np.random.default_rng(11)
    cases = []
    for name, tensor in CODEC_CASES.items():
        x = rng.uniform(-0.1, 1.1, size=(1, 4, 5, 3)).astype(np.float32)
        x.ravel()[:8] = (np.arange(8, dtype=np.float32) + np.float32(0.5)) / np.float32(255.0)  # ties
        codec = _Codec(tensor)
        encoded = codec.encode(x)
        decoded = codec.decode(encoded)
        cases.append(
            {
                "name": name,
                "tensor": {
                    "shape": list(tensor.shape),
                    "dtype": tensor.dtype,
                    "layout": tensor.layout,
                    "value_range": list(tensor.value_range),
                    "quant": None
                    if tensor.quant is None
                    else {"scale": tensor.quant.scale, "zero_point": tensor.quant.zero_point},
                },
                "input": f32_list(x),
                "encoded": f32_list(encoded) if tensor.dtype == "float32" else encoded.ravel().tolist(),
                "decoded": f32_list(decoded),
            }
        )
    check_golden("codec.json", {"cases": cases})


def test_contract_golden() -> None:
    """Every value a manifest may carry, in one file the Kotlin core checks against its own enums."""
    check_golden(
        "contract.json",
        {
            "schema_version": SCHEMA_VERSION,
            "artifacts": [a.value for a in Artifact],
            "runtimes": [r.value for r in Runtime],
            "roles": [r.value for r in GraphRole],
            "precisions": [p.value for p in Precision],
            "layouts": list(LAYOUTS),
            "dtypes": list(IO_DTYPES),
            "pad_modes": [m.value for m in PadMode],
            "max_input_pixels": MAX_INPUT_PIXELS,
            "app_qnn_runtime": APP_QNN_RUNTIME,
        },
    )


def test_default_bundle_manifest_golden() -> None:
    """The manifest of a real `toolchain export --target s24-dsp` of the default, for the app's pairing test.

    The Kotlin core plans the default bundle on an SM8650 phone with the app's QNN runtime from this
    file (android/core FallbackTest). It is copied from the real export under UPDATE_GOLDEN=1; without
    that, when the export is present, its app-relevant fields must equal the committed copy's.
    """
    golden = GOLDEN / "default_bundle_manifest.json"
    exported = Path(__file__).resolve().parents[1] / DEFAULT_BUNDLE / MANIFEST_NAME
    if UPDATE and exported.is_file():
        shutil.copyfile(exported, golden)
    committed = json.loads(golden.read_text(encoding="utf-8"))
    assert manifest_from_dict(committed).npu_soc_models == ("SM8650",)
    if not exported.is_file():
        pytest.skip(f"{DEFAULT_BUNDLE} not exported here; the committed golden was checked alone")

    def app_view(manifest: dict[str, Any]) -> dict[str, Any]:
        keys = ("file", "artifact", "runtime", "role", "precision", "inputs", "outputs", "qnn_sdk_version")
        graphs = [{k: g[k] for k in keys} for g in manifest["graphs"]]
        for g in graphs:  # the build stamp of a QNN version differs between exports
            g["qnn_sdk_version"] = g["qnn_sdk_version"] and ".".join(g["qnn_sdk_version"].split(".")[:3])
        return {
            "schema_version": manifest["schema_version"],
            "model_id": manifest["model_id"],
            "target": manifest["target"],
            "npu_soc_models": manifest["npu_soc_models"],
            "tile_spec": manifest["tile_spec"],
            "graphs": graphs,
        }

    assert app_view(json.loads(exported.read_text(encoding="utf-8"))) == app_view(committed)
