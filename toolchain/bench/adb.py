"""A small adb client: every call has a timeout, every failure is a one-line error naming the fix.

Only the adb executable on PATH is used (Debian's ``adb`` package or the Android platform-tools).
Nothing here knows about the benchmark; :mod:`toolchain.bench.device` drives it.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import ToolchainError

CALL_TIMEOUT_S = 30.0
"""Limit for a quick adb call (devices, getprop, shell, pull of a small file)."""
TRANSFER_TIMEOUT_S = 600.0
"""Limit for install and push (an APK or a bundle of tens of MB over USB)."""

_NO_ADB = (
    "adb not found on PATH: install it (`apt-get install adb` on Debian/Ubuntu) or add the Android "
    "platform-tools folder to PATH"
)
_NO_DEVICE = (
    "no device: connect a phone by USB with USB debugging on (Settings > Developer options), "
    "then check that `adb devices` lists it"
)


@dataclass(frozen=True)
class AttachedDevice:
    """One line of ``adb devices``: serial and state (device, unauthorized, offline, ...)."""

    serial: str
    state: str


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class Adb:
    """Runs ``adb [-s SERIAL] ...`` with a timeout; ``serial`` is set once a device is chosen."""

    def __init__(self, executable: str, serial: str | None = None) -> None:
        self.executable = executable
        self.serial = serial

    @classmethod
    def find(cls) -> Adb:
        """The adb on PATH, or a one-line error saying how to install it."""
        executable = shutil.which("adb")
        if executable is None:
            raise ToolchainError(_NO_ADB)
        return cls(executable)

    def run(
        self, *args: str, timeout: float | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """``adb [-s serial] args...``; output as text. Raises on timeout, and on failure if ``check``.

        ``timeout`` defaults to :data:`CALL_TIMEOUT_S` (read at call time, so tests can shorten it).
        """
        timeout = CALL_TIMEOUT_S if timeout is None else timeout
        command = [self.executable, *(["-s", self.serial] if self.serial else []), *args]
        shown = "adb " + " ".join(shlex.quote(a) for a in args)
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"`{shown}` did not answer within {timeout:g} s; check the USB connection and "
                "`adb devices`, then retry (or `adb kill-server` if adb itself is stuck)"
            ) from None
        except OSError as exc:
            raise ToolchainError(f"cannot run {self.executable}: {exc.strerror or exc}") from None
        if check and done.returncode != 0:
            reason = _last_line(done.stderr or done.stdout)
            raise ToolchainError(f"`{shown}` failed (exit {done.returncode}): {reason}")
        return done

    def shell(self, command: str, timeout: float | None = None, check: bool = True) -> str:
        """``adb shell COMMAND``; returns stdout."""
        return self.run("shell", command, timeout=timeout, check=check).stdout

    def exists(self, remote: str) -> bool:
        """Whether ``remote`` exists on the device."""
        return self.run("shell", f"ls {shlex.quote(remote)}", check=False).returncode == 0

    def devices(self) -> list[AttachedDevice]:
        """Attached devices; starts the adb server first (its output does not go through a pipe)."""
        try:
            subprocess.run(
                [self.executable, "start-server"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=CALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"`adb start-server` did not answer within {CALL_TIMEOUT_S:g} s; "
                "run `adb kill-server` and retry"
            ) from None
        except OSError as exc:
            raise ToolchainError(f"cannot run {self.executable}: {exc.strerror or exc}") from None
        listing = Adb(self.executable).run("devices").stdout
        found = []
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) < 2 or line.startswith(("*", "List of devices")):
                continue
            found.append(AttachedDevice(parts[0], parts[1]))
        return found

    def choose(self, serial: str | None) -> str:
        """Pick the device to use (``serial`` or the only one attached) and check it is ready."""
        devices = self.devices()
        if serial is not None:
            chosen = next((d for d in devices if d.serial == serial), None)
            if chosen is None:
                attached = ", ".join(d.serial for d in devices) or "none"
                raise ToolchainError(
                    f"device {serial} is not attached (attached: {attached}); "
                    "check --serial and `adb devices`"
                )
        elif not devices:
            raise ToolchainError(_NO_DEVICE)
        elif len(devices) > 1:
            listed = ", ".join(f"{d.serial} ({d.state})" for d in devices)
            raise ToolchainError(f"several devices attached: {listed}; pick one with --serial")
        else:
            chosen = devices[0]
        if chosen.state == "unauthorized":
            raise ToolchainError(
                f"device {chosen.serial} is unauthorized: unlock the phone and accept the "
                "'Allow USB debugging' prompt, then retry"
            )
        if chosen.state == "offline":
            raise ToolchainError(
                f"device {chosen.serial} is offline: replug the cable or run `adb reconnect`, then retry"
            )
        if chosen.state != "device":
            raise ToolchainError(
                f"device {chosen.serial} is in state '{chosen.state}', not ready for apps; boot it normally "
                "with USB debugging on, then retry"
            )
        self.serial = chosen.serial
        return chosen.serial

    def getprops(self) -> dict[str, str]:
        """Every system property (one ``adb shell getprop`` call)."""
        props = {}
        for line in self.shell("getprop").splitlines():
            line = line.strip()
            if line.startswith("[") and "]: [" in line and line.endswith("]"):
                key, value = line[1:-1].split("]: [", 1)
                props[key] = value
        return props

    def install(self, apk: Path) -> None:
        """``adb install -r -t APK`` (replace, allow test packages)."""
        done = self.run("install", "-r", "-t", str(apk), timeout=TRANSFER_TIMEOUT_S, check=False)
        output = (done.stdout + "\n" + done.stderr).strip()
        if done.returncode != 0 or "Success" not in output:
            raise ToolchainError(
                f"installing {apk} failed: {_last_line(output)}; uninstall the app "
                "(`adb uninstall ai.edgesdsr.gallery`) if it is signed with another key, then retry"
            )

    def push(self, local: Path, remote: str) -> None:
        self.run("push", str(local), remote, timeout=TRANSFER_TIMEOUT_S)

    def pull(self, remote: str, local: Path) -> None:
        self.run("pull", remote, str(local))
