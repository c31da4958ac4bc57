"""Latency of one LR tile graph (128x128 -> 512x512 for the shipped models) on a real Galaxy S24
through Qualcomm AI Hub.

Flow: :func:`check_aihub_ready` (config file present, API host reachable within ~2 s),
then a compile job (``--target_runtime tflite|onnx|precompiled_qnn_onnx``) and a profiling
inference job on the compiled model, then the profile: ``estimated_inference_time`` (in
MICROSECONDS) and the compute unit of every layer. :func:`format_comparison` sets the result
beside the Edge-SD-SR paper and the SR models AI Hub publishes for the same phone; the tiles
per image come from :func:`toolchain.tiling.plan_tiles` for the graph's :class:`TileSpec`.

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
from toolchain.tiling import TileSpec, plan_tiles

AIHUB_DEVICE = "Samsung Galaxy S24 (Family)"  # Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75
RUNTIMES = ("tflite", "onnx", "precompiled_qnn_onnx")  # AI Hub --target_runtime values we use

# Edge-SD-SR paper: 38 ms per 128x128 -> 512x512 tile, 1.1 s per 512x512 -> 2048x2048 image.
PAPER_MS_PER_TILE = 38.0
PAPER_S_PER_512 = 1.1
PAPER_IMAGE_SIDE = 512  # the LR image side the paper's full-image time is for

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
class PublishedLatency:
    """A published on-device latency for one 128x128 -> 512x512 SR tile."""

    model: str
    params_m: float  # millions of parameters
    precision: str  # "float" or "w8a8"
    ms_per_tile: float
    source: str = "AI Hub model card, Galaxy S24 NPU, TFLite runtime"


AIHUB_PUBLISHED_SR: tuple[PublishedLatency, ...] = (
    PublishedLatency("Real-ESRGAN-general-x4v3", 1.21, "float", 4.26),
    PublishedLatency("Real-ESRGAN-general-x4v3", 1.21, "w8a8", 1.24),
    PublishedLatency("SRGAN", 1.55, "float", 12.0),
    PublishedLatency("SRGAN", 1.55, "w8a8", 4.55),
    PublishedLatency("Real-ESRGAN-x4plus", 16.7, "float", 49.0),
    PublishedLatency("Real-ESRGAN-x4plus", 16.7, "w8a8", 14.2),
    PublishedLatency("QuickSRNet-small", 0.033, "w8a8", 0.26),
)


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


def profile_on_aihub(
    model_path: Path,
    runtime: str,
    input_spec: dict[str, tuple[tuple[int, ...], str]],
    device_name: str = AIHUB_DEVICE,
    progress: Callable[[str], None] | None = None,
) -> AihubProfile:
    """Compile ``model_path`` for ``runtime`` on AI Hub, profile it on ``device_name``, return the numbers.

    ``model_path``: an .onnx / .pt2 file, or a folder holding one .onnx (+ .data), compiled with
    ``--target_runtime RUNTIME``; a .tflite is profiled as is (AI Hub cannot compile it).
    Blocks until both jobs finish (minutes; AI Hub times jobs out server-side).
    """
    say = progress or (lambda _message: None)
    model_path = Path(model_path)
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
    spec = _check_input_spec(input_spec)

    check_aihub_ready()
    config = _read_config()
    hub = _import_hub()
    client = hub.Client(
        config=hub.ClientConfig(
            api_token=config.api_token,
            api_url=config.api_url,
            web_url=config.web_url,
            verbose=False,  # no progress bars or \r status lines on stdout: `progress` reports instead
            default_project=config.default_project,
        )
    )
    try:
        device = hub.Device(device_name)
        compile_job = None
        if direct:
            target: Any = model_path
        else:
            say(f"AI Hub: uploading {model_path.name}, compiling for {runtime} ({device_name})")
            compile_job = client.submit_compile_job(
                model=model_path,
                device=device,
                input_specs=spec,
                options=f"--target_runtime {runtime}",
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
        profile = profile_job.download_profile()
    except hub.Error as e:  # UserError (bad token, unknown device, ...), InternalError, RateLimitedError
        raise ToolchainError(f"Qualcomm AI Hub request failed: {_one_line(e)}") from e
    except hub.public_rest_api.APIException as e:
        raise ToolchainError(f"Qualcomm AI Hub request failed: {_one_line(e)}") from e
    except ValueError as e:  # the client's "Failed to create ... job: <status>"
        raise ToolchainError(f"Qualcomm AI Hub rejected the job: {_one_line(e)}") from e

    try:
        ms, units, peak = parse_profile(profile if isinstance(profile, Mapping) else {})
    except ValueError:
        raise ToolchainError(
            f"AI Hub profile job {profile_job.job_id} returned no inference time; check {profile_job.url}"
        ) from None
    return AihubProfile(
        device=device_name,
        runtime=runtime,
        compile_job_id=compile_job.job_id if compile_job is not None else None,
        profile_job_id=profile_job.job_id,
        latency_ms_per_tile=ms,
        compute_units=units,
        peak_memory_bytes=peak,
        profile_job_url=profile_job.url,
    )


# --- reporting ----------------------------------------------------------------------------


def estimate_image_latency(ms_per_tile: float, tiles: int, blend_ms: float = 0.0) -> float:
    """Milliseconds for one image run tile by tile, sequentially: ``ms_per_tile * tiles + blend_ms``."""
    if ms_per_tile < 0 or blend_ms < 0:
        raise ValueError("latencies must be >= 0")
    if tiles < 1:
        raise ValueError("tiles must be >= 1")
    return ms_per_tile * tiles + blend_ms


def format_comparison(profile: AihubProfile, spec: TileSpec) -> str:
    """A small text table: our tile and image latency beside the paper and AI Hub's published SR models.

    ``spec`` is the tiling of the profiled graph; a ``PAPER_IMAGE_SIDE`` square image is
    ``plan_tiles(...).num_tiles`` of its tiles.
    """
    tiles = plan_tiles(PAPER_IMAGE_SIDE, PAPER_IMAGE_SIDE, spec).num_tiles
    lr, hr = spec.tile, spec.tile * spec.scale
    side, out_side = PAPER_IMAGE_SIDE, PAPER_IMAGE_SIDE * spec.scale
    rows: list[tuple[str, str, str, str]] = [
        (
            f"ours ({profile.runtime}, AI Hub job {profile.profile_job_id})",
            "",
            f"{profile.latency_ms_per_tile:.2f}",
            f"{estimate_image_latency(profile.latency_ms_per_tile, tiles) / 1000:.2f} ",
        ),
        ("Edge-SD-SR (paper)", "", f"{PAPER_MS_PER_TILE:.2f}", f"{PAPER_S_PER_512:.2f} "),
    ]
    for ref in AIHUB_PUBLISHED_SR:
        rows.append(
            (
                f"{ref.model} ({ref.params_m:g}M params)",
                ref.precision,
                f"{ref.ms_per_tile:.2f}",
                f"{estimate_image_latency(ref.ms_per_tile, tiles) / 1000:.2f}*",
            )
        )
    header = ("model", "precision", "ms/tile", "s/image ")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(r: tuple[str, str, str, str]) -> str:
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}".rstrip()

    units = ", ".join(f"{k} {v}" for k, v in profile.compute_units.items())
    memory = (
        f"; peak memory {profile.peak_memory_bytes / 2**20:.1f} MiB"
        if profile.peak_memory_bytes is not None
        else ""
    )
    return "\n".join(
        [
            f"{profile.device}: one {lr}x{lr} -> {hr}x{hr} tile; "
            f"image = {side}x{side} -> {out_side}x{out_side} as {tiles} tiles",
            line(header),
            *(line(r) for r in rows),
            f"our layers per compute unit: {units}{memory}",
            f"* published per-tile latency x {tiles} tiles (AI Hub's SR recipes resize, they do not tile); "
            f"the paper's {PAPER_S_PER_512:g} s is its measured full-image time",
        ]
    )
