"""A fake ``adb`` that simulates one or more phones, for the device-bench tests (stdlib only).

The tests put an ``adb`` wrapper that runs this script first on PATH and point ``FAKE_ADB_STATE`` at
a folder holding ``config.json``::

    {"devices": [["SERIAL", "device"]],         adb devices: serial and state
     "props": {"ro.product.model": ...},       adb shell getprop
     "vendor_libs": ["libQnnHtp.so", ...],     adb shell ls /vendor/lib64
     "mode": "ok",                             what the benchmark activity does (below)
     "hang": null,                             a shell command word that never answers, e.g. "getprop"
     "hang_child": false,                      the hung call first starts a child that sleeps 30 s
                                               holding adb's output pipes (pid in hang_child.pid)
     "banner": false,                          adb devices first prints the server start-up lines
     "template": "/path/device_result.json"}   the result the app writes, adapted to the request

The phone's storage is ``FAKE_ADB_STATE/fs`` (``/sdcard/...`` -> ``fs/sdcard/...``); every call is
appended to ``calls.log`` as a JSON list. Modes of ``am start`` of the benchmark activity:

- ``ok``: writes the final result, the app exits;
- ``crash``: writes nothing, the app is gone;
- ``timeout``: writes nothing, the app keeps running;
- ``partial``: writes a partial result (first accelerator only), the app keeps running;
- ``partial-crash``: writes a partial result, then the app is gone;
- ``malformed``: writes text that is not JSON; ``bad-schema``: JSON without the ``partial`` key;
- ``no-activity``: ``am start`` answers that the activity does not exist.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ["FAKE_ADB_STATE"])
CONFIG = json.loads((STATE / "config.json").read_text())
FS = STATE / "fs"
PACKAGE = "ai.edgesdsr.gallery"


def local(remote: str) -> Path:
    return FS / remote.lstrip("/")


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def pick_device(serial: str | None) -> None:
    devices = {s: state for s, state in CONFIG["devices"]}
    if serial is None:
        if not devices:
            fail("adb: no devices/emulators found")
        if len(devices) > 1:
            fail("adb: more than one device/emulator")
        serial = next(iter(devices))
    if serial not in devices:
        fail(f"adb: device '{serial}' not found")
    if devices[serial] == "unauthorized":
        fail("adb: device unauthorized.")
    if devices[serial] == "offline":
        fail("adb: device offline")


def write_result(name: str, bundle_dir: str, accelerators: list[str], runs: int, warmup: int) -> None:
    mode = CONFIG["mode"]
    out = local(f"/sdcard/Android/data/{PACKAGE}/files/bench/{name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if mode == "malformed":
        out.write_text('{"schema_version": "1.0", "source": ')
        return
    result = json.loads(Path(CONFIG["template"]).read_text())
    props = CONFIG["props"]
    manifest_path = local(bundle_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    result["run_id"] = name.removesuffix(".json")
    result["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["device"].update(
        name=props["ro.product.model"],
        manufacturer=props["ro.product.manufacturer"],
        soc=props.get("ro.soc.model"),
        os=f"Android {props['ro.build.version.release']}",
        android_sdk=int(props["ro.build.version.sdk"]),
        qnn_libs=sorted(CONFIG["vendor_libs"]),
    )
    result["bundle"] = {
        "name": Path(bundle_dir).name,
        "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
        "schema_version": manifest["schema_version"],
        "target": manifest["target"],
        "soc": manifest["soc"],
        "model_id": manifest["model_id"],
    }
    by_label = {run["label"]: run for run in result["runs"]}
    chosen = [by_label[a] for a in accelerators]
    for run in chosen:
        if run["tile"] is not None:
            run["tile"] = {
                "warmup": warmup,
                "runs_ms": list(itertools.islice(itertools.cycle(run["tile"]["runs_ms"]), runs)),
            }
    partial = mode in ("partial", "partial-crash")
    result["runs"] = chosen[:1] if partial else chosen
    result["partial"] = partial
    if mode == "bad-schema":
        del result["partial"]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)


def am_start(words: list[str]) -> None:
    component = words[words.index("-n") + 1]
    if CONFIG["mode"] == "no-activity" or component != f"{PACKAGE}/.BenchmarkActivity":
        print(f"Starting: Intent {{ cmp={component} }}")
        print("Error type 3")
        print(f"Error: Activity class {{{component}}} does not exist.")
        return
    extras = {}
    for i, word in enumerate(words):
        if word in ("--es", "--ei"):
            key, value = words[i + 1], words[i + 2]
            extras[key] = int(value) if word == "--ei" else value
    (STATE / "app_running").write_text("1" if CONFIG["mode"] in ("timeout", "partial") else "0")
    print(f"Status: ok\nLaunchState: COLD\nActivity: {component}\nWaitTime: 412\nComplete")
    if CONFIG["mode"] not in ("crash", "timeout"):
        write_result(
            extras["out"],
            extras["bundle"],
            extras["accelerators"].split(","),
            extras["runs"],
            extras["warmup"],
        )


def shell(command: str) -> None:
    for part in command.split("&&"):
        words = shlex.split(part)
        if CONFIG.get("hang") == words[0]:
            if CONFIG.get("hang_child"):  # what a real adb's helper would do: outlive it, pipes open
                child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
                (STATE / "hang_child.pid").write_text(str(child.pid))
            time.sleep(60)
        if words[0] == "getprop":
            for key, value in CONFIG["props"].items():
                print(f"[{key}]: [{value}]")
        elif words[0] == "ls":
            path = words[1]
            if path == "/vendor/lib64":
                print("\n".join(["libc++.so", *CONFIG["vendor_libs"]]))
            elif not local(path).exists():
                fail(f"ls: {path}: No such file or directory")
            else:
                print(path)
        elif words[0] == "rm":
            for path in words[2:]:
                target = local(path)
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        elif words[0] == "mkdir":
            for path in words[2:]:
                local(path).mkdir(parents=True, exist_ok=True)
        elif words[0] == "am" and words[1] == "start":
            am_start(words)
        elif words[0] == "pidof":
            running = (STATE / "app_running").exists() and (STATE / "app_running").read_text() == "1"
            if not running:
                sys.exit(1)
            print("12345")
        else:
            fail(f"fake adb: unsupported shell command {part!r}")


def main(argv: list[str]) -> None:
    with (STATE / "calls.log").open("a") as log:
        log.write(json.dumps(argv) + "\n")
    serial = None
    if argv[:1] == ["-s"]:
        serial, argv = argv[1], argv[2:]
    command = argv[0]
    if command == "start-server":
        return
    if command == "devices":
        if CONFIG.get("banner"):  # what a real adb prints when it had to start its server
            print("* daemon not running; starting now at tcp:5037\n* daemon started successfully")
        print("List of devices attached")
        for s, state in CONFIG["devices"]:
            print(f"{s}\t{state}")
        print()
        return
    pick_device(serial)
    if command == "shell":
        shell(" ".join(argv[1:]))
    elif command == "install":
        if not Path(argv[-1]).is_file():
            fail(f"adb: failed to stat {argv[-1]}: No such file or directory")
        print("Performing Streamed Install\nSuccess")
    elif command == "push":
        source, target = Path(argv[1]), local(argv[2])
        if target.is_dir():
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
        print(f"{argv[1]}: 1 file pushed.")
    elif command == "pull":
        source = local(argv[1])
        if not source.exists():
            fail(f"adb: error: failed to stat remote object '{argv[1]}': No such file or directory")
        shutil.copy(source, argv[2])
        print(f"{argv[1]}: 1 file pulled.")
    else:
        fail(f"fake adb: unsupported command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
