"""Build the pure-JVM Android modules (core, ort) and run their JUnit 5 tests, without Gradle.

The same sources and module layout that Gradle builds (android/<module>/src/{main,test}/kotlin)
are compiled with the Kotlin compiler from Maven Central (kotlin-compiler-embeddable, run
in a plain ``java`` process) and tested with JUnit's console launcher. Every version comes
from android/gradle/libs.versions.toml through android/tools/deps.py; outputs go to
android/build/jvm/<module>/{main,test}. A compile step is skipped when its sources and
classpath did not change since the last successful build.

    python android/tools/jvm.py test              # build core + ort and run all their tests
    python android/tools/jvm.py build core        # classes only (e.g. for the APK pipeline)
    python android/tools/jvm.py run ort ai.edgesdsr.ort.ParityMain -- args...

Main classes are compiled for Java 8 bytecode (``-jvm-target 1.8``) so the APK pipeline's dx
can read them; test classes target the running JDK.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deps import ANDROID, DepsError, resolve  # noqa: E402

BUILD = ANDROID / "build" / "jvm"
REPO = ANDROID.parent
COMPILER_MAIN = "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler"
MAIN_JVM_TARGET = "1.8"
TEST_JVM_TARGET = "17"


@dataclass(frozen=True)
class Module:
    """One Gradle module as built here: its libraries (catalog aliases) and module dependencies."""

    name: str
    libraries: tuple[str, ...]
    test_libraries: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    test_properties: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return ANDROID / self.name


# Keep in sync with <module>/build.gradle.kts (the dependency blocks list the same aliases).
MODULES = {
    m.name: m
    for m in (
        Module(
            name="core",
            libraries=("kotlin-stdlib", "kotlinx-serialization-json"),
            test_libraries=("junit-platform-console-standalone",),
            test_properties={"edgesdsr.golden": str(REPO / "tests" / "golden" / "android")},
        ),
        Module(
            name="ort",
            libraries=("kotlin-stdlib", "kotlinx-serialization-json", "onnxruntime-jvm"),
            test_libraries=("junit-platform-console-standalone",),
            modules=("core",),
            test_properties={"edgesdsr.golden": str(REPO / "tests" / "golden" / "android")},
        ),
    )
}


class BuildError(Exception):
    """A one-line, user-facing build or test failure."""


def _sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.kt")) if folder.is_dir() else []


def _fingerprint(sources: Sequence[Path], classpath: Sequence[Path], options: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in classpath:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    digest.update("\0".join(options).encode())
    return digest.hexdigest()


def compile_kotlin(
    sources: Sequence[Path],
    classpath: Sequence[Path],
    out: Path,
    module_name: str,
    jvm_target: str,
    friends: Sequence[Path] = (),
) -> bool:
    """Compile ``sources`` to ``out`` (replaced); returns False when it was already up to date.

    ``friends`` are class folders whose ``internal`` declarations the sources may use (a
    module's main classes for its tests, as Gradle does).
    """
    options = ["-jvm-target", jvm_target, "-module-name", module_name]
    if friends:
        options.append("-Xfriend-paths=" + ",".join(map(str, friends)))
    stamp = out.with_name(out.name + ".stamp")
    fingerprint = _fingerprint(sources, classpath, options)
    if out.is_dir() and stamp.is_file() and stamp.read_text(encoding="utf-8") == fingerprint:
        return False
    compiler = resolve(["kotlin-compiler-embeddable", "kotlinx-coroutines-core"])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    stamp.unlink(missing_ok=True)
    command = [
        "java",
        "-Xss8m",
        "-cp",
        os.pathsep.join(map(str, compiler)),
        COMPILER_MAIN,
        "-no-stdlib",
        "-no-reflect",
        "-d",
        str(out),
        "-cp",
        os.pathsep.join(map(str, classpath)),
        *options,
        *map(str, sources),
    ]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        raise BuildError(f"Kotlin compilation of {module_name} failed (messages above)")
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "warning:" in line]
    for line in warnings:
        print(f"jvm: {line}", file=sys.stderr)
    print(
        f"jvm: compiled {module_name} ({len(sources)} files) in {time.monotonic() - start:.1f} s", flush=True
    )
    stamp.write_text(fingerprint, encoding="utf-8")
    return True


def main_classpath(name: str) -> list[Path]:
    """Build ``name``'s main classes (and its module dependencies); returns its runtime classpath."""
    module = MODULES[name]
    classpath: list[Path] = []
    for dep in module.modules:
        for path in main_classpath(dep):
            if path not in classpath:
                classpath.append(path)
    classpath += [p for p in resolve(module.libraries) if p not in classpath]
    out = BUILD / name / "main"
    sources = _sources(module.root / "src" / "main" / "kotlin")
    if not sources:
        raise BuildError(f"module {name} has no sources under {module.root / 'src/main/kotlin'}")
    compile_kotlin(sources, classpath, out, name, MAIN_JVM_TARGET)
    return [out, *classpath]


def test_classpath(name: str) -> list[Path]:
    """Build ``name``'s main and test classes; returns the test runtime classpath."""
    module = MODULES[name]
    classpath = main_classpath(name)
    classpath += [p for p in resolve(module.test_libraries) if p not in classpath]
    out = BUILD / name / "test"
    sources = _sources(module.root / "src" / "test" / "kotlin")
    if not sources:
        raise BuildError(f"module {name} has no tests under {module.root / 'src/test/kotlin'}")
    compile_kotlin(sources, classpath, out, f"{name}-test", TEST_JVM_TARGET, friends=[BUILD / name / "main"])
    return [out, *classpath]


def _properties(module: Module) -> list[str]:
    return [f"-D{key}={value}" for key, value in module.test_properties.items()]


def run_tests(name: str) -> None:
    """Run every JUnit 5 test of module ``name``; raises BuildError if any fails."""
    module = MODULES[name]
    classpath = test_classpath(name)
    launcher = resolve(["junit-platform-console-standalone"])[0]
    reports = BUILD / name / "test-reports"
    command = [
        "java",
        *_properties(module),
        "-jar",
        str(launcher),
        "execute",
        "--disable-banner",
        "--details=summary",
        "--details-theme=ascii",
        "--fail-if-no-tests",
        f"--reports-dir={reports}",
        "--class-path",
        os.pathsep.join(map(str, classpath[:1] + classpath[1:])),
        "--scan-class-path",
        str(classpath[0]),
    ]
    start = time.monotonic()
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise BuildError(f"{name} tests failed (report above; XML in {reports.relative_to(REPO)})")
    print(f"jvm: {name} tests passed in {time.monotonic() - start:.1f} s", flush=True)


def run_main(name: str, main_class: str, args: Sequence[str]) -> int:
    """Run ``main_class`` from module ``name``'s test classpath (tools such as the parity check)."""
    module = MODULES[name]
    classpath = test_classpath(name)
    command = ["java", *_properties(module), "-cp", os.pathsep.join(map(str, classpath)), main_class, *args]
    return subprocess.run(command, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compile the JVM modules of android/ (core, ort) with the Kotlin compiler from "
        "Maven Central and run their JUnit 5 tests; versions from android/gradle/libs.versions.toml.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="compile main classes; prints the runtime classpath")
    build.add_argument("module", choices=sorted(MODULES))
    test = sub.add_parser("test", help="compile and run the JUnit 5 tests (default: all modules)")
    test.add_argument("modules", nargs="*", help=f"modules to test: {', '.join(MODULES)} (default: all)")
    run = sub.add_parser("run", help="run a main class from a module's test classpath")
    run.add_argument("module", choices=sorted(MODULES))
    run.add_argument("main_class")
    run.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(os.pathsep.join(map(str, main_classpath(args.module))))
        elif args.command == "test":
            unknown = [name for name in args.modules if name not in MODULES]
            if unknown:
                raise BuildError(f"unknown module {unknown[0]!r}; choose from {', '.join(MODULES)}")
            for name in args.modules or list(MODULES):
                run_tests(name)
        else:
            extra = args.args[1:] if args.args[:1] == ["--"] else args.args
            return run_main(args.module, args.main_class, extra)
    except (DepsError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
