"""Deployment targets as data: adding a phone is one entry here, not a new code path."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import ToolchainError


class Precision(enum.StrEnum):
    A16W8 = "a16w8"  # static int16 activations, int8 weights (NPU default)
    A8W8 = "a8w8"  # static int8 activations and weights
    FP16 = "fp16"
    FP32 = "fp32"


AIHUB_S24 = "Samsung Galaxy S24 (Family)"  # on AI Hub: Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75
AIHUB_S25 = "Samsung Galaxy S25 (Family)"  # on AI Hub: Snapdragon 8 Elite (SM8750), Hexagon HTP v79


class Artifact(enum.StrEnum):
    """Kinds of graph a target ships."""

    QNN_EPCONTEXT = "qnn_epcontext"  # ONNX Runtime QNN EPContext model + context binary
    LITERT_AOT = "litert_aot"  # .tflite with one DISPATCH_OP (QNN context binary inside)
    LITERT = "litert"  # plain .tflite for LiteRT CPU (XNNPACK) / GPU
    ONNX = "onnx"  # float ONNX for ONNX Runtime CPU: a phone's CPU fallback, the cpu target's graph


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    soc: str
    artifacts: tuple[Artifact, ...]
    precisions: tuple[Precision, ...]  # the first is the default
    qnn_soc_model: str | None = None  # ONNX Runtime QNN "soc_model"
    htp_arch: str | None = None  # ONNX Runtime QNN "htp_arch"
    litert_soc: str | None = None  # ai_edge_litert SocModel member name
    note: str = ""
    on_phone: bool = True  # False for the host: its LiteRT graph is a reference, not the app's fallback
    aihub_device: str = AIHUB_S24  # the Qualcomm AI Hub phone `--via aihub` and `bench aihub` profile on

    @property
    def is_npu(self) -> bool:
        return self.qnn_soc_model is not None

    @property
    def npu_soc_models(self) -> tuple[str, ...]:
        """The phones' ``Build.SOC_MODEL`` values its NPU graphs run on (the manifest carries them)."""
        return (self.litert_soc,) if self.is_npu and self.litert_soc else ()

    def check_precision(self, precision: Precision) -> None:
        if precision not in self.precisions:
            valid = ", ".join(p.value for p in self.precisions)
            raise ToolchainError(f"target {self.name} does not support {precision.value}; use one of {valid}")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="s24-dsp",
            description="Galaxy S24 Ultra, and S24/S24+ in the US, China and Japan",
            soc="Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75",
            artifacts=(Artifact.QNN_EPCONTEXT, Artifact.LITERT_AOT, Artifact.LITERT, Artifact.ONNX),
            precisions=(Precision.A16W8, Precision.A8W8, Precision.FP16),
            qnn_soc_model="57",
            htp_arch="75",
            litert_soc="SM8650",
            aihub_device=AIHUB_S24,
        ),
        Target(
            name="s25-dsp",
            description="Galaxy S25 series",
            soc="Snapdragon 8 Elite (SM8750), Hexagon HTP v79",
            artifacts=(Artifact.QNN_EPCONTEXT, Artifact.LITERT_AOT, Artifact.LITERT, Artifact.ONNX),
            precisions=(Precision.A16W8, Precision.A8W8, Precision.FP16),
            qnn_soc_model="69",
            htp_arch="79",
            litert_soc="SM8750",
            aihub_device=AIHUB_S25,
        ),
        Target(
            name="s24-exynos",
            description="Galaxy S24/S24+ outside the US, China and Japan",
            soc="Exynos 2400",
            artifacts=(Artifact.LITERT, Artifact.ONNX),
            precisions=(Precision.FP16, Precision.A8W8),
            note=(
                "no offline compiler exists for the Exynos 2400 NPU: this bundle holds a LiteRT GPU "
                "graph (fp16) or a LiteRT CPU graph (a8w8, XNNPACK), and a float ONNX CPU fallback, "
                "not an NPU graph"
            ),
            aihub_device=AIHUB_S24,  # AI Hub's S24 is the Snapdragon one: it has no Exynos 2400 phone
        ),
        Target(
            name="cpu",
            description="host CPU (ONNX Runtime and LiteRT)",
            soc="x86_64 / arm64 CPU",
            artifacts=(Artifact.ONNX, Artifact.LITERT),
            precisions=(Precision.FP32, Precision.FP16, Precision.A8W8),
            on_phone=False,
            aihub_device=AIHUB_S24,  # the host graph profiled on the headline phone
        ),
    )
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ToolchainError(f"unknown target '{name}'; valid targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def model_id(model_name: str) -> str:
    """``edge-sd-sr-<model>``: the one name of a model in manifests, graph file names, reports and
    benchmark tables (``<model>`` is a preset name, or ``<preset>-random-init`` for an untrained one)."""
    return f"edge-sd-sr-{model_name}"


def default_bundle_dir(model_name: str, target: str, precision: str) -> Path:
    """``exports/<model>-<target>-<precision>``: where ``toolchain export`` writes when no ``--out``
    is given, and so where ``toolchain bench``, the app build and the parity check look."""
    return Path("exports") / f"{model_name}-{target}-{precision}"


DEFAULT_BUNDLE = default_bundle_dir("nano", "s24-dsp", Precision.A16W8.value)  # the headline bundle
