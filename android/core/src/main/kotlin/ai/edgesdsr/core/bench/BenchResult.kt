package ai.edgesdsr.core.bench

import ai.edgesdsr.core.Accelerator
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

/*
 * The device benchmark result, written by the app's BenchmarkActivity and read by
 * `toolchain bench device`. The schema is defined once, in Python (toolchain/bench/results.py);
 * this writer produces it key for key (tests/golden/bench/device_result.json, checked by
 * BenchResultTest). Only what a phone writes is modelled: source "device", memory kind "pss",
 * no peers and so no ratios.
 */

/** Schema version of the results this writer produces (`toolchain.bench.results.SCHEMA_VERSION`). */
const val BENCH_SCHEMA_VERSION = "1.0"

/** How a run ended: `ok`, `failed` (tried, could not load or run) or `skipped` (not tried). */
enum class RunStatus(val json: String) {
    OK("ok"),
    FAILED("failed"),
    SKIPPED("skipped"),
}

/** `warmup` untimed runs, then the raw timed runs in milliseconds, in order. */
data class Timing(val warmup: Int, val runsMs: List<Double>) {
    init {
        require(warmup >= 0) { "warmup must be >= 0, got $warmup" }
        require(runsMs.isNotEmpty()) { "a timing needs at least one timed run" }
        require(runsMs.all { it.isFinite() && it > 0.0 }) { "timings must be finite milliseconds > 0, got $runsMs" }
    }
}

/** The phone: model, maker, SoC (`Build.SOC_MODEL`, API 31+), OS, API level, cores, QNN libraries. */
data class BenchDevice(
    val name: String,
    val manufacturer: String?,
    val soc: String?,
    val os: String,
    val androidSdk: Int?,
    val cpuCores: Int?,
    val qnnLibs: List<String>,
)

/** The bundle measured: its folder name and its manifest's identity. */
data class BenchBundle(
    val name: String,
    val manifestSha256: String,
    val schemaVersion: String,
    val target: String,
    val soc: String,
    val modelId: String,
)

/** The tile spec and the image the timings refer to; [imageTiles] comes from the tile plan. */
data class Workload(
    val tile: Int,
    val overlap: Int,
    val scale: Int,
    val imageWidth: Int,
    val imageHeight: Int,
    val imageTiles: Int,
)

/**
 * One requested accelerator: what [ranOn] (null: nothing ran) with which [runtime] and [graph],
 * how it ended and why ([reason], required unless it ran as requested), the runner open time
 * [loadMs], per-tile [tile] and per-image [image] timings (image always measured on a phone)
 * and the peak PSS seen ([pssBytes]).
 */
data class AcceleratorRun(
    val label: String,
    val requested: Accelerator,
    val ranOn: Accelerator?,
    val runtime: String?,
    val graph: String?,
    val status: RunStatus,
    val reason: String?,
    val loadMs: Double?,
    val tile: Timing?,
    val image: Timing?,
    val pssBytes: Long?,
    val notes: List<String>,
) {
    init {
        if (status == RunStatus.OK) {
            require(ranOn != null && runtime != null && tile != null) { "run $label: ok needs ranOn, runtime and tile" }
            require(ranOn == requested || reason != null) { "run $label: ran on $ranOn, not $requested: reason needed" }
        } else {
            require(ranOn == null && tile == null && image == null) { "run $label: a $status run has no timings" }
            require(reason != null) { "run $label: a $status run needs a reason" }
        }
    }
}

/** One device benchmark run (source "device"); [partial] until every requested accelerator is done. */
data class DeviceBenchResult(
    val runId: String,
    val createdUtc: String,
    val partial: Boolean,
    val toolName: String,
    val toolVersion: String,
    val gitCommit: String?,
    val versions: List<Pair<String, String>>,
    val device: BenchDevice,
    val bundle: BenchBundle,
    val workload: Workload,
    val runs: List<AcceleratorRun>,
    val notes: List<String>,
)

/** The schema's JSON for [DeviceBenchResult], keys in the Python writer's order. */
object BenchJson {
    private val pretty = kotlinx.serialization.json.Json { prettyPrint = true }

    /** The result as JSON text (pretty-printed, newline-terminated). */
    fun encode(result: DeviceBenchResult): String = pretty.encodeToString(JsonElement.serializer(), toJson(result)) + "\n"

    /** The result as a JSON tree. */
    fun toJson(r: DeviceBenchResult): JsonObject = obj(
        "schema_version" to str(BENCH_SCHEMA_VERSION),
        "source" to str("device"),
        "run_id" to str(r.runId),
        "created_utc" to str(r.createdUtc),
        "partial" to JsonPrimitive(r.partial),
        "tool" to obj("name" to str(r.toolName), "version" to str(r.toolVersion), "git_commit" to str(r.gitCommit)),
        "versions" to JsonArray(r.versions.map { (name, version) -> obj("name" to str(name), "version" to str(version)) }),
        "device" to obj(
            "name" to str(r.device.name),
            "manufacturer" to str(r.device.manufacturer),
            "soc" to str(r.device.soc),
            "os" to str(r.device.os),
            "android_sdk" to num(r.device.androidSdk),
            "cpu_cores" to num(r.device.cpuCores),
            "qnn_libs" to JsonArray(r.device.qnnLibs.map { str(it) }),
        ),
        "bundle" to obj(
            "name" to str(r.bundle.name),
            "manifest_sha256" to str(r.bundle.manifestSha256),
            "schema_version" to str(r.bundle.schemaVersion),
            "target" to str(r.bundle.target),
            "soc" to str(r.bundle.soc),
            "model_id" to str(r.bundle.modelId),
        ),
        "workload" to obj(
            "tile" to num(r.workload.tile),
            "overlap" to num(r.workload.overlap),
            "scale" to num(r.workload.scale),
            "image_width" to num(r.workload.imageWidth),
            "image_height" to num(r.workload.imageHeight),
            "image_tiles" to num(r.workload.imageTiles),
        ),
        "runs" to JsonArray(r.runs.map(::runJson)),
        "ratios" to JsonArray(emptyList()),
        "notes" to JsonArray(r.notes.map { str(it) }),
    )

    private fun runJson(run: AcceleratorRun): JsonObject = obj(
        "label" to str(run.label),
        "subject" to str("ours"),
        "requested" to str(run.requested.json),
        "ran_on" to str(run.ranOn?.json),
        "runtime" to str(run.runtime),
        "graph" to str(run.graph),
        "status" to str(run.status.json),
        "reason" to str(run.reason),
        "load_ms" to num(run.loadMs),
        "tile" to (run.tile?.let { obj("warmup" to num(it.warmup), "runs_ms" to ms(it.runsMs)) } ?: JsonNull),
        "image" to (
            run.image?.let { obj("method" to str("measured"), "warmup" to num(it.warmup), "runs_ms" to ms(it.runsMs)) }
                ?: JsonNull
            ),
        "memory" to (run.pssBytes?.let { obj("kind" to str("pss"), "peak_bytes" to num(it)) } ?: JsonNull),
        "notes" to JsonArray(run.notes.map { str(it) }),
    )

    private val Accelerator.json: String get() = name.lowercase()

    private fun obj(vararg entries: Pair<String, JsonElement>): JsonObject = JsonObject(linkedMapOf(*entries))

    private fun str(value: String?): JsonElement = if (value == null) JsonNull else JsonPrimitive(value)

    private fun num(value: Number?): JsonElement = if (value == null) JsonNull else JsonPrimitive(value)

    private fun ms(values: List<Double>): JsonArray = JsonArray(values.map { JsonPrimitive(it) })
}
