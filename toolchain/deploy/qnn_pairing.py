"""Which QNN compiles each NPU graph, and the phone runtime it has to load on.

A QNN context binary loads only on a QNN runtime at least as new as the QNN that compiled it
(qualcomm/ai-hub-apps#148). The app ships Qualcomm's ``com.qualcomm.qti:qnn-runtime`` AAR from
Maven Central, whose newest published version is :data:`APP_QNN_RUNTIME` (the ``qnnRuntime`` of
android/gradle/libs.versions.toml; tests/test_android_contract.py checks they agree). So:

- the ONNX Runtime EPContext route compiles with the installed ``onnxruntime-qnn`` plugin, pinned
  in constraints.txt to 2.5.0 (QNN 2.49.40, context blob format 4.0), older than the app's runtime;
  :func:`check_loads_on_app` refuses an export whose binary the app could not load;
- the LiteRT AOT route needs QNN >= 2.50: LiteRT 2.3.0's Qualcomm compiler plugin checks QNN core
  API 2.39 and refuses 2.49's libraries. Its x86 libraries come from the onnxruntime-qnn
  :data:`LITERT_QNN_WHEEL_VERSION` wheel (QNN :data:`LITERT_QNN_SDK`), fetched once into the
  export's QNN library cache (toolchain/deploy/litert.py), never installed.

Each NPU graph records the QNN that compiled it in the manifest (``graphs[].qnn_sdk_version``).
"""

from __future__ import annotations

import re

from toolchain.errors import ToolchainError

APP_QNN_RUNTIME = "2.50.0"
"""``com.qualcomm.qti:qnn-runtime`` in the app's version catalog: the QNN the phone runs."""

ORT_QNN_PIN = "onnxruntime-qnn==2.5.0"
"""What constraints.txt installs for the EPContext route (QNN 2.49.40)."""

LITERT_QNN_WHEEL_VERSION = "2.6.0"
"""The onnxruntime-qnn wheel whose x86 QNN libraries LiteRT's compiler plugin loads."""

LITERT_QNN_SDK = "2.50.40"
"""The QNN inside that wheel (its ``build_and_package_info.py``), checked when it is unpacked."""

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)?$")


def parse_qnn_version(text: str) -> tuple[int, int, int]:
    """``2.50``, ``2.49.40`` or ``v2.49.40.260812120000`` -> (major, minor, patch), build stamp ignored.

    The same grammar as the app's ``QnnVersion.parse`` (android/core Qnn.kt).
    """
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a QNN version: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def packaged_qnn_version(build_info: str) -> str | None:
    """The QNN an onnxruntime-qnn wheel carries: ``qnn_version`` of its ``build_and_package_info.py``."""
    found = re.search(r"qnn_version\s*=\s*'([^']+)'", build_info)
    return found.group(1) if found else None


def check_loads_on_app(compiler_version: str, graph: str) -> None:
    """Refuse a context binary that the app's QNN runtime (:data:`APP_QNN_RUNTIME`) would not load."""
    if parse_qnn_version(compiler_version) > parse_qnn_version(APP_QNN_RUNTIME):
        raise ToolchainError(
            f"{graph} was compiled with QNN {compiler_version}, newer than the app's QNN runtime "
            f"{APP_QNN_RUNTIME} (qnn-runtime in android/gradle/libs.versions.toml): no phone would load it; "
            f"install the pinned plugin: pip install {ORT_QNN_PIN}"
        )
