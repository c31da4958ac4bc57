"""``toolchain bench``: latency on a phone (adb), on Qualcomm AI Hub and on this machine, and one report.

Every command writes the same JSON schema (:mod:`toolchain.bench.results`); ``toolchain bench report``
turns any set of them into one offline HTML page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolchain.cli.common import JsonOption, err_console, out_console, progress_bar
from toolchain.deploy.targets import DEFAULT_BUNDLE

DEFAULT_OUT_DIR = Path("artifacts") / "bench"
UNWRITTEN_HINT = "; the result is on stdout above (--json prints the whole record); choose another -o"

app = typer.Typer(
    name="bench",
    help=(
        "Latency of a bundle: on a phone over adb (`device`), on Qualcomm AI Hub (`aihub`), on this "
        "machine next to the peer models (`host`), and one HTML report of any of them (`report`)."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

BundleOption = Annotated[
    Path, typer.Option("--bundle", "-b", help="Bundle folder written by `toolchain export`.")
]
RunsOption = Annotated[
    int, typer.Option("--runs", help="Timed runs per measurement (median and p90 over them).")
]
WarmupOption = Annotated[int, typer.Option("--warmup", help="Untimed warm-up runs before the timed ones.")]


def _print_summary(results: list) -> None:  # noqa: ANN001 - list[BenchResult]
    from toolchain.bench.report import markdown_summary

    out_console.print(markdown_summary(results), highlight=False, markup=False, soft_wrap=True)


def _print_and_write(result, path: Path, as_json: bool) -> Path:  # noqa: ANN001 - BenchResult
    """The result on stdout first (the summary, or with ``as_json`` the whole record), then its file:
    a write that fails (a read-only or vanished folder) loses no measurement."""
    from toolchain.bench.results import result_to_json, write_result

    if as_json:
        typer.echo(result_to_json(result), nl=False)
    else:
        _print_summary([result])
    written = write_result(path, result, UNWRITTEN_HINT)
    err_console.print(f"result: {written}", highlight=False, soft_wrap=True)
    return written


@app.command("host")
def host(
    bundle: BundleOption = DEFAULT_BUNDLE,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Result JSON (default artifacts/bench/<run id>.json).")
    ] = None,
    runs: RunsOption = 3,
    warmup: WarmupOption = 1,
    image: Annotated[
        Path | None,
        typer.Option(help="Input photo, centre-cropped (or mirrored out) to --size. Default: the sample."),
    ] = None,
    size: Annotated[
        int,
        typer.Option(
            help="Side of the square LR input image (512 -> 2048), at most 4096; "
            "below the tile size it is padded as `upscale` pads it."
        ),
    ] = 512,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="Torch checkpoint (default: embedded nano).")
    ] = None,
    baselines: Annotated[
        Path | None, typer.Option(help="Peer models folder (default ../shared/baselines).")
    ] = None,
    full_litert: Annotated[
        bool,
        typer.Option(
            "--full-litert",
            help="Also run the whole image on the LiteRT graph (minutes on a CPU); "
            "otherwise its image latency is computed from the tile count x median tile.",
        ),
    ] = False,
    engines: Annotated[
        str,
        typer.Option(
            help="Engines of `toolchain upscale --engine` to time the checkpoint on, comma-separated "
            "(each output's PSNR vs torch-reference goes in the notes).",
        ),
    ] = "onnxruntime,torch,torch-reference",
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads for every runtime (torch, ONNX Runtime, LiteRT). Default: all cores."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Time the bundle's host graphs, our checkpoint on each engine and the peers on this CPU, in one run.

    Host numbers are not phone numbers: they compare implementations on the same machine.
    Example: toolchain bench host --bundle exports/nano-s24-dsp-a16w8
    """
    from toolchain.atomic import check_writable_folder
    from toolchain.bench.host import DEFAULT_IMAGE, HostBenchOptions, bench_host, parse_engines
    from toolchain.bench.peers import DEFAULT_BASELINES

    check_writable_folder(out.parent if out is not None else DEFAULT_OUT_DIR, "; choose another -o")
    options = HostBenchOptions(
        runs=runs,
        warmup=warmup,
        image=image or DEFAULT_IMAGE,
        size=size,
        checkpoint=checkpoint,
        baselines=baselines or DEFAULT_BASELINES,
        full_litert=full_litert,
        engines=parse_engines(engines),
        threads=threads,
    )
    with progress_bar() as progress:
        task = progress.add_task("bench host", total=None)
        result = bench_host(bundle, options, lambda s: progress.update(task, description=s))
    _print_and_write(result, out or DEFAULT_OUT_DIR / f"{result.run_id}.json", as_json)


@app.command("report")
def report(
    results: Annotated[list[Path], typer.Argument(help="Result JSON files from `toolchain bench ...`.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML report; the markdown summary goes beside it (.md).")
    ] = Path("artifacts/bench/report.html"),
    partial: Annotated[
        bool, typer.Option("--partial", help="Accept results of partial runs; the report says so at the top.")
    ] = False,
) -> None:
    """One offline HTML report (table, plot, paper marks, published references) of any results.

    Example: toolchain bench report artifacts/bench/*.json -o report.html
    """
    from toolchain.bench.report import load_results, write_report

    loaded = load_results(results, partial)
    html_path, md_path = write_report(loaded, out)
    _print_summary(loaded)
    err_console.print(f"report: {html_path} (markdown: {md_path})", highlight=False, soft_wrap=True)


@app.command("device")
def device(
    bundle: BundleOption = DEFAULT_BUNDLE,
    serial: Annotated[
        str | None, typer.Option("--serial", "-s", help="adb serial of the phone (needed when several).")
    ] = None,
    apk: Annotated[
        Path | None,
        typer.Option(help="Debug APK to install (default android/build/apk/edge-sdsr-gallery-debug.apk)."),
    ] = None,
    runs: RunsOption = 10,
    warmup: WarmupOption = 3,
    accelerators: Annotated[
        str, typer.Option(help="Accelerators to time, in order: any of npu,gpu,cpu.")
    ] = "npu,gpu,cpu",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <run id>.json and its report.")
    ] = DEFAULT_OUT_DIR,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds the whole run may take (install, push, the app's benchmark, pull); "
            "every adb call gets at most what is left."
        ),
    ] = 600.0,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Keep the result of a run that did not finish, marked as partial."),
    ] = False,
    report: Annotated[bool, typer.Option(help="Also write <run id>.html (+ .md) beside the JSON.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Run the app's headless benchmark on a phone over adb; pull, check and report its result.

    Needs adb, a phone with USB debugging on, and the debug APK (`nox -s android`).
    Example: toolchain bench device --bundle exports/nano-s24-dsp-a16w8 --accelerators npu,cpu
    """
    from toolchain.atomic import check_writable_folder
    from toolchain.bench.device import DEFAULT_APK, DeviceBenchOptions, bench_device, parse_accelerators

    check_writable_folder(out, "; choose another -o")
    options = DeviceBenchOptions(
        bundle=bundle,
        apk=apk or DEFAULT_APK,
        serial=serial,
        runs=runs,
        warmup=warmup,
        accelerators=parse_accelerators(accelerators),
        timeout_s=timeout,
        partial=partial,
    )
    result = bench_device(
        options, lambda s: err_console.print(s, highlight=False, markup=False, soft_wrap=True)
    )
    path = _print_and_write(result, out / f"{result.run_id}.json", as_json)
    if report:
        from toolchain.bench.report import write_report

        html_path, _ = write_report([result], path.with_suffix(".html"))
        err_console.print(f"report: {html_path}", highlight=False, soft_wrap=True)


@app.command("aihub")
def aihub(
    bundle: BundleOption = DEFAULT_BUNDLE,
    device: Annotated[
        str | None, typer.Option(help="AI Hub device name (default: the phone of the bundle's target).")
    ] = None,
    runtime: Annotated[
        str, typer.Option(help="AI Hub --target_runtime: precompiled_qnn_onnx (NPU), onnx or tflite.")
    ] = "precompiled_qnn_onnx",
    graph: Annotated[
        str | None, typer.Option(help="Bundle ONNX graph to upload (default: the NPU graphs' QDQ graph).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Result JSON (default artifacts/bench/<run id>.json).")
    ] = None,
) -> None:
    """Profile the bundle's NPU graph on a phone of Qualcomm AI Hub; per-image latency is computed.

    Needs a configured qai-hub client (`qai-hub configure --api_token TOKEN`) and internet access.
    Example: toolchain bench aihub --bundle exports/nano-s24-dsp-a16w8 --device "Samsung Galaxy S24 (Family)"
    """
    from toolchain.bench.aihub_bundle import bench_aihub
    from toolchain.bench.results import write_result

    result = bench_aihub(
        bundle, device, runtime, graph, lambda s: err_console.print(s, highlight=False, soft_wrap=True)
    )
    path = write_result(out or DEFAULT_OUT_DIR / f"{result.run_id}.json", result)
    _print_summary([result])
    err_console.print(f"result: {path}", highlight=False, soft_wrap=True)
