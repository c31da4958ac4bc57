"""Small helpers shared by the tests (import as `from helpers import ...`): deploy graphs, tiny
bundles, and a Qualcomm AI Hub whose REST layer is faked (the ``fake_hub`` fixture of conftest.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from toolchain.deploy.bundle import write_manifest
from toolchain.deploy.graph import TileGraph
from toolchain.deploy.targets import AIHUB_S24, AIHUB_S25, TARGETS
from toolchain.model.config import LRSkip, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR


def random_tiles(seed: int, count: int, side: int) -> list[np.ndarray]:
    """``count`` NHWC float32 tiles (1, side, side, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    return [rng.random((1, side, side, 3), dtype=np.float32) for _ in range(count)]


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two arrays in [0, 1] (all channels)."""
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def seeded_tiny_graph() -> TileGraph:
    """The tiny preset with the bicubic LR skip, weights from seed 0 (global RNG left untouched).

    The skip's zero-initialised residual output layer gets random weights too, so every part of
    the graph (skip and latent path) shapes the output the deploy tests compare.
    """
    config = dataclasses.replace(load_preset("tiny"), lr_skip=LRSkip.BICUBIC)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = EdgeSDSR(config)
        torch.nn.init.normal_(model.decoder.output_layer.weight, std=0.05)
    return TileGraph(model)


def tiny_npu_bundle(
    path: Path, npu_file: str, onnx_file: str, onnx_role: str, target: str = "s24-dsp"
) -> Path:
    """A verified bundle of ``target`` with two 16 px nearest-upscale ONNX graphs standing in for its
    NPU graph (``npu_file``, role npu) and its ONNX CPU graph (``onnx_file``, role ``onnx_role``)."""
    from test_manifest import make_manifest, nearest_graph

    nearest_graph(path / npu_file, 16)
    nearest_graph(path / onnx_file, 16)
    manifest = make_manifest(
        path,
        [
            (npu_file, "qnn_epcontext", "onnxruntime-qnn", "npu"),
            (onnx_file, "onnx", "onnxruntime-cpu", onnx_role),
        ],
    )
    write_manifest(path, dataclasses.replace(manifest, target=target, soc=TARGETS[target].soc))
    return path


# --- Qualcomm AI Hub, offline -------------------------------------------------------------------

AIHUB_CHIPSETS = {AIHUB_S24: "qualcomm-snapdragon-8gen3", AIHUB_S25: "qualcomm-snapdragon-8-elite"}


def write_aihub_ini(path: Path, api_url: str | None, token: str = "test-token") -> Path:
    """A qai-hub client.ini at ``path`` (``api_url`` None: the client's default host)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[api]", f"api_token = {token}", "web_url = https://workbench.example", "verbose = True"]
    if api_url is not None:
        lines.append(f"api_url = {api_url}")
    path.write_text("\n".join(lines) + "\n")
    return path


class FakeHub:
    """Answers the public_rest_api calls that upload -> compile -> profile -> download_profile makes.

    It knows the AI Hub phones of the deployment targets (S24 and S25 families); any other device
    name is unknown to it, as to AI Hub.
    """

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
        self.device_name = AIHUB_S24  # the phone asked for (get_device_list)

    def device(self):
        return self.pb.Device(
            name=self.device_name,
            os="14",
            attributes=[
                "framework:tflite",
                "framework:onnx",
                "framework:qnn",
                f"chipset:{AIHUB_CHIPSETS[self.device_name]}",
            ],
        )

    def get_device_list(self, config, name="", os="", attributes=None, select=False):
        self.calls.append("get_device_list")
        known = name in AIHUB_CHIPSETS
        if known:
            self.device_name = name
        devices = [self.device()] if known else []
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
