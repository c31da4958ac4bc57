"""`toolchain bench device`: run the app's headless benchmark on a phone over adb and pull its result.

Steps, all within one deadline (``--timeout``, the whole run's budget), each adb call within its
own limit too: find adb and the device (``--serial`` when several), verify the
bundle, read the phone's model, SoC (``ro.soc.model``), Android version and QNN-capable vendor
libraries, refuse phones below the app's minSdk, check that the bundle's target fits the SoC (if
not: warn and run only the fallback accelerators), install the APK, push the bundle to the app's
``getExternalFilesDir("bundles")``, start ``BenchmarkActivity``::

    adb shell am start -W -n ai.edgesdsr.gallery/.BenchmarkActivity --es bundle <device dir> \\
        --ei runs N --ei warmup W --es accelerators npu,gpu,cpu --es out <run_id>.json

and poll ``getExternalFilesDir("bench")/<run_id>.json`` until the app has written a final result
(``partial: false``). The app rewrites that file atomically after every accelerator, with
``partial: true`` until the last. The result is pulled, validated against the schema and against
the request (bundle hash, device, accelerators, run counts) and only then returned (the CLI prints
and writes it). A run that times out or whose app dies returns no result, unless ``partial`` is
set: then the last partial result is kept, and marked partial.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolchain.bench.adb import Adb, AdbTimeout, Deadline
from toolchain.bench.results import (
    PARTIAL_NOTE,
    Accelerator,
    BenchResult,
    RunStatus,
    Source,
    bundle_identity,
    new_run_id,
    parse_result_text,
)
from toolchain.deploy.bundle import verify_bundle
from toolchain.deploy.manifest import GraphRole, Manifest
from toolchain.deploy.targets import TARGETS
from toolchain.errors import ToolchainError

PACKAGE = "ai.edgesdsr.gallery"
ACTIVITY = f"{PACKAGE}/.BenchmarkActivity"
DEVICE_FILES = f"/sdcard/Android/data/{PACKAGE}/files"
DEVICE_BUNDLES = f"{DEVICE_FILES}/bundles"
DEVICE_RESULTS = f"{DEVICE_FILES}/bench"
MIN_SDK = 26  # the app's minSdk (Android 8.0)
DEFAULT_APK = Path("android") / "build" / "apk" / "edge-sdsr-gallery-debug.apk"
POLL_INTERVAL_S = 1.0
PROGRESS_EVERY_S = 10.0
APP_START_GRACE_S = 5.0
"""How long after ``am start`` a missing app process is not yet taken as a crash."""
QNN_LIB_PREFIXES = ("libQnnHtp", "libcdsprpc")
VENDOR_LIBS = "/vendor/lib64"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DeviceBenchOptions:
    """What `toolchain bench device` does; see the CLI's --help for each option."""

    bundle: Path
    apk: Path = DEFAULT_APK
    serial: str | None = None
    runs: int = 10
    warmup: int = 3
    accelerators: tuple[Accelerator, ...] = (Accelerator.NPU, Accelerator.GPU, Accelerator.CPU)
    timeout_s: float = 600.0
    partial: bool = False

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ToolchainError(f"--runs must be >= 1, got {self.runs}")
        if self.warmup < 0:
            raise ToolchainError(f"--warmup must be >= 0, got {self.warmup}")
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ToolchainError(
                f"--timeout must be a finite number of seconds > 0, got {self.timeout_s:g}; "
                "give the whole run's budget, e.g. --timeout 600"
            )
        if not self.accelerators or len(set(self.accelerators)) != len(self.accelerators):
            raise ToolchainError("--accelerators must list npu, gpu and/or cpu, each at most once")


def parse_accelerators(text: str) -> tuple[Accelerator, ...]:
    """``"npu,gpu,cpu"`` -> accelerators in that order (the app tries them in this order)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    valid = ", ".join(a.value for a in Accelerator)
    out = []
    for name in names:
        try:
            out.append(Accelerator(name))
        except ValueError:
            raise ToolchainError(f"unknown accelerator '{name}' in --accelerators; use {valid}") from None
    if not out or len(set(out)) != len(out):
        raise ToolchainError(f"--accelerators must list {valid}, each at most once, e.g. npu,cpu")
    return tuple(out)


@dataclass(frozen=True)
class Phone:
    """What the harness reads from the phone before running anything."""

    serial: str
    model: str
    manufacturer: str
    soc: str | None  # ro.soc.model (Android 12+), e.g. SM8650
    release: str
    sdk: int
    qnn_libs: tuple[str, ...]


def read_phone(adb: Adb, serial: str) -> Phone:
    props = adb.getprops()
    sdk_text = props.get("ro.build.version.sdk", "")
    if not sdk_text.isdigit():
        raise ToolchainError(
            f"device {serial} did not report its Android SDK level (ro.build.version.sdk={sdk_text!r}); "
            "is it fully booted? retry after `adb wait-for-device`"
        )
    listing = adb.shell(f"ls {VENDOR_LIBS}", check=False)
    libs = tuple(sorted(n for n in listing.split() if n.startswith(QNN_LIB_PREFIXES) and n.endswith(".so")))
    return Phone(
        serial=serial,
        model=props.get("ro.product.model", "unknown"),
        manufacturer=props.get("ro.product.manufacturer", "unknown"),
        soc=props.get("ro.soc.model") or None,
        release=props.get("ro.build.version.release", "?"),
        sdk=int(sdk_text),
        qnn_libs=libs,
    )


def fit_accelerators(
    manifest: Manifest, phone: Phone, requested: tuple[Accelerator, ...], say: Say
) -> tuple[Accelerator, ...]:
    """Drop the NPU (with a warning) when the bundle's NPU graphs were compiled for another SoC."""
    target = TARGETS.get(manifest.target)
    has_npu_graph = any(g.role is GraphRole.NPU for g in manifest.graphs)
    if Accelerator.NPU not in requested or not has_npu_graph or target is None or target.litert_soc is None:
        return requested
    if phone.soc == target.litert_soc:
        if not phone.qnn_libs:
            say(
                f"warning: no QNN libraries in {VENDOR_LIBS} on {phone.model}; "
                "the app may fall back from the NPU"
            )
        return requested
    seen = phone.soc or "unknown (no ro.soc.model)"
    kept = tuple(a for a in requested if a is not Accelerator.NPU)
    if not kept:
        raise ToolchainError(
            f"bundle {manifest.target} holds NPU code for {target.litert_soc} but {phone.model} has SoC "
            f"{seen}; export a bundle for this phone (`toolchain targets`) or request fallbacks with "
            "--accelerators gpu,cpu"
        )
    say(
        f"warning: bundle {manifest.target} is compiled for {target.litert_soc}, {phone.model} has SoC "
        f"{seen}; running only {','.join(a.value for a in kept)}"
    )
    return kept


def _check_result(
    result: BenchResult,
    run_id: str,
    manifest_sha256: str,
    phone: Phone,
    accelerators: tuple[Accelerator, ...],
    options: DeviceBenchOptions,
) -> None:
    """The pulled result must answer this request (same bundle, phone, accelerators, run counts)."""
    fix = (
        "the app on the phone is not the one this toolchain expects; "
        "rebuild and reinstall it (`nox -s android`)"
    )
    problems = []
    if result.source is not Source.DEVICE:
        problems.append(f"source is {result.source.value}, not device")
    if result.run_id != run_id:
        problems.append(f"run_id is {result.run_id}, expected {run_id}")
    if result.bundle.manifest_sha256 != manifest_sha256:
        problems.append("it measured another bundle (manifest sha256 differs from the one pushed)")
    if result.device.name != phone.model:
        problems.append(f"device is {result.device.name}, not {phone.model}")
    if not result.partial:
        asked = [a.value for a in accelerators]
        got = [r.requested.value for r in result.runs]
        if sorted(got) != sorted(asked):
            problems.append(f"it ran {','.join(got)}, not the requested {','.join(asked)}")
    for run in result.runs:
        if run.status is RunStatus.OK and run.tile is not None:
            if (run.tile.warmup, len(run.tile.runs_ms)) != (options.warmup, options.runs):
                problems.append(
                    f"run {run.label} has {run.tile.warmup} warm-up + {len(run.tile.runs_ms)} timed tile "
                    f"runs, requested {options.warmup} + {options.runs}"
                )
    if problems:
        raise ToolchainError(f"the result from the phone does not match the request: {problems[0]}; {fix}")


class _Poller:
    """Waits for the app's final result; keeps the last partial one seen."""

    def __init__(self, adb: Adb, remote: str, workdir: Path) -> None:
        self.adb = adb
        self.remote = remote
        self.local = workdir / Path(remote).name
        self.last_partial: BenchResult | None = None

    def fetch(self) -> BenchResult | None:
        """The result on the phone, if any (validated against the schema)."""
        if not self.adb.exists(self.remote):
            return None
        self.adb.pull(self.remote, self.local)
        try:
            text = self.local.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ToolchainError(f"cannot read the pulled result {self.local}: {exc}") from None
        result = parse_result_text(
            text,
            f"the app's result {self.remote} (keep it with `adb pull {self.remote}`)",
            "the app on the phone is not the one this toolchain expects; rebuild and reinstall it "
            "(`nox -s android`)",
        )
        if result.partial:
            self.last_partial = result
            return None
        return result

    def app_running(self) -> bool:
        return bool(self.adb.shell(f"pidof {PACKAGE}", check=False).strip())


def bench_device(options: DeviceBenchOptions, say: Say | None = None) -> BenchResult:
    """Run the whole device benchmark (see the module docstring); returns the checked result.

    Writing it is the caller's (``toolchain bench device`` prints it first, so a failed write
    loses nothing)."""
    say = say or (lambda _message: None)
    deadline = Deadline.start(options.timeout_s)
    adb = Adb.find(deadline)
    serial = adb.choose(options.serial)
    bundle = Path(options.bundle)
    manifest = verify_bundle(bundle)
    if not Path(options.apk).is_file():
        raise ToolchainError(f"APK {options.apk} not found; build it with `nox -s android` or pass --apk")
    phone = read_phone(adb, serial)
    say(
        f"{serial}: {phone.manufacturer} {phone.model}, SoC {phone.soc or '?'}, "
        f"Android {phone.release} (SDK {phone.sdk})"
    )
    if phone.sdk < MIN_SDK:
        raise ToolchainError(
            f"{phone.model} runs Android {phone.release} (SDK {phone.sdk}); the app needs Android 8.0 "
            f"(SDK {MIN_SDK}) or newer"
        )
    accelerators = fit_accelerators(manifest, phone, options.accelerators, say)
    identity = bundle_identity(bundle, manifest)

    say(f"installing {options.apk.name}")
    adb.install(options.apk)
    remote_bundle = f"{DEVICE_BUNDLES}/{identity.name}"
    say(f"pushing {bundle} to {remote_bundle}")
    adb.shell(
        f"rm -rf {shlex.quote(remote_bundle)} && "
        f"mkdir -p {shlex.quote(DEVICE_BUNDLES)} {shlex.quote(DEVICE_RESULTS)}"
    )
    adb.push(bundle, remote_bundle)

    run_id = new_run_id(Source.DEVICE)
    remote_result = f"{DEVICE_RESULTS}/{run_id}.json"
    adb.shell(f"rm -f {shlex.quote(remote_result)}")
    names = ",".join(a.value for a in accelerators)
    say(f"starting {ACTIVITY}: {names}, {options.warmup} warm-up + {options.runs} runs")
    started = adb.shell(
        f"am start -W -n {ACTIVITY} --es bundle {shlex.quote(remote_bundle)} --ei runs {options.runs} "
        f"--ei warmup {options.warmup} --es accelerators {names} --es out {run_id}.json"
    )
    if "Error" in started:
        reason = next(line.strip() for line in started.splitlines() if "Error" in line)
        raise ToolchainError(
            f"the phone could not start {ACTIVITY} ({reason}); "
            "install a debug build of the app (`nox -s android`)"
        )

    with tempfile.TemporaryDirectory(prefix="edge-sdsr-bench-") as tmp:
        result = _wait(_Poller(adb, remote_result, Path(tmp)), options, deadline, say)
    if result.partial:
        if not options.partial:
            raise ToolchainError(
                f"the run on {phone.model} did not finish within {options.timeout_s:g} s "
                "(only a partial result); "
                "raise --timeout, or pass --partial to keep what finished"
            )
        if PARTIAL_NOTE not in result.notes:
            result = dataclasses.replace(result, notes=(PARTIAL_NOTE, *result.notes))
    _check_result(result, run_id, identity.manifest_sha256, phone, accelerators, options)
    return result


def _wait(poller: _Poller, options: DeviceBenchOptions, deadline: Deadline, say: Say) -> BenchResult:
    """Poll until a final result, the app's death or the deadline (partial result returned if allowed)."""
    start = time.monotonic()
    said = start
    while True:
        try:
            result = _poll(poller, options, start, say)
        except AdbTimeout as exc:  # the deadline cut a poll short: the app did not answer in time
            if not exc.budget_spent:
                raise
            result = None
        if result is not None:
            return result
        if deadline.expired:
            if poller.last_partial is not None:
                return poller.last_partial
            raise ToolchainError(
                f"no result from the app within {options.timeout_s:g} s (it is still running); "
                "raise --timeout, or see `adb logcat -s BenchmarkActivity`"
            )
        now = time.monotonic()
        if now - said >= PROGRESS_EVERY_S:
            said = now
            done = poller.last_partial
            so_far = f", {len(done.runs)} accelerator(s) done" if done is not None else ""
            say(f"waiting for the result ({now - start:.0f} s, {deadline.left():.0f} s left{so_far})")
        time.sleep(min(POLL_INTERVAL_S, deadline.left()))


def _poll(poller: _Poller, options: DeviceBenchOptions, start: float, say: Say) -> BenchResult | None:
    """One look at the phone: the final result, the partial one if the app died (``--partial``), or None."""
    result = poller.fetch()
    if result is not None or time.monotonic() - start < APP_START_GRACE_S or poller.app_running():
        return result
    result = poller.fetch()  # it may have finished between the two checks
    if result is not None:
        return result
    if poller.last_partial is not None and options.partial:
        say("warning: the app exited before finishing; keeping the partial result")
        return poller.last_partial
    raise ToolchainError(
        f"the app exited without writing a {'final ' if poller.last_partial else ''}result "
        f"(crashed?); see `adb logcat -s BenchmarkActivity AndroidRuntime`"
    )
