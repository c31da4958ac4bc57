"""AI Hub results set beside the Edge-SD-SR paper and the SR models AI Hub publishes for the same phone.

The profiling itself is the AI Hub client's (:mod:`toolchain.deploy.aihub`); this module reports:
:func:`format_comparison` puts one :class:`AihubProfile` beside the paper's 38 ms per tile and the
published latencies of other SR models; the tiles per image come from
:func:`toolchain.tiling.plan_tiles` for the graph's :class:`TileSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolchain.deploy.aihub import AihubProfile
from toolchain.tiling import TileSpec, plan_tiles

# Edge-SD-SR paper: 38 ms per 128x128 -> 512x512 tile, 1.1 s per 512x512 -> 2048x2048 image.
PAPER_MS_PER_TILE = 38.0
PAPER_S_PER_512 = 1.1
PAPER_IMAGE_SIDE = 512  # the LR image side the paper's full-image time is for


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
