"""A small adb client: every call has a timeout, every failure is a one-line error naming the fix.

Only the adb executable on PATH is used (Debian's ``adb`` package or the Android platform-tools).
Nothing here knows about the benchmark; :mod:`toolchain.bench.device` drives it.

Each call runs in its own process group (a new session); on timeout the whole group is killed,
so children a hung adb started do not outlive it (nor keep its output pipes open). A
:class:`Deadline` bounds the whole run: each call gets at most the time it has left.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import ToolchainError

CALL_TIMEOUT_S = 30.0
"""Limit for a quick adb call (devices, getprop, shell, pull of a small file)."""
TRANSFER_TIMEOUT_S = 600.0
"""Limit for install and push (an APK or a bundle of tens of MB over USB)."""
REAP_TIMEOUT_S = 5.0
"""How long to wait for a killed call's output pipes to close."""

_NO_ADB = (
    "adb not found on PATH: install it (`apt-get install adb` on Debian/Ubuntu) or add the Android "
    "platform-tools folder to PATH"
)
_NO_DEVICE = (
    "no device: connect a phone by USB with USB debugging on (Settings > Developer options), "
    "then check that `adb devices` lists it"
)


@dataclass(frozen=True)
class Deadline:
    """The budget of a whole run (``--timeout``): no adb call or wait may go past ``end``."""

    budget_s: float
    end: float  # time.monotonic()

    @classmethod
    def start(cls, budget_s: float) -> Deadline:
        return cls(budget_s, time.monotonic() + budget_s)

    def left(self) -> float:
        """Seconds left (0 when spent)."""
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.left() <= 0.0


class AdbTimeout(ToolchainError):
    """An adb call that did not answer in time; ``budget_spent``: the run's deadline, not the
    call's own limit, cut it short."""

    def __init__(self, message: str, budget_spent: bool) -> None:
        super().__init__(message)
        self.budget_spent = budget_spent


def run_in_group(command: list[str], timeout: float, capture: bool) -> subprocess.CompletedProcess:
    """Run ``command`` in a new session (its own process group), output as text if ``capture``.

    On timeout (``subprocess.TimeoutExpired``) or any interruption the whole group is killed, so
    its children go too, before the exception propagates.
    """
    stream = subprocess.PIPE if capture else subprocess.DEVNULL
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=stream,
        stderr=stream,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:
            _kill_group(proc)
            raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout or "", stderr or "")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=REAP_TIMEOUT_S)


@dataclass(frozen=True)
class AttachedDevice:
    """One line of ``adb devices``: serial and state (device, unauthorized, offline, ...)."""

    serial: str
    state: str


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class Adb:
    """Runs ``adb [-s SERIAL] ...`` with a timeout; ``serial`` is set once a device is chosen.

    With a ``deadline`` no call runs past it: each gets the smaller of its own limit and the time left.
    """

    def __init__(self, executable: str, serial: str | None = None, deadline: Deadline | None = None) -> None:
        self.executable = executable
        self.serial = serial
        self.deadline = deadline

    @classmethod
    def find(cls, deadline: Deadline | None = None) -> Adb:
        """The adb on PATH, or a one-line error saying how to install it."""
        executable = shutil.which("adb")
        if executable is None:
            raise ToolchainError(_NO_ADB)
        return cls(executable, deadline=deadline)

    def run(
        self, *args: str, timeout: float | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """``adb [-s serial] args...``; output as text. Raises on timeout, and on failure if ``check``.

        ``timeout`` defaults to :data:`CALL_TIMEOUT_S` (read at call time, so tests can shorten it).
        """
        command = [self.executable, *(["-s", self.serial] if self.serial else []), *args]
        shown = "adb " + " ".join(shlex.quote(a) for a in args)
        done = self._bounded(command, shown, timeout, capture=True)
        if check and done.returncode != 0:
            reason = _last_line(done.stderr or done.stdout)
            raise ToolchainError(f"`{shown}` failed (exit {done.returncode}): {reason}")
        return done

    def _bounded(
        self, command: list[str], shown: str, timeout: float | None, capture: bool
    ) -> subprocess.CompletedProcess:
        """:func:`run_in_group` within the call's limit and the run's deadline; one-line errors."""
        limit = CALL_TIMEOUT_S if timeout is None else timeout
        by_deadline = self.deadline is not None and self.deadline.left() <= limit
        if by_deadline:
            limit = self.deadline.left()
            if limit <= 0:
                raise AdbTimeout(
                    f"the --timeout of {self.deadline.budget_s:g} s ran out before `{shown}`; "
                    "raise --timeout",
                    budget_spent=True,
                )
        try:
            return run_in_group(command, limit, capture)
        except subprocess.TimeoutExpired:
            if by_deadline:
                raise AdbTimeout(
                    f"`{shown}` did not answer within the --timeout of {self.deadline.budget_s:g} s "
                    "for the whole run; raise --timeout, or check the USB connection and `adb devices`",
                    budget_spent=True,
                ) from None
            raise AdbTimeout(
                f"`{shown}` did not answer within {limit:g} s; check the USB connection and "
                "`adb devices`, then retry (or `adb kill-server` if adb itself is stuck)",
                budget_spent=False,
            ) from None
        except OSError as exc:
            raise ToolchainError(f"cannot run {self.executable}: {exc.strerror or exc}") from None

    def shell(self, command: str, timeout: float | None = None, check: bool = True) -> str:
        """``adb shell COMMAND``; returns stdout."""
        return self.run("shell", command, timeout=timeout, check=check).stdout

    def exists(self, remote: str) -> bool:
        """Whether ``remote`` exists on the device."""
        return self.run("shell", f"ls {shlex.quote(remote)}", check=False).returncode == 0

    def devices(self) -> list[AttachedDevice]:
        """Attached devices; starts the adb server first (its output does not go through a pipe)."""
        self._bounded([self.executable, "start-server"], "adb start-server", None, capture=False)
        listing = Adb(self.executable, deadline=self.deadline).run("devices").stdout
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
