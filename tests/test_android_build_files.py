"""The Gradle files a user builds with agree with what android/tools builds here (issue 23, item 4).

Gradle cannot run on our machines, so android/tools/jvm.py and apk.py build the same sources with the
same catalog. These checks keep the two descriptions from drifting: the SDK levels, every `libs.`
alias the Gradle files use, and the libraries and module dependencies each tool builds with.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ANDROID = Path(__file__).resolve().parents[1] / "android"
sys.path.insert(0, str(ANDROID / "tools"))

apk = pytest.importorskip("apk")
jvm = pytest.importorskip("jvm")

CATALOG = tomllib.loads((ANDROID / "gradle" / "libs.versions.toml").read_text(encoding="utf-8"))
PLUGIN_RE = re.compile(r"alias\(libs\.plugins\.([\w.]+)\)")


def gradle(module: str) -> str:
    return (ANDROID / module / "build.gradle.kts").read_text(encoding="utf-8")


def dependencies(module: str) -> dict[str, set[str]]:
    """configuration -> catalog aliases (dots as dashes) and ':module' project dependencies."""
    found: dict[str, set[str]] = {}
    text = gradle(module)
    for line in text[text.index("dependencies {") :].splitlines():
        if match := re.search(r"\b(\w+)\(project\(\"(:\w+)\"\)\)", line):
            found.setdefault(match.group(1), set()).add(match.group(2))
        elif match := re.search(r"\b(\w+)\(libs\.([\w.]+?)(?:\.asProvider\(\))?\)", line):
            found.setdefault(match.group(1), set()).add(match.group(2).replace(".", "-"))
    return found


def test_sdk_levels_match_the_apk_pipeline() -> None:
    app = gradle("app")
    assert f"minSdk = {apk.MIN_SDK}" in app
    assert f"targetSdk = {apk.TARGET_SDK}" in app


@pytest.mark.parametrize("module", ["core", "ort", "app"])
def test_every_gradle_alias_is_in_the_catalog(module: str) -> None:
    for configuration, aliases in dependencies(module).items():
        for alias in aliases:
            if not alias.startswith(":"):
                assert alias in CATALOG["libraries"], f"{module} {configuration}({alias})"
    for plugin in PLUGIN_RE.findall(gradle(module)):
        assert plugin.replace(".", "-") in CATALOG["plugins"], f"{module} plugin {plugin}"


@pytest.mark.parametrize("module", ["core", "ort"])
def test_jvm_tool_builds_a_module_with_its_gradle_dependencies(module: str) -> None:
    built = jvm.MODULES[module]
    deps = dependencies(module)
    compiled = deps.get("implementation", set()) | deps.get("compileOnly", set())
    # kotlin-stdlib comes with Gradle's Kotlin plugin; jvm.py names it explicitly
    assert set(built.libraries) - {"kotlin-stdlib"} == {a for a in compiled if not a.startswith(":")}
    assert {f":{m}" for m in built.modules} == {a for a in compiled if a.startswith(":")}


def test_the_apk_carries_the_apps_gradle_libraries() -> None:
    app = dependencies("app")["implementation"]
    # tflite-api is tflite's own dependency (apk.py fetches AARs without their POMs, so it names it)
    assert set(apk.MAVEN_AARS) - {"tflite-api"} <= app
    assert set(apk.RUNTIME_LIBRARIES) - {"kotlin-stdlib"} <= app
    assert {"onnxruntime-android", "onnxruntime-android-qnn-plugin", "qnn-runtime"} <= app
