"""Build, sign and verify the gallery app's APK without Gradle: Debian's and Maven Central's parts only.

    bash android/tools/install_android_sdk.sh      # once, as root: aapt2, zipalign, apksigner, dx
    python android/tools/apk.py                    # -> android/build/apk/edge-sdsr-gallery-debug.apk

The pipeline (every version from android/gradle/libs.versions.toml, jars through deps.py):

1. core + ort classes from android/tools/jvm.py (Java 8 bytecode), the app's Kotlin sources
   compiled against the Android framework jar (``android-all``, API 35);
2. dx (Debian's dalvik-exchange, ``--min-sdk-version 26``): one cached dex per library, one
   for the app (native multidex: classes.dex, classes2.dex, ...);
3. aapt2 link of the manifest and resources against android.jar API 23, the default bundle in
   assets (``exports/nano-s24-dsp-a16w8``, exported with ``toolchain export`` when missing);
4. arm64-v8a native libraries: TFLite 2.16.1 (+ GPU delegate) from Maven Central, ONNX
   Runtime for Android and the QNN runtime from LOCAL AARs (``--aar``, or the
   EDGE_SDSR_ANDROID_AARS environment variable, paths separated by ``:``) because Maven
   Central does not serve them to our machines; without them the APK still builds and the
   missing libraries are listed loudly (the app then falls back to what it has); stored
   compressed with ``extractNativeLibs="true"`` (Debian's zipalign has no 16 KB alignment);
5. zipalign, apksigner with a debug key generated under android/.cache (never committed),
   ``apksigner verify`` and ``aapt2 dump badging``; prints the APK's size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deps import ANDROID, CACHE, M2, DepsError, coordinates, resolve, version  # noqa: E402
from jvm import BuildError, compile_kotlin, main_classpath  # noqa: E402

from toolchain.deploy import targets  # noqa: E402

REPO = ANDROID.parent
APP = ANDROID / "app"
BUILD = ANDROID / "build" / "apk"
DEBIAN = Path(os.environ.get("ANDROID_DEBIAN_ROOT", CACHE / "debian" / "root"))
DX_JAR = DEBIAN / "usr/share/java/com.android.dx.jar"
ANDROID_23_JAR = DEBIAN / "usr/share/java/com.android.android-23.jar"
DEFAULT_BUNDLE = REPO / targets.DEFAULT_BUNDLE
DEFAULT_OUT = BUILD / "edge-sdsr-gallery-debug.apk"
AARS_ENV = "EDGE_SDSR_ANDROID_AARS"
ABI = "arm64-v8a"
MIN_SDK = 26
TARGET_SDK = 35
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Libraries whose classes go into the APK (with their runtime dependencies).
RUNTIME_LIBRARIES = ("kotlin-stdlib", "kotlinx-coroutines-android", "kotlinx-serialization-json")
# Android AARs served by Maven Central (fetched without their POM dependencies).
MAVEN_AARS = ("tflite", "tflite-api", "tflite-gpu")
# What a complete APK carries in lib/arm64-v8a, by component.
EXPECTED_NATIVES = {
    "ONNX Runtime (NPU via QNN EP, CPU)": ("libonnxruntime.so", "libonnxruntime4j_jni.so"),
    "QNN HTP runtime (Snapdragon 8 Gen 3 NPU)": (
        "libQnnHtp.so",
        "libQnnHtpV75Stub.so",
        "libQnnHtpV75Skel.so",
        "libQnnSystem.so",
    ),
    "TFLite interpreter (CPU fallback)": ("libtensorflowlite_jni.so",),
    "TFLite GPU delegate (GPU fallback)": ("libtensorflowlite_gpu_jni.so",),
}
DEBUG_KEYSTORE = CACHE / "debug.keystore"
DEBUG_KEY = ("androiddebugkey", "android")  # alias, password: Android's well-known debug key


class ApkError(Exception):
    """A one-line, user-facing problem of the APK build."""


def _run(command: Sequence[str | Path], what: str, cwd: Path | None = None) -> str:
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, cwd=cwd, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ApkError(f"{what} failed: {detail[-1] if detail else f'exit code {result.returncode}'}")
    return result.stdout


def _step(message: str) -> float:
    print(f"apk: {message}", flush=True)
    return time.monotonic()


def check_tools() -> None:
    """The Debian tools are installed (install_android_sdk.sh) and java is on PATH."""
    missing = [t for t in ("java", "aapt2", "zipalign", "apksigner", "keytool") if shutil.which(t) is None]
    missing += [str(p) for p in (DX_JAR, ANDROID_23_JAR) if not p.is_file()]
    if missing:
        raise ApkError(
            f"missing Android build tools ({', '.join(missing)}); "
            "run `bash android/tools/install_android_sdk.sh`"
        )


def fetch_aar(alias: str) -> Path:
    """The AAR of catalog library ``alias`` in android/.cache/m2 (Maven, no POM dependencies)."""
    coord = coordinates([f"{alias}@aar"])[0]
    path = M2 / Path(*coord.group.split(".")) / coord.artifact / coord.version
    path = path / f"{coord.artifact}-{coord.version}.aar"
    if path.is_file():
        return path
    print(f"apk: fetching {coord} from Maven Central", flush=True)
    _run(
        [
            "mvn",
            "-B",
            "-q",
            f"-Dmaven.repo.local={M2}",
            f"{DEPENDENCY_PLUGIN}:get",
            f"-Dartifact={coord.group}:{coord.artifact}:{coord.version}:aar",
            "-Dtransitive=false",
        ],
        f"Maven download of {coord}",
    )
    if not path.is_file():
        raise ApkError(f"Maven reported success but {path} is missing; delete android/.cache/m2 and retry")
    return path


class Aar:
    """An unpacked AAR: its ``classes.jar`` (if any) and its arm64-v8a native libraries."""

    def __init__(self, source: Path):
        if not zipfile.is_zipfile(source):
            raise ApkError(f"{source} is not an AAR (not a zip file); pass the .aar file itself")
        stat = source.stat()
        key = hashlib.sha256(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        self.root = CACHE / "aars" / f"{source.stem}-{key.hexdigest()[:10]}"
        if not self.root.is_dir():
            tmp = self.root.with_name(self.root.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            with zipfile.ZipFile(source) as zf:
                for name in zf.namelist():
                    if name == "classes.jar" or name.startswith(f"jni/{ABI}/") and name.endswith(".so"):
                        zf.extract(name, tmp)
            tmp.mkdir(parents=True, exist_ok=True)
            tmp.replace(self.root)
        jar = self.root / "classes.jar"
        self.classes: Path | None = jar if jar.is_file() else None
        self.natives: list[Path] = sorted((self.root / "jni" / ABI).glob("*.so"))


def local_aars(paths: Iterable[str]) -> list[Aar]:
    """The user's AARs (ONNX Runtime Android, QNN runtime, ...): options plus the environment."""
    given = [p for p in paths if p] + [p for p in os.environ.get(AARS_ENV, "").split(os.pathsep) if p]
    aars = []
    for text in given:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ApkError(f"AAR {path} does not exist (from --aar or {AARS_ENV}); fix the path")
        aars.append(Aar(path))
    return aars


def dex_input(jar: Path) -> Path:
    """A copy of ``jar`` with only the class files dx reads (no multi-release module-info)."""
    key = hashlib.sha256(f"{jar.resolve()}:{jar.stat().st_size}".encode()).hexdigest()[:12]
    out = CACHE / "dex-input" / f"{jar.stem}-{key}.jar"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(jar) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            name = info.filename
            if name.endswith(".class") and not name.startswith("META-INF/") and "module-info" not in name:
                dst.writestr(info, src.read(name))
    tmp.replace(out)
    return out


def dex(inputs: Sequence[Path], out: Path) -> None:
    """dx ``inputs`` (jars or class folders) into the dex files of folder ``out`` (replaced)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(
        [
            "java",
            "-Xmx1536m",
            "-jar",
            DX_JAR,
            "--dex",
            f"--min-sdk-version={MIN_SDK}",
            "--multi-dex",
            f"--output={tmp}",
            *inputs,
        ],
        f"dx of {', '.join(p.name for p in inputs)}",
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)


def cached_dex(jar: Path) -> list[Path]:
    """Dex files of one library jar, built once and kept in android/.cache/dex."""
    source = dex_input(jar)
    out = CACHE / "dex" / source.stem
    if not (out / "classes.dex").is_file():
        start = time.monotonic()
        dex([source], out)
        print(f"apk: dexed {jar.name} in {time.monotonic() - start:.1f} s (cached)", flush=True)
    return sorted(out.glob("classes*.dex"), key=lambda p: (len(p.name), p.name))


def ensure_bundle(bundle: Path) -> None:
    """The default bundle exists; otherwise ``toolchain export`` writes it (a few minutes)."""
    if (bundle / "manifest.json").is_file():
        return
    toolchain = shutil.which("toolchain") or str(REPO / ".venv" / "bin" / "toolchain")
    if not Path(toolchain).is_file():
        raise ApkError(
            f"no bundle at {bundle} and no `toolchain` command to export it; "
            'pip install -e ".[deploy]" or pass --bundle DIR'
        )
    start = _step(f"no bundle at {bundle}: running `toolchain export --target s24-dsp -o {bundle}`")
    result = subprocess.run([toolchain, "export", "--target", "s24-dsp", "-o", str(bundle)], check=False)
    if result.returncode != 0 or not (bundle / "manifest.json").is_file():
        raise ApkError(f"toolchain export did not write {bundle / 'manifest.json'} (messages above)")
    print(f"apk: bundle exported in {time.monotonic() - start:.0f} s", flush=True)


def stage_assets(bundle: Path, staging: Path) -> None:
    """assets/bundles/<name>/ = the bundle's manifest and graphs (hard links where possible; no report)."""
    shutil.rmtree(staging, ignore_errors=True)
    target = staging / "bundles" / bundle.name
    for path in sorted(bundle.rglob("*")):
        if path.is_file() and path.suffix != ".md":
            dst = target / path.relative_to(bundle)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dst)
            except OSError:
                shutil.copy2(path, dst)


def debug_keystore() -> Path:
    """Android's debug key (generated once under android/.cache; never committed)."""
    if not DEBUG_KEYSTORE.is_file():
        DEBUG_KEYSTORE.parent.mkdir(parents=True, exist_ok=True)
        alias, password = DEBUG_KEY
        _run(
            [
                "keytool",
                "-genkeypair",
                "-keystore",
                DEBUG_KEYSTORE,
                "-storepass",
                password,
                "-keypass",
                password,
                "-alias",
                alias,
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-validity",
                "10000",
                "-dname",
                "CN=Android Debug,O=Android,C=US",
            ],
            "keytool (debug key)",
        )
    return DEBUG_KEYSTORE


def app_classpath() -> tuple[list[Path], list[Path]]:
    """(compile classpath, runtime jars) of the app: framework jar + core/ort + libraries + AAR classes."""
    ort_classpath = main_classpath("ort")  # ort classes, core classes, their libraries
    runtime = list(ort_classpath)
    for path in resolve(RUNTIME_LIBRARIES):
        if path not in runtime:
            runtime.append(path)
    framework = resolve(["android-all"], transitive=False)
    return framework + runtime, runtime


def compile_app(classpath: Sequence[Path], extra_jars: Sequence[Path]) -> Path:
    """The app's classes (Java 8 bytecode), recompiled only when sources or classpath change."""
    sources = sorted((APP / "src" / "main" / "kotlin").rglob("*.kt"))
    if not sources:
        raise ApkError(f"no app sources under {APP / 'src/main/kotlin'}")
    out = BUILD / "app" / "classes"
    compile_kotlin(sources, [*classpath, *extra_jars], out, "app", "1.8")
    return out


def build(out: Path, bundle: Path, aar_paths: Sequence[str]) -> Path:
    """Run the whole pipeline; returns the signed, verified APK."""
    check_tools()
    user_aars = local_aars(aar_paths)
    ensure_bundle(bundle)
    start = _step(f"building with Kotlin {version('kotlin')}, TFLite {version('tflite')}, minSdk {MIN_SDK}")
    maven_aars = [Aar(fetch_aar(alias)) for alias in MAVEN_AARS]
    aars = maven_aars + user_aars
    has_ort_android = any(n.name == "libonnxruntime4j_jni.so" for a in user_aars for n in a.natives)
    classpath, runtime = app_classpath()
    if has_ort_android:  # the Android AAR's ai.onnxruntime classes replace the JVM jar's
        runtime = [p for p in runtime if "onnxruntime" not in p.name]
        classpath = [p for p in classpath if "onnxruntime" not in p.name]
    aar_jars = [a.classes for a in aars if a.classes is not None]
    app_classes = compile_app(classpath, aar_jars)

    dex_files = dex_folder(app_classes)
    for path in [*runtime, *aar_jars]:
        dex_files += cached_dex(path) if path.is_file() else dex_folder(path)

    staging = BUILD / "assets"
    stage_assets(bundle, staging)
    base = BUILD / "base.apk"
    link_resources(base, staging, local_manifest())
    natives = {n.name: n for a in aars for n in a.natives}
    unsigned = BUILD / "unsigned.apk"
    shutil.copy2(base, unsigned)
    with zipfile.ZipFile(unsigned, "a", zipfile.ZIP_DEFLATED) as zf:
        for i, path in enumerate(dex_files):
            zf.write(path, "classes.dex" if i == 0 else f"classes{i + 1}.dex")
        for name, path in sorted(natives.items()):
            zf.write(path, f"lib/{ABI}/{name}")
        for service, text in service_files(runtime).items():
            zf.writestr(service, text)
    aligned = BUILD / "aligned.apk"
    _run(["zipalign", "-f", "-p", "4", unsigned, aligned], "zipalign")
    alias, password = DEBUG_KEY
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "apksigner",
            "sign",
            "--ks",
            debug_keystore(),
            "--ks-key-alias",
            alias,
            "--ks-pass",
            f"pass:{password}",
            "--key-pass",
            f"pass:{password}",
            "--out",
            tmp,
            aligned,
        ],
        "apksigner sign",
    )
    tmp.replace(out)
    for leftover in (unsigned, aligned, base):
        leftover.unlink(missing_ok=True)
    Path(str(out) + ".idsig").unlink(missing_ok=True)
    Path(str(tmp) + ".idsig").unlink(missing_ok=True)
    print(f"apk: built {out.relative_to(REPO)} in {time.monotonic() - start:.1f} s", flush=True)
    return out


def local_manifest() -> Path:
    """The app's manifest plus ``extractNativeLibs="true"``: Debian's zipalign cannot 16 KB-align
    uncompressed libraries (``-P 16``), so this APK stores them compressed and Android extracts
    them at install time. (Gradle builds align them and keep the manifest as it is.)"""
    text = (APP / "src/main/AndroidManifest.xml").read_text(encoding="utf-8")
    if "<application" not in text:
        raise ApkError("AndroidManifest.xml has no <application> element")
    out = BUILD / "AndroidManifest.xml"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = text.replace("<application", '<application android:extractNativeLibs="true"', 1)
    out.write_text(text, encoding="utf-8")
    return out


def link_resources(out: Path, assets: Path, manifest: Path) -> None:
    """aapt2: [manifest], the compiled resources and [assets] linked into ``out`` (no code yet)."""
    res_zip = out.with_name(out.stem + "-res.zip")
    _run(["aapt2", "compile", "--dir", APP / "src/main/res", "-o", res_zip], "aapt2 compile")
    _run(
        [
            "aapt2",
            "link",
            "-o",
            out,
            "-I",
            ANDROID_23_JAR,
            "--manifest",
            manifest,
            "--min-sdk-version",
            str(MIN_SDK),
            "--target-sdk-version",
            str(TARGET_SDK),
            "-A",
            assets,
            res_zip,
        ],
        "aapt2 link",
    )
    res_zip.unlink()


def dex_folder(folder: Path) -> list[Path]:
    """Dex files of a class folder (app, core, ort), rebuilt when its compile stamp is newer."""
    out = BUILD / f"dex-{folder.parent.name}"
    stamp = folder.with_name(folder.name + ".stamp")
    stale = stamp.is_file() and out.is_dir() and out.stat().st_mtime < stamp.stat().st_mtime
    if stale or not (out / "classes.dex").is_file():
        dex([folder], out)
    return sorted(out.glob("classes*.dex"), key=lambda p: (len(p.name), p.name))


def service_files(jars: Sequence[Path]) -> dict[str, str]:
    """META-INF/services entries of the runtime jars (kotlinx-coroutines' Main dispatcher lookup)."""
    services: dict[str, str] = {}
    for jar in jars:
        if not jar.is_file():
            continue
        with zipfile.ZipFile(jar) as zf:
            for name in zf.namelist():
                if name.startswith("META-INF/services/") and not name.endswith("/"):
                    services[name] = services.get(name, "") + zf.read(name).decode("utf-8")
    return services


def verify(apk: Path) -> dict[str, str]:
    """apksigner verify + aapt2 dump badging; prints the facts and returns them."""
    _run(["apksigner", "verify", apk], "apksigner verify")
    badging = _run(["aapt2", "dump", "badging", apk], "aapt2 dump badging")
    facts = {
        "package": _field(badging, r"package: name='([^']+)'"),
        "launchable-activity": _field(badging, r"launchable-activity: name='([^']+)'"),
        "sdkVersion": _field(badging, r"sdkVersion:'(\d+)'"),
        "targetSdkVersion": _field(badging, r"targetSdkVersion:'(\d+)'"),
        "native-code": _field(badging, r"native-code: (.+)"),
    }
    print("apk: apksigner verify: OK")
    for key, value in facts.items():
        print(f"apk: badging {key}: {value}")
    if facts["targetSdkVersion"] != str(TARGET_SDK) or int(facts["sdkVersion"] or 0) < MIN_SDK:
        raise ApkError(f"badging shows minSdk {facts['sdkVersion']} / targetSdk {facts['targetSdkVersion']}")
    if not facts["launchable-activity"]:
        raise ApkError("badging shows no launchable activity; check AndroidManifest.xml")
    with zipfile.ZipFile(apk) as zf:
        libs = {Path(n).name for n in zf.namelist() if n.startswith(f"lib/{ABI}/")}
        dexes = sum(1 for n in zf.namelist() if re.fullmatch(r"classes\d*\.dex", n))
    print(f"apk: {dexes} dex file(s); lib/{ABI}: {', '.join(sorted(libs)) or '(none)'}")
    missing = {what: [n for n in names if n not in libs] for what, names in EXPECTED_NATIVES.items()}
    missing = {what: names for what, names in missing.items() if names}
    if missing:
        print("apk: " + "!" * 72)
        print("apk: WARNING: this APK lacks native libraries; the app falls back to what it has:")
        for what, names in missing.items():
            print(f"apk:   {what}: {', '.join(names)}")
        print(
            "apk: Maven Central does not serve the ONNX Runtime Android / QNN AARs to this machine; "
            f"pass them with --aar PATH (or {AARS_ENV}) to package them."
        )
        print("apk: " + "!" * 72)
    size = apk.stat().st_size
    print(f"apk: size {size / 1e6:.1f} MB ({size} bytes): {apk.relative_to(REPO)}")
    return facts


def _field(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return match.group(1).strip() if match else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the gallery app's signed debug APK without Gradle (aapt2, Kotlin, dx, zipalign, "
        "apksigner), then verify it. Run `bash android/tools/install_android_sdk.sh` once first.",
        epilog=f"example: python android/tools/apk.py --aar ~/onnxruntime-android-qnn.aar "
        f"--aar ~/qnn-runtime.aar   (or {AARS_ENV}=a.aar:b.aar)",
    )
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="APK path (default: %(default)s)")
    parser.add_argument(
        "--bundle",
        type=Path,
        default=DEFAULT_BUNDLE,
        help="bundle folder shipped in assets; exported with `toolchain export` when missing "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--aar",
        action="append",
        default=[],
        metavar="PATH",
        help="a local Android AAR whose arm64-v8a libraries and classes go into the APK "
        "(ONNX Runtime Android with QNN, QNN runtime); repeatable",
    )
    parser.add_argument("--verify-only", action="store_true", help="only verify an existing APK (--out)")
    args = parser.parse_args(argv)
    try:
        apk = args.out.resolve()
        if not args.verify_only:
            apk = build(apk, args.bundle.absolute(), args.aar)
        elif not apk.is_file():
            raise ApkError(f"no APK at {apk}; build it first (without --verify-only)")
        verify(apk)
    except (ApkError, DepsError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
