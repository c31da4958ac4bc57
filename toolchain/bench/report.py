"""`toolchain bench report`: any set of benchmark results as one offline HTML page and a markdown summary.

The page holds, for every result file: the device and bundle identity (manifest sha256 and schema,
so runs can be compared over time), median and p90 per tile and per image for every run, the
speedups against the peers, and one plot (matplotlib PNG embedded as base64: the page opens
offline) of tile and image latency per run and device, with the paper's marks (38 ms per tile,
1.1 s per 512 -> 2048 image) and the latencies AI Hub publishes for other SR models on the S24,
labelled as published, not measured here. A partial result is refused unless asked for, and then
the report says so at the top.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain.atomic import write_text_atomic
from toolchain.bench.aihub import AIHUB_PUBLISHED_SR, PAPER_MS_PER_TILE, PAPER_S_PER_512
from toolchain.bench.results import BenchResult, ImageMethod, RatioBasis, RunResult, RunStatus, read_result
from toolchain.errors import ToolchainError

PUBLISHED_NOTE = "published, not measured here"
PAPER_IMAGE_MS = PAPER_S_PER_512 * 1000.0


def load_results(paths: Sequence[Path], allow_partial: bool) -> list[BenchResult]:
    """Read and validate every result; a partial one is an error unless ``allow_partial``."""
    if not paths:
        raise ToolchainError("no result files given; pass the JSON files written by `toolchain bench`")
    results = []
    for path in paths:
        result = read_result(path)
        if result.partial and not allow_partial:
            raise ToolchainError(
                f"result {path} is from a partial run (not every requested accelerator finished); "
                "rerun the benchmark, or pass --partial to report it marked as partial"
            )
        results.append(result)
    return results


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


@dataclass(frozen=True)
class Row:
    """One run as a table row (strings ready to print)."""

    where: str
    label: str
    accelerator: str
    runtime: str
    tile_median: str
    tile_p90: str
    image_median: str
    image_p90: str
    load: str
    peak: str
    remark: str


def _where(result: BenchResult) -> str:
    soc = f" ({result.device.soc})" if result.device.soc else ""
    return f"{result.source.value}: {result.device.name}{soc}"


def _row(result: BenchResult, run: RunResult) -> Row:
    if run.ran_on is None:
        accelerator = f"{run.requested.value}: not run"
    elif run.ran_on is run.requested:
        accelerator = run.ran_on.value
    else:
        accelerator = f"{run.ran_on.value} (asked {run.requested.value})"
    tile_median = tile_p90 = image_median = image_p90 = ""
    if run.tile is not None:
        tile_median, tile_p90 = _ms(run.tile.median_ms), _ms(run.tile.p90_ms)
    if run.image is not None:
        image_median, image_p90 = _ms(run.image.median_ms), _ms(run.image.p90_ms)
        if run.image.method is ImageMethod.COMPUTED:
            image_median, image_p90 = f"{image_median} (computed)", ""
    remarks = [run.reason] if run.reason else []
    remarks += list(run.notes)
    return Row(
        where=_where(result),
        label=run.label,
        accelerator=accelerator,
        runtime=run.runtime or "",
        tile_median=tile_median,
        tile_p90=tile_p90,
        image_median=image_median,
        image_p90=image_p90,
        load="" if run.load_ms is None else _ms(run.load_ms),
        peak="" if run.memory is None else f"{run.memory.peak_bytes / 2**20:.0f} ({run.memory.kind.value})",
        remark="; ".join(remarks),
    )


HEADERS = (
    "where",
    "run",
    "accelerator",
    "runtime",
    "tile median ms",
    "tile p90 ms",
    "image median ms",
    "image p90 ms",
    "load ms",
    "peak MiB",
    "remarks",
)


def rows(results: Sequence[BenchResult]) -> list[Row]:
    return [_row(result, run) for result in results for run in result.runs]


def reference_rows(tiles: int) -> list[Row]:
    """The paper and AI Hub's published S24 latencies (per tile; image = tiles x tile for AI Hub's)."""
    out = [
        Row(
            "paper: Galaxy S24 (SM8650)",
            "Edge-SD-SR (paper)",
            "npu",
            "",
            _ms(PAPER_MS_PER_TILE),
            "",
            _ms(PAPER_IMAGE_MS),
            "",
            "",
            "",
            PUBLISHED_NOTE,
        )
    ]
    for ref in AIHUB_PUBLISHED_SR:
        out.append(
            Row(
                "AI Hub: Samsung Galaxy S24",
                f"{ref.model} {ref.precision}",
                "npu",
                "tflite",
                _ms(ref.ms_per_tile),
                "",
                f"{_ms(ref.ms_per_tile * tiles)} (computed)",
                "",
                "",
                "",
                f"{PUBLISHED_NOTE} ({ref.source}; {ref.params_m:g}M params)",
            )
        )
    return out


def _markdown_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return lines


def _ratio_rows(results: Sequence[BenchResult]) -> list[tuple[str, str, str, str, str]]:
    """One row per (ours, peer): the tile and image speedups."""
    table: dict[tuple[str, str, str], dict[RatioBasis, str]] = {}
    for r in results:
        for ratio in r.ratios:
            key = (_where(r), ratio.ours, ratio.peer)
            table.setdefault(key, {})[ratio.per] = f"{ratio.speedup:.3g}x"
    return [(*key, per.get(RatioBasis.TILE, ""), per.get(RatioBasis.IMAGE, "")) for key, per in table.items()]


RATIO_HEADERS = ("where", "ours", "peer", "tile speedup", "image speedup")


def _partial_banner(results: Sequence[BenchResult]) -> str | None:
    partial = [r.run_id for r in results if r.partial]
    if not partial:
        return None
    return f"PARTIAL RUN: {', '.join(partial)} did not finish every requested accelerator"


def markdown_summary(results: Sequence[BenchResult]) -> str:
    """The terminal summary: one table of every run, the speedups, the identities and the notes."""
    lines = []
    banner = _partial_banner(results)
    if banner:
        lines += [f"**{banner}**", ""]
    workloads = sorted({_workload_text(r) for r in results})
    lines += [f"Workload: {w}" for w in workloads] + [""]
    lines += _markdown_table(HEADERS, [tuple(vars(row).values()) for row in rows(results)])
    ratios = _ratio_rows(results)
    if ratios:
        lines += ["", "Speedup = peer median / ours median (> 1: ours is faster):", ""]
        lines += _markdown_table(RATIO_HEADERS, ratios)
    lines += ["", "Identity:"]
    for r in results:
        lines.append(f"- {r.run_id}: {_identity_text(r)}")
        lines += [f"  - note: {note}" for note in r.notes]
    return "\n".join(lines) + "\n"


def _workload_text(result: BenchResult) -> str:
    w = result.workload
    return (
        f"tile {w.tile}x{w.tile} -> {w.tile * w.scale}x{w.tile * w.scale}; image {w.image_width}x"
        f"{w.image_height} -> {w.image_width * w.scale}x{w.image_height * w.scale} as {w.image_tiles} tiles "
        f"(overlap {w.overlap})"
    )


def _identity_text(r: BenchResult) -> str:
    d, b = r.device, r.bundle
    os_text = f", {d.os}" + (f" (SDK {d.android_sdk})" if d.android_sdk is not None else "")
    libs = f", QNN libs: {', '.join(d.qnn_libs)}" if d.qnn_libs else ""
    versions = ", ".join(f"{v.name} {v.version}" for v in r.versions)
    commit = f" {r.tool.git_commit[:12]}" if r.tool.git_commit else ""
    return (
        f"{r.source.value} on {d.name}"
        + (f" ({d.manufacturer})" if d.manufacturer else "")
        + (f", SoC {d.soc}" if d.soc else "")
        + os_text
        + libs
        + f"; bundle {b.name} (model {b.model_id}, target {b.target}, manifest sha256 {b.manifest_sha256}, "
        f"schema {b.schema_version}); written by {r.tool.name} {r.tool.version}{commit} at {r.created_utc}"
        + (f"; {versions}" if versions else "")
    )


def plot_png(results: Sequence[BenchResult]) -> bytes:
    """Tile and image latency (median, whisker to p90) per run and device, log scale, with the marks."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ToolchainError("matplotlib is needed for the report: pip install -e '.[bench]'") from None
    measured = [(r, run) for r in results for run in r.runs if run.status is RunStatus.OK]
    tiles = results[0].workload.image_tiles
    bars: list[tuple[str, float | None, float | None, float | None, float | None, str]] = []
    for r, run in measured:
        tile = run.tile
        image = run.image
        computed = image is not None and image.method is ImageMethod.COMPUTED
        bars.append(
            (
                f"{r.device.name} · {run.label} ({run.ran_on.value if run.ran_on else '-'})",
                tile.median_ms if tile else None,
                tile.p90_ms if tile else None,
                image.median_ms if image else None,
                None if image is None or computed else image.p90_ms,
                "computed" if computed else run.subject.value,
            )
        )
    for ref in AIHUB_PUBLISHED_SR:
        label = f"AI Hub S24 · {ref.model} {ref.precision} ({PUBLISHED_NOTE})"
        bars.append((label, ref.ms_per_tile, None, ref.ms_per_tile * tiles, None, "published"))
    colours = {"ours": "#1f77b4", "peer": "#ff7f0e", "computed": "#9ecae1", "published": "#bbbbbb"}
    height = max(3.0, 0.32 * len(bars) + 1.5)
    fig = Figure(figsize=(13, height), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(bars)))
    for ax, (median_i, p90_i, title, mark, mark_label) in zip(
        axes,
        (
            (1, 2, "per tile (ms)", PAPER_MS_PER_TILE, f"paper {PAPER_MS_PER_TILE:g} ms"),
            (3, 4, "per image (ms)", PAPER_IMAGE_MS, f"paper {PAPER_S_PER_512:g} s"),
        ),
        strict=True,
    ):
        for y, bar in zip(ys, bars, strict=True):
            median, p90 = bar[median_i], bar[p90_i]
            if median is None:
                continue
            hatch = "//" if bar[5] in ("computed", "published") else None
            ax.barh(y, median, color=colours[bar[5]], hatch=hatch, edgecolor="#555555", linewidth=0.5)
            if p90 is not None and p90 > median:
                ax.plot([median, p90], [y, y], color="black", linewidth=1)
        ax.axvline(mark, color="#d62728", linestyle="--", linewidth=1.2, label=mark_label)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(ys, [b[0] for b in bars], fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(
        "Latency: median bars, p90 whiskers; hatched = computed from tiles or published", fontsize=10
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _html_table(headers: Sequence[str], body: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>'


_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
table.reference td { color: #666; font-style: italic; }
.partial { background: #fde2e1; border: 2px solid #d62728; padding: 0.6em; font-weight: bold; }
img { max-width: 100%; }
"""


def render_html(results: Sequence[BenchResult]) -> str:
    """The whole report as one self-contained HTML page (no external resources)."""
    png = base64.b64encode(plot_png(results)).decode("ascii")
    banner = _partial_banner(results)
    tiles = results[0].workload.image_tiles
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Edge-SD-SR latency report</title>',
        f"<style>{_CSS}</style></head><body>",
    ]
    if banner:
        parts.append(f'<p class="partial">{html.escape(banner)}</p>')
    parts.append("<h1>Edge-SD-SR latency report</h1>")
    parts += [f"<p>Workload: {html.escape(_workload_text(r))}</p>" for r in results[:1]]
    parts.append(f'<img alt="latency per run and device" src="data:image/png;base64,{png}">')
    parts.append("<h2>Measured</h2>")
    parts.append(_html_table(HEADERS, [tuple(vars(row).values()) for row in rows(results)]))
    ratios = _ratio_rows(results)
    if ratios:
        parts.append(
            "<h2>Speedup against the peers</h2><p>peer median / ours median (&gt; 1: ours is faster)</p>"
        )
        parts.append(_html_table(RATIO_HEADERS, ratios))
    parts.append(f"<h2>Reference ({html.escape(PUBLISHED_NOTE)})</h2>")
    parts.append(
        _html_table(HEADERS, [tuple(vars(row).values()) for row in reference_rows(tiles)], "reference")
    )
    parts.append("<h2>Device and bundle identity</h2><ul>")
    for r in results:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in r.notes)
        parts.append(
            f"<li><b>{html.escape(r.run_id)}</b>: {html.escape(_identity_text(r))}"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</li>"
        )
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


def write_report(results: Sequence[BenchResult], html_path: Path) -> tuple[Path, Path]:
    """Write ``html_path`` and the markdown summary beside it (``.md``), both atomically."""
    html_path = Path(html_path)
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise ToolchainError(f"report {html_path} must end in .html; pass -o report.html")
    md_path = html_path.with_suffix(".md")
    write_text_atomic(html_path, render_html(results))
    write_text_atomic(md_path, markdown_summary(results))
    return html_path, md_path
