"""Run the gallery app's UI tests on the JVM with Robolectric (no emulator, no Gradle).

    python android/tools/robolectric.py                      # all tests in android/app/src/test/kotlin
    python android/tools/robolectric.py --update-screenshots # also copy the rendered PNGs to android/docs/

The app is compiled exactly as for the APK (android/tools/apk.py: same sources, catalog
versions, AAR classes); the tests (JUnit 4, Robolectric's runner) are compiled against the
Android framework jar (``android-all``, API 35) and run on Robolectric 4.18, which loads that
same jar from android/.cache/m2 (``-Dmaven.repo.local``) and instruments it at start-up
(Maven Central does not serve 4.18's pre-instrumented API 35 jar; its API 34 one fails in
4.18's own shadows). The app's manifest, compiled resources and assets (with the default
bundle) reach Robolectric through a generated ``com/android/tools/test_config.properties``,
the file the Android Gradle Plugin writes for ``includeAndroidResources``. Inference runs
through ONNX Runtime for the JVM on the host CPU. Screens are rendered in Robolectric's
native graphics mode to android/build/robolectric/screenshots.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apk  # noqa: E402
from deps import DepsError, resolve  # noqa: E402
from jvm import BuildError, compile_kotlin  # noqa: E402

OUT = apk.ANDROID / "build" / "robolectric"
SCREENSHOTS = OUT / "screenshots"
DOCS = apk.ANDROID / "docs"
TESTS = apk.APP / "src" / "test" / "kotlin"
TEST_LIBRARIES = ("robolectric", "robolectric-nativeruntime", "junit4", "onnxruntime-jvm")
JUNIT_MAIN = "org.junit.runner.JUnitCore"
DOC_SCREENSHOTS = ("gallery", "photo-progress", "photo-compare")  # shown in android/README.md
# JDK internals Robolectric's interceptors reach into (what its Gradle plugin opens too).
OPENS = (
    "java.io",
    "java.lang",
    "java.lang.reflect",
    "java.net",
    "java.nio",
    "java.util",
    "java.util.concurrent",
)


def test_config(resources_apk: Path, assets: Path, out: Path) -> Path:
    """A class folder holding com/android/tools/test_config.properties for Robolectric."""
    folder = out / "config"
    target = folder / "com" / "android" / "tools" / "test_config.properties"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"android_merged_manifest={apk.APP / 'src/main/AndroidManifest.xml'}\n"
        f"android_merged_assets={assets}\n"
        f"android_resource_apk={resources_apk}\n"
        "android_custom_package=ai.edgesdsr.gallery\n",
        encoding="utf-8",
    )
    return folder


def classes_of(library: Path) -> Path:
    """A jar as is; an AAR (Robolectric pulls androidx.test's monitor AAR) as its classes.jar."""
    if library.suffix != ".aar":
        return library
    classes = apk.Aar(library).classes
    if classes is None:
        raise BuildError(f"{library.name} has no classes.jar")
    return classes


def build(bundle: Path) -> list[Path]:
    """Compile app + tests; returns the test runtime classpath."""
    apk.check_tools()
    apk.ensure_bundle(bundle)
    aars = [apk.Aar(apk.fetch_aar(alias)) for alias in apk.MAVEN_AARS]
    aar_jars = [a.classes for a in aars if a.classes is not None]
    classpath, runtime = apk.app_classpath()
    framework = [p for p in classpath if p not in runtime]
    app_classes = apk.compile_app(classpath, aar_jars)
    libraries = [classes_of(p) for p in resolve(TEST_LIBRARIES) if p not in runtime]
    sources = sorted(TESTS.rglob("*.kt"))
    if not sources:
        raise BuildError(f"no tests under {TESTS}")
    test_classes = OUT / "test-classes"
    test_classpath = [app_classes, *runtime, *aar_jars, *libraries, *framework]
    compile_kotlin(sources, test_classpath, test_classes, "app-test", "17")
    assets = OUT / "assets"
    apk.stage_assets(bundle, assets)
    resources_apk = OUT / "resources.ap_"
    apk.link_resources(resources_apk, assets, apk.APP / "src/main/AndroidManifest.xml")
    # The framework jar goes last: Robolectric's sandbox loads android.* from its instrumented
    # jar; the plain one only lets the JVM read annotations that name framework classes.
    config = test_config(resources_apk, assets, OUT)
    return [test_classes, config, app_classes, *runtime, *aar_jars, *libraries, *framework]


def test_classes(root: Path) -> list[str]:
    """Fully qualified names of the *Test classes compiled under ``root``."""
    classes = [p for p in root.rglob("*Test.class") if "$" not in p.name]
    return sorted(".".join(p.relative_to(root).with_suffix("").parts) for p in classes)


def pathing_jar(classpath: Sequence[Path], out: Path) -> Path:
    """A jar whose manifest's Class-Path lists ``classpath``: ONNX Runtime's JVM natives crash
    (SIGSEGV) when ``java.class.path`` is longer than about 4 KB, which this classpath is."""
    lines = ["Manifest-Version: 1.0"]
    entries = " ".join(p.as_uri() + ("/" if p.is_dir() else "") for p in classpath)
    # manifest lines are at most 72 bytes; continuation lines start with one space
    text = "Class-Path: " + entries
    lines += [text[:70]] + [" " + text[i : i + 69] for i in range(70, len(text), 69)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "\r\n".join(lines) + "\r\n")
    return out


def run(classpath: Sequence[Path], only: Sequence[str]) -> None:
    """Run the JUnit 4 tests (all, or the classes in ``only``); raises BuildError on failure."""
    names = list(only) or test_classes(classpath[0])
    if not names:
        raise BuildError(f"no *Test classes in {classpath[0]}")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    command = [
        "java",
        "-Xmx3g",
        *(f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in OPENS),
        f"-Dmaven.repo.local={apk.M2}",
        "-Drobolectric.usePreinstrumentedJars=false",
        f"-Dedgesdsr.screenshots={SCREENSHOTS}",
        f"-Dedgesdsr.repo={apk.REPO}",
        "-Drobolectric.logging.enabled=true",
        "-cp",
        str(pathing_jar(classpath, OUT / "classpath.jar")),
        JUNIT_MAIN,
        *names,
    ]
    start = time.monotonic()
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise BuildError("Robolectric UI tests failed (JUnit report above)")
    print(f"robolectric: {len(names)} test class(es) passed in {time.monotonic() - start:.1f} s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compile the gallery app and run its Robolectric UI tests on the JVM (ONNX Runtime for "
        "the JVM as the runner); screens rendered to android/build/robolectric/screenshots.",
    )
    parser.add_argument("tests", nargs="*", help="test classes to run (default: every *Test)")
    parser.add_argument(
        "--bundle",
        type=Path,
        default=apk.DEFAULT_BUNDLE,
        help="bundle in the app's assets (default: %(default)s)",
    )
    parser.add_argument(
        "--update-screenshots",
        action="store_true",
        help="copy the rendered PNGs to android/docs/ (for the README)",
    )
    args = parser.parse_args(argv)
    try:
        classpath = build(args.bundle.absolute())
        run(classpath, args.tests)
        if args.update_screenshots:
            DOCS.mkdir(exist_ok=True)
            for png in (SCREENSHOTS / f"{name}.png" for name in DOC_SCREENSHOTS):
                if not png.is_file():
                    raise BuildError(f"the tests did not render {png.name}")
                shutil.copy2(png, DOCS / png.name)
                print(f"robolectric: {png.name} -> {(DOCS / png.name).relative_to(apk.REPO)}")
    except (apk.ApkError, DepsError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
