"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s demo`.

Every session installs with constraints.txt, which pins torch==2.13.0 (the CPU build);
GPU users install their own torch first and run pytest directly.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
CONSTRAINTS = ("-c", "constraints.txt")


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole pytest suite on CPU (no GPU, network or phone needed)."""
    session.install(*CONSTRAINTS, "-e", ".[test,deploy]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install(*CONSTRAINTS, "ruff")
    paths = ("toolchain", "tests", "scripts", "benchmarks", "noxfile.py", "android/tools")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Upscale the bundled sample with the embedded default model and describe the model."""
    session.install(*CONSTRAINTS, "-e", ".")
    session.run("toolchain", "info")
    session.run("toolchain", "upscale", "models/samples/sample.png", "-o", "artifacts/sample_x4.png")


@nox.session(python="3.11")
def android(session: nox.Session) -> None:
    """The Android app: golden vectors, core + ort JUnit 5 tests, engine parity, UI tests, signed APK.

    Kotlin, JUnit and ONNX Runtime come from Maven Central with the versions of
    android/gradle/libs.versions.toml; downloads are cached in android/.cache (ignored).
    Parity needs the default bundle: it is exported first when missing (several minutes).
    """
    session.install(*CONSTRAINTS, "-e", ".[test,deploy]")
    if not Path("exports/nano-s24-dsp-a16w8/manifest.json").is_file():
        session.run("toolchain", "export", "--target", "s24-dsp", "--out", "exports/nano-s24-dsp-a16w8")
    # the goldens, including the default bundle's manifest checked against the real export above
    session.run("pytest", "tests/test_android_golden.py")
    session.run("python", "android/tools/jvm.py", "test")
    session.run("python", "android/tools/parity.py", "--bundle", "exports/nano-s24-dsp-a16w8")
    # The app: Robolectric UI tests (ORT for the JVM), then the APK from Debian's build tools (root once).
    session.run("bash", "android/tools/install_android_sdk.sh", external=True)
    session.run("python", "android/tools/robolectric.py")
    session.run("python", "android/tools/apk.py")


@nox.session(venv_backend="none")
def device_bench(session: nox.Session) -> None:
    """`toolchain bench device` on the default bundle and APK, with its HTML report (needs adb and a phone).

    Runs in the current environment (install `.[deploy,bench]` first) so that with no phone attached it
    stops at once with the "no device" message. Extra arguments go to `toolchain bench device`, e.g.
    `nox -s device_bench -- --serial R5CX10ABCDE --accelerators npu,cpu`.
    """
    session.run(
        "toolchain", "bench", "device", "--bundle", "exports/nano-s24-dsp-a16w8", "--out", "artifacts/bench",
        *session.posargs,
    )  # fmt: skip
