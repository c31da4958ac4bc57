"""The QNN pairing (toolchain/deploy/qnn_pairing.py): versions, the app's runtime and the catalog agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from toolchain.deploy.qnn_pairing import (
    APP_QNN_RUNTIME,
    check_loads_on_app,
    packaged_qnn_version,
    parse_qnn_version,
)
from toolchain.errors import ToolchainError

CATALOG = Path(__file__).resolve().parents[1] / "android" / "gradle" / "libs.versions.toml"


def test_versions_parse_like_the_app_does() -> None:
    assert parse_qnn_version("2.50") == (2, 50, 0)
    assert parse_qnn_version("2.49.40") == (2, 49, 40)
    assert parse_qnn_version("v2.49.40.260812120000") == (2, 49, 40)
    for bad in ("", "two", "2", "2.x.1"):
        with pytest.raises(ValueError, match="not a QNN version"):
            parse_qnn_version(bad)


def test_the_app_runtime_is_the_catalogs_qnn_runtime() -> None:
    versions = tomllib.loads(CATALOG.read_text(encoding="utf-8"))["versions"]
    assert versions["qnnRuntime"] == APP_QNN_RUNTIME


def test_a_binary_newer_than_the_app_runtime_is_refused_naming_both_versions() -> None:
    check_loads_on_app("v2.49.40.260812120000", "the NPU graph")
    check_loads_on_app(APP_QNN_RUNTIME, "the NPU graph")
    with pytest.raises(ToolchainError) as err:
        check_loads_on_app("v2.51.0.260929181845", "the SM8650 NPU graph")
    message = str(err.value)
    assert (
        "2.51.0" in message and APP_QNN_RUNTIME in message and "pip install onnxruntime-qnn==2.5.0" in message
    )


def test_the_installed_plugin_compiles_for_the_app() -> None:
    """constraints.txt pins the onnxruntime-qnn whose QNN the app's runtime loads."""
    qnn = pytest.importorskip("onnxruntime_qnn")
    version = packaged_qnn_version((Path(qnn.__file__).parent / "build_and_package_info.py").read_text())
    assert version is not None
    check_loads_on_app(version, "the installed onnxruntime-qnn")
