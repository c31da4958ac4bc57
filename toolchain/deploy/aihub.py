"""Qualcomm AI Hub client: compile one tile graph on AI Hub and profile it on one of its phones.

Flow: :func:`check_aihub_ready` (config file present, API host reachable within ~2 s),
then a compile job (``--target_runtime tflite|onnx|precompiled_qnn_onnx``) and a profiling
inference job on the compiled model, then the profile: ``estimated_inference_time`` (in
MICROSECONDS) and the compute unit of every layer (:func:`parse_profile`). ``toolchain export
--via aihub`` and ``toolchain bench aihub`` both profile through :func:`profile_on_aihub`; setting
the result beside the paper and published models is reporting (:mod:`toolchain.bench.aihub`).

``qai_hub`` (the qai-hub client) is imported only when a job is submitted: the rest of this
module, the reachability check included, works without it. Every REST call the client makes
goes through ``qai_hub.public_rest_api``, which is what the tests replace.
"""

from __future__ import annotations

import configparser
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolchain.errors import ToolchainError

RUNTIMES = ("tflite", "onnx", "precompiled_qnn_onnx")  # AI Hub --target_runtime values we use

# What the qai-hub client uses when client.ini names no api_url / web_url.
DEFAULT_API_URL = "https://workbench.aihub.qualcomm.com"
DEFAULT_WEB_URL = "https://workbench.aihub.qualcomm.com"
CONFIG_ENV = "QAIHUB_CLIENT_INI"
DEFAULT_CONFIG = "~/.qai_hub/client.ini"

_NOT_CONFIGURED = (
    "Qualcomm AI Hub is not configured: run `qai-hub configure --api_token TOKEN` "
    "(writes ~/.qai_hub/client.ini) or set QAIHUB_CLIENT_INI=path"
)
_COMPILABLE_SUFFIXES = (".onnx", ".pt2")  # compiled on AI Hub (a folder holding one .onnx also works)
_DIRECT_SUFFIXES = {".tflite": "tflite"}  # already a target model: profiled without a compile job
_MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class AihubProfile:
    """One AI Hub profiling result for one tile-sized graph."""

    device: str
    runtime: str
    compile_job_id: str | None  # None when a .tflite was profiled as is
    profile_job_id: str
    latency_ms_per_tile: float
    compute_units: dict[str, int]  # layers per compute unit, e.g. {"NPU": 120, "GPU": 0, "CPU": 0}
    peak_memory_bytes: int | None = None
    profile_job_url: str = ""

    @property
    def layers(self) -> int:
        return sum(self.compute_units.values())


@dataclass(frozen=True)
class _HubConfig:
    path: Path
    api_token: str
    api_url: str
    web_url: str
    default_project: str | None


# --- config and reachability -------------------------------------------------------------


def aihub_config_path() -> Path:
    """The client.ini the qai-hub client reads: ``$QAIHUB_CLIENT_INI``, else ``~/.qai_hub/client.ini``."""
    return Path(os.path.expanduser(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG)))


def _read_config() -> _HubConfig:
    path = aihub_config_path()
    if not path.is_file():
        if CONFIG_ENV in os.environ:
            raise ToolchainError(
                f"Qualcomm AI Hub is not configured: {CONFIG_ENV}={os.environ[CONFIG_ENV]} is not a file; "
                f"point it at a client.ini or run `qai-hub configure --api_token TOKEN`"
            )
        raise ToolchainError(_NOT_CONFIGURED)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as e:
        reason = " ".join(str(e).split())
        raise ToolchainError(
            f"cannot read Qualcomm AI Hub config {path}: {reason}; "
            f"rerun `qai-hub configure --api_token TOKEN`"
        ) from e
    section = parser["api"] if parser.has_section("api") else {}
    token = section.get("api_token", "").strip()
    if not token:
        raise ToolchainError(
            f"Qualcomm AI Hub config {path} has no api_token in an [api] section; "
            f"run `qai-hub configure --api_token TOKEN`"
        )
    return _HubConfig(
        path=path,
        api_token=token,
        api_url=section.get("api_url", "").strip() or DEFAULT_API_URL,
        web_url=section.get("web_url", "").strip() or DEFAULT_WEB_URL,
        default_project=section.get("default_project") or None,
    )


def _endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, None if it is not one."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _proxy_for(url: str, host: str) -> str | None:
    """The proxy requests would use for ``url`` (from the *_proxy environment variables), if any."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(urllib.parse.urlsplit(url).scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _connect_error(host: str, port: int, timeout_s: float) -> str | None:
    """Try one TCP connect, DNS lookup included, bounded by ``timeout_s`` overall.

    Returns None on success, else a short reason. The attempt runs in a daemon thread because
    ``getaddrinfo`` has no timeout of its own: a dead resolver must not hold the caller.
    """
    outcome: list[Exception | None] = []

    def attempt() -> None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except Exception as e:  # reported to the caller, never raised in the thread
            outcome.append(e)
        else:
            sock.close()
            outcome.append(None)

    worker = threading.Thread(target=attempt, name="aihub-reachability", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        return "timed out"
    error = outcome[0]
    if error is None:
        return None
    if isinstance(error, socket.gaierror):
        return f"DNS lookup of {host} failed"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return " ".join(str(error).split()) or type(error).__name__


def check_aihub_ready(timeout_s: float = 2.0) -> None:
    """Fail fast, with a one-line :class:`ToolchainError`, unless AI Hub jobs can be submitted.

    1. a client.ini with an api_token exists (``$QAIHUB_CLIENT_INI`` or ``~/.qai_hub/client.ini``);
    2. a TCP connection to its API host (or to the proxy named by the *_proxy environment
       variables) opens within ``timeout_s``, DNS lookup included. Offline, the qai-hub client
       itself only gives up after ~50 s of retries.
    """
    config = _read_config()
    endpoint = _endpoint(config.api_url)
    if endpoint is None:
        raise ToolchainError(
            f"api_url '{config.api_url}' in {config.path} is not an http(s) URL; "
            f"rerun `qai-hub configure --api_token TOKEN` or fix the file"
        )
    host, port = endpoint
    where = host if port in (80, 443) else f"{host}:{port}"
    proxy = _proxy_for(config.api_url, host)
    proxy_endpoint = _endpoint(proxy) if proxy is not None else None
    if proxy_endpoint is not None:  # requests would connect to the proxy, not to the API host
        where = f"{where} via proxy {proxy_endpoint[0]}:{proxy_endpoint[1]}"
        host, port = proxy_endpoint
    reason = _connect_error(host, port, timeout_s)
    if reason is not None:
        raise ToolchainError(
            f"cannot reach Qualcomm AI Hub at {where} within {timeout_s:g} s (no network? {reason}); "
            f"AI Hub profiling needs internet access; use --via local or retry online"
        )


# --- jobs ---------------------------------------------------------------------------------


def _one_line(text: object, limit: int = _MAX_REASON_CHARS) -> str:
    """Collapse the client's multi-line, boxed messages into one line."""
    words = str(text).replace("│", " ").replace("|", " ").split()
    line = " ".join(w for w in words if not set(w) <= set("┌┐└┘─"))
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def _import_hub() -> Any:
    try:
        import qai_hub
    except ImportError as e:
        raise ToolchainError(
            "the qai-hub client is not installed: `pip install qai-hub==0.56.0` (see constraints.txt)"
        ) from e
    return qai_hub


def _check_input_spec(input_spec: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    example = "{'lr': ((1, 3, 128, 128), 'float32')}"
    if not isinstance(input_spec, Mapping) or not input_spec:
        raise ToolchainError(f"AI Hub input_spec must map input names to (shape, dtype), e.g. {example}")
    spec: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, value in input_spec.items():
        try:
            shape, dtype = value
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise ToolchainError(
                f"AI Hub input_spec entry {name!r}={value!r} is not (shape, dtype); use e.g. {example}"
            ) from None
        if not shape or min(shape) < 1 or not isinstance(dtype, str):
            raise ToolchainError(
                f"AI Hub input_spec entry {name!r}={value!r} needs positive dims and a dtype name; "
                f"use e.g. {example}"
            )
        spec[str(name)] = (shape, dtype)
    return spec


def _raise_if_failed(kind: str, job: Any, status: Any) -> None:
    if status.success:
        return
    reason = _one_line(status.message or "no reason given")
    raise ToolchainError(
        f"AI Hub {kind} job {job.job_id} {status.code.lower()}: {reason}; full log: {job.url}"
    )


def parse_profile(profile: Mapping[str, Any]) -> tuple[float, dict[str, int], int | None]:
    """``download_profile()`` dict -> (ms per inference, layers per compute unit, peak bytes or None)."""
    summary = profile.get("execution_summary") or {}
    micros = summary.get("estimated_inference_time")
    if not micros or micros <= 0:
        raise ValueError("profile has no estimated_inference_time")
    units: dict[str, int] = {"NPU": 0, "GPU": 0, "CPU": 0}
    for layer in profile.get("execution_detail") or []:
        unit = str(layer.get("compute_unit") or "UNSPECIFIED")
        units[unit] = units.get(unit, 0) + 1
    peak = summary.get("estimated_inference_peak_memory")
    if not peak:
        peak_range = summary.get("inference_memory_peak_range")
        peak = peak_range[1] if isinstance(peak_range, list | tuple) and len(peak_range) == 2 else None
    return micros / 1000.0, units, int(peak) if peak else None


def _check_model(model_path: Path, runtime: str) -> bool:
    """Refuse what AI Hub cannot take, before the network; True when the model is profiled as is."""
    if runtime not in RUNTIMES:
        raise ToolchainError(f"unknown AI Hub runtime '{runtime}'; use one of {', '.join(RUNTIMES)}")
    if not model_path.exists():
        raise ToolchainError(f"model {model_path} not found; export the graph first")
    suffix = model_path.suffix.lower()
    direct = suffix in _DIRECT_SUFFIXES
    if direct and _DIRECT_SUFFIXES[suffix] != runtime:
        raise ToolchainError(
            f"{model_path.name} is already a {_DIRECT_SUFFIXES[suffix]} model and AI Hub cannot compile it "
            f"for {runtime}; pass the .onnx export or use runtime {_DIRECT_SUFFIXES[suffix]}"
        )
    if not direct and not model_path.is_dir() and suffix not in _COMPILABLE_SUFFIXES:
        raise ToolchainError(
            f"AI Hub cannot compile {model_path.name}; pass an .onnx or .pt2 export "
            f"(or a .tflite with runtime tflite)"
        )
    return direct


def _client(hub: Any, config: _HubConfig) -> Any:
    return hub.Client(
        config=hub.ClientConfig(
            api_token=config.api_token,
            api_url=config.api_url,
            web_url=config.web_url,
            verbose=False,  # no progress bars or \r status lines on stdout: `progress` reports instead
            default_project=config.default_project,
        )
    )


@dataclass(frozen=True)
class _Jobs:
    compile_job: Any  # None when the model was profiled as is
    profile_job: Any
    profile: Any  # download_profile()'s dict


def _run_jobs(
    hub: Any,
    model_path: Path,
    runtime: str,
    spec: dict[str, tuple[tuple[int, ...], str]],
    device_name: str,
    direct: bool,
    say: Callable[[str], None],
) -> _Jobs:
    """Submit the compile job (unless ``direct``: profiled as is) and the profile job; wait for both."""
    client = _client(hub, _read_config())
    device = hub.Device(device_name)
    compile_job = None
    if direct:
        target: Any = model_path
    else:
        say(f"AI Hub: uploading {model_path.name}, compiling for {runtime} ({device_name})")
        compile_job = client.submit_compile_job(
            model=model_path, device=device, input_specs=spec, options=f"--target_runtime {runtime}"
        )
        say(f"AI Hub: compile job {compile_job.job_id}: {compile_job.url}")
        _raise_if_failed("compile", compile_job, compile_job.wait())
        target = compile_job.get_target_model()
        if target is None:
            raise ToolchainError(
                f"AI Hub compile job {compile_job.job_id} succeeded but has no target model; "
                f"check {compile_job.url}"
            )
    say(f"AI Hub: profiling on {device_name}" + (f" ({model_path.name} as is)" if direct else ""))
    profile_job = client.submit_inference_job(target, device, inputs=None, profile=True)
    say(f"AI Hub: profile job {profile_job.job_id}: {profile_job.url}")
    _raise_if_failed("profile", profile_job, profile_job.wait())
    return _Jobs(compile_job, profile_job, profile_job.download_profile())


def profile_on_aihub(
    model_path: Path,
    runtime: str,
    input_spec: dict[str, tuple[tuple[int, ...], str]],
    device_name: str,
    progress: Callable[[str], None] | None = None,
) -> AihubProfile:
    """Compile ``model_path`` for ``runtime`` on AI Hub, profile it on ``device_name``, return the numbers.

    ``device_name`` is AI Hub's name of the phone, e.g. a target's
    :attr:`~toolchain.deploy.targets.Target.aihub_device`.

    ``model_path``: an .onnx / .pt2 file, or a folder holding one .onnx (+ .data), compiled with
    ``--target_runtime RUNTIME``; a .tflite is profiled as is (AI Hub cannot compile it).
    Blocks until both jobs finish (minutes; AI Hub times jobs out server-side).
    """
    model_path = Path(model_path)
    direct = _check_model(model_path, runtime)
    spec = _check_input_spec(input_spec)
    check_aihub_ready()
    hub = _import_hub()
    say = progress or (lambda _message: None)
    try:
        jobs = _run_jobs(hub, model_path, runtime, spec, device_name, direct, say)
    except hub.Error as e:  # UserError (bad token, unknown device, ...), InternalError, RateLimitedError
        raise ToolchainError(f"Qualcomm AI Hub request failed: {_one_line(e)}") from e
    except hub.public_rest_api.APIException as e:
        raise ToolchainError(f"Qualcomm AI Hub request failed: {_one_line(e)}") from e
    except ValueError as e:  # the client's "Failed to create ... job: <status>"
        raise ToolchainError(f"Qualcomm AI Hub rejected the job: {_one_line(e)}") from e

    profile_job = jobs.profile_job
    try:
        ms, units, peak = parse_profile(jobs.profile if isinstance(jobs.profile, Mapping) else {})
    except ValueError:
        raise ToolchainError(
            f"AI Hub profile job {profile_job.job_id} returned no inference time; check {profile_job.url}"
        ) from None
    return AihubProfile(
        device=device_name,
        runtime=runtime,
        compile_job_id=jobs.compile_job.job_id if jobs.compile_job is not None else None,
        profile_job_id=profile_job.job_id,
        latency_ms_per_tile=ms,
        compute_units=units,
        peak_memory_bytes=peak,
        profile_job_url=profile_job.url,
    )
