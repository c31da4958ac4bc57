"""`toolchain bench aihub`: profile a bundle's NPU graph on a Qualcomm AI Hub phone, as a bench result.

AI Hub cannot take our QNN context binary as it is (the bundle's was compiled by a newer QNN than
AI Hub may run), so the graph uploaded is the bundle's QDQ ONNX graph: the quantized graph the NPU
graph was compiled from. AI Hub compiles it for ``runtime`` (default ``precompiled_qnn_onnx``: a QNN
context binary on the Hexagon NPU, as the app runs it) and profiles it on the device. The per-tile
latency is the profile's ``estimated_inference_time`` (microseconds, turned into ms by
:func:`toolchain.deploy.aihub.parse_profile`); the per-image latency is *computed* from the tile
plan of the 512x512 image (:func:`toolchain.tiling.plan_tiles`), never measured, and says so.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path

from toolchain.bench.host import toolchain_tool
from toolchain.bench.results import (
    SCHEMA_VERSION,
    Accelerator,
    BenchResult,
    DeviceInfo,
    Memory,
    MemoryKind,
    RunResult,
    RunStatus,
    Source,
    Subject,
    Timing,
    Version,
    Workload,
    bundle_identity,
    computed_image,
    new_run_id,
)
from toolchain.deploy.aihub import RUNTIMES, AihubProfile, profile_on_aihub
from toolchain.deploy.bundle import verify_bundle
from toolchain.deploy.manifest import GraphFile, GraphRole, Manifest
from toolchain.deploy.targets import TARGETS, Artifact
from toolchain.errors import ToolchainError
from toolchain.provenance import utc_now

DEFAULT_RUNTIME = "precompiled_qnn_onnx"
IMAGE_SIDE = 512
_UNITS = {"NPU": Accelerator.NPU, "GPU": Accelerator.GPU, "CPU": Accelerator.CPU}


def npu_source_graph(manifest: Manifest, where: str, file: str | None = None) -> GraphFile:
    """The ONNX graph to upload: ``file``, else the bundle's QDQ ONNX of the NPU graphs' precision."""
    onnx = [g for g in manifest.graphs if g.artifact is Artifact.ONNX]
    if file is not None:
        graph = next((g for g in manifest.graphs if g.file == file), None)
        if graph is None or graph.artifact is not Artifact.ONNX:
            offered = ", ".join(g.file for g in onnx) or "none"
            raise ToolchainError(f"{where} has no ONNX graph {file}; its ONNX graphs: {offered}")
        return graph
    npu_precisions = {g.precision for g in manifest.graphs if g.role is GraphRole.NPU}
    matching = [g for g in onnx if g.precision in npu_precisions] or onnx
    if not matching:
        raise ToolchainError(
            f"{where} has no ONNX graph for AI Hub to compile (target {manifest.target}); "
            "export an NPU target with ONNX graphs (e.g. `toolchain export --target s24-dsp`)"
        )
    return matching[0]


def _ran_on(profile: AihubProfile) -> tuple[Accelerator, str | None]:
    """The compute unit most layers ran on, and why that is not the NPU (None when it is)."""
    counts = {unit: n for unit, n in profile.compute_units.items() if unit in _UNITS and n > 0}
    if counts.get("NPU", 0) > 0:
        return Accelerator.NPU, None
    if not counts:
        return Accelerator.NPU, None
    unit = max(counts, key=lambda u: counts[u])
    return _UNITS[unit], f"AI Hub placed no layer on the NPU ({unit} ran {counts[unit]} layers)"


def aihub_result(
    bundle_dir: Path, manifest: Manifest, graph: GraphFile, profile: AihubProfile
) -> BenchResult:
    """An AI Hub profile of ``graph`` as a :class:`BenchResult` (image latency computed from the plan)."""
    workload = Workload.for_image(manifest.parsed_tile_spec(), IMAGE_SIDE, IMAGE_SIDE)
    tile = Timing(0, (profile.latency_ms_per_tile,))
    ran_on, reason = _ran_on(profile)
    units = ", ".join(f"{unit} {n}" for unit, n in profile.compute_units.items())
    jobs = f"profile job {profile.profile_job_id}" + (
        f" (compile job {profile.compile_job_id})" if profile.compile_job_id else ""
    )
    run = RunResult(
        label=f"npu-aihub-{profile.runtime}",
        subject=Subject.OURS,
        requested=Accelerator.NPU,
        ran_on=ran_on,
        runtime=f"aihub-{profile.runtime}",
        graph=graph.file,
        status=RunStatus.OK,
        reason=reason,
        load_ms=None,
        tile=tile,
        image=computed_image(tile, workload),
        memory=(
            Memory(MemoryKind.AIHUB_ESTIMATE, profile.peak_memory_bytes)
            if profile.peak_memory_bytes
            else None
        ),
        notes=(
            f"tile latency: AI Hub estimated_inference_time of {jobs}",
            f"layers per compute unit: {units}",
            f"AI Hub compiled the bundle's {graph.precision.value} QDQ graph for {profile.runtime}",
            *((profile.profile_job_url,) if profile.profile_job_url else ()),
        ),
    )
    try:
        client = (Version("qai-hub", importlib.metadata.version("qai-hub")),)
    except importlib.metadata.PackageNotFoundError:
        client = ()
    return BenchResult(
        schema_version=SCHEMA_VERSION,
        source=Source.AIHUB,
        run_id=new_run_id(Source.AIHUB),
        created_utc=utc_now(),
        partial=False,
        tool=toolchain_tool(),
        versions=client,
        device=DeviceInfo(profile.device, None, None, "Android (Qualcomm AI Hub device)", None, None, ()),
        bundle=bundle_identity(bundle_dir, manifest),
        workload=workload,
        runs=(run,),
        ratios=(),
        notes=(
            f"per-image latency computed as {workload.image_tiles} tiles (the plan of a {IMAGE_SIDE}x"
            f"{IMAGE_SIDE} image) x the profiled tile latency, not measured: no blending, no I/O",
        ),
    )


def aihub_device_for(manifest: Manifest, where: str) -> str:
    """The AI Hub phone of the bundle's target (:attr:`Target.aihub_device`)."""
    target = TARGETS.get(manifest.target)
    if target is None:
        raise ToolchainError(
            f"{where} is for target '{manifest.target}', which has no known AI Hub phone; "
            "pass --device with an AI Hub device name"
        )
    return target.aihub_device


def bench_aihub(
    bundle_dir: Path,
    device: str | None = None,
    runtime: str = DEFAULT_RUNTIME,
    graph_file: str | None = None,
    say: Callable[[str], None] | None = None,
) -> BenchResult:
    """Verify ``bundle_dir``, profile its NPU source graph on AI Hub ``device`` (default: the phone
    of the bundle's target), return the result."""
    if runtime not in RUNTIMES:
        raise ToolchainError(f"unknown AI Hub runtime '{runtime}'; use one of {', '.join(RUNTIMES)}")
    bundle_dir = Path(bundle_dir)
    manifest = verify_bundle(bundle_dir)
    where = f"bundle {bundle_dir}"
    graph = npu_source_graph(manifest, where, graph_file)
    tensor = graph.inputs[0]
    profile = profile_on_aihub(
        bundle_dir / graph.file,
        runtime,
        {tensor.name: (tensor.shape, tensor.dtype)},
        device or aihub_device_for(manifest, where),
        say,
    )
    return aihub_result(bundle_dir, manifest, graph, profile)
