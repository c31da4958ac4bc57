package ai.edgesdsr.gallery

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.AppRuntime
import ai.edgesdsr.core.BundleVerifier
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DirectoryBundle
import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.FallbackPolicy
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.core.bench.AcceleratorRun
import ai.edgesdsr.core.bench.BenchBundle
import ai.edgesdsr.core.bench.BenchDevice
import ai.edgesdsr.core.bench.BenchJson
import ai.edgesdsr.core.bench.BenchSettings
import ai.edgesdsr.core.bench.DeviceBench
import ai.edgesdsr.core.bench.DeviceBenchResult
import android.app.Activity
import android.content.Intent
import android.os.Build
import android.os.Bundle
import android.os.Debug
import android.util.Log
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone

/**
 * The headless device benchmark that `toolchain bench device` starts over adb (the manifest
 * lets only holders of DUMP, i.e. the adb shell, start it):
 *
 *     adb shell am start -W -n ai.edgesdsr.gallery/.BenchmarkActivity --es bundle <device dir> \
 *         --ei runs N --ei warmup W --es accelerators npu,gpu,cpu --es out <run_id>.json
 *
 * On the app's model thread (the one the Enhance button uses) it verifies the bundle, plans
 * the accelerators with core's [FallbackPolicy], times each requested one with core's
 * [DeviceBench] (the same TileEngine as Enhance) and writes the result (the schema of
 * toolchain/bench/results.py) atomically to `getExternalFilesDir("bench")/<out>` after every
 * accelerator, `partial: true` until the last. Then it finishes. A request it cannot serve is
 * logged (tag BenchmarkActivity) and writes nothing: the harness reports the missing result.
 */
class BenchmarkActivity : Activity() {
    /** The intent extras, checked. */
    private class Request(
        val bundle: File,
        val runs: Int,
        val warmup: Int,
        val accelerators: List<Accelerator>,
        val out: String,
    ) {
        companion object {
            private val OUT_RE = Regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\.json$")

            fun from(intent: Intent): Request {
                val bundle = intent.getStringExtra("bundle") ?: throw IllegalArgumentException("missing --es bundle <dir>")
                val out = intent.getStringExtra("out") ?: throw IllegalArgumentException("missing --es out <run_id>.json")
                require(OUT_RE.matches(out)) { "--es out must be a file name ending in .json, got '$out'" }
                val runs = intent.getIntExtra("runs", 10)
                val warmup = intent.getIntExtra("warmup", 3)
                require(runs >= 1 && warmup >= 0) { "--ei runs must be >= 1 and --ei warmup >= 0, got $runs and $warmup" }
                val names = (intent.getStringExtra("accelerators") ?: "npu,gpu,cpu").split(",").map { it.trim() }
                val accelerators = names.filter { it.isNotEmpty() }.map { name ->
                    Accelerator.values().firstOrNull { it.name.equals(name, ignoreCase = true) }
                        ?: throw IllegalArgumentException("unknown accelerator '$name' (use npu, gpu, cpu)")
                }
                require(accelerators.isNotEmpty()) { "--es accelerators lists none of npu, gpu, cpu" }
                return Request(File(bundle), runs, warmup, accelerators, out)
            }
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val request = try {
            Request.from(intent)
        } catch (error: IllegalArgumentException) {
            Log.e(TAG, "bad request: ${error.message}")
            finish()
            return
        }
        val app = application as GalleryApp
        app.scope.launch {
            try {
                withContext(app.modelDispatcher) { run(app, request) }
            } catch (error: Exception) {
                Log.e(TAG, "benchmark failed: ${error.message}", error)
            } finally {
                finish()
            }
        }
    }

    private fun run(app: GalleryApp, request: Request) {
        val outDir = getExternalFilesDir("bench") ?: error("external files storage is not available")
        // every file hashed (no stored record: a benchmark verifies what it was given); the manifest's
        // sha256 comes from the same bytes that were parsed
        val verified = BundleVerifier.verifyOnce(DirectoryBundle(request.bundle), record = null)
        val manifest = verified.manifest
        val bundle = ActiveBundle(request.bundle, manifest, pushed = true, verified.record)
        // the runner Enhance keeps would share the NPU with the one measured, and hide its load time
        app.accelerators.closeRunners()
        val settings = BenchSettings(request.runs, request.warmup, imageRuns = minOf(request.runs, IMAGE_RUNS))
        val bench = DeviceBench(manifest.tileSpec, settings, pss = { Debug.getPss() * 1024L })
        val plan = FallbackPolicy.plan(manifest, app.accelerators.device(), app.accelerators.available)
        val identity = BenchBundle(
            bundle.name,
            verified.record.manifestSha256,
            manifest.schemaVersion,
            manifest.target,
            manifest.soc,
            manifest.modelId,
        )
        val device = device()
        val created = utcNow()
        val runId = request.out.removeSuffix(".json")
        fun write(runs: List<AcceleratorRun>) {
            val result = DeviceBenchResult(
                runId = runId,
                createdUtc = created,
                partial = runs.size < request.accelerators.size,
                toolName = "edge-sdsr-gallery",
                toolVersion = packageManager.getPackageInfo(packageName, 0).versionName ?: "unknown",
                gitCommit = null,
                versions = listOf("qnn-runtime" to AppRuntime.QNN_SDK_VERSION),
                device = device,
                bundle = identity,
                workload = bench.workload,
                runs = runs,
                notes = listOf(
                    "input: a synthetic ${settings.imageSide}x${settings.imageSide} pattern (latency does not depend on content)",
                    "tile: runner time of one tile through TileEngine; image: TileEngine total (extraction, inference, " +
                        "blending; bands not drawn); peak PSS sampled per tile during the image warm-up",
                ),
            )
            val target = File(outDir, request.out)
            val tmp = File(outDir, ".${request.out}.tmp")
            tmp.writeText(BenchJson.encode(result))
            if (!tmp.renameTo(target)) error("cannot move the result to $target")
            Log.i(TAG, "wrote $target (${runs.size} of ${request.accelerators.size} accelerators)")
        }
        Log.i(TAG, "benchmarking ${bundle.describe()} on ${request.accelerators}, ${request.warmup}+${request.runs} runs")
        bench.measureAll(request.accelerators, plan, { candidate -> open(app, bundle, candidate) }, ::write)
    }

    /**
     * Opens [candidate]'s runner through the app's own [Accelerators] (the Enhance button's code),
     * with the bundle narrowed to that one graph so the fallback policy can pick nothing else.
     */
    private fun open(app: GalleryApp, bundle: ActiveBundle, candidate: Candidate): TileRunner {
        val narrowed = ActiveBundle(bundle.dir, bundle.manifest.copy(graphs = listOf(candidate.graph)), bundle.pushed, bundle.verification)
        return try {
            app.accelerators.open(narrowed).runner
        } catch (error: EnhanceError.NoAccelerator) {
            val failed = error.attempts.lastOrNull { it.accelerator == candidate.accelerator }?.reason ?: error.message
            throw IllegalStateException(failed?.removePrefix("${candidate.kind.label} failed: "), error)
        }
    }

    private fun device(): BenchDevice {
        val libs = File(VENDOR_LIBS).list().orEmpty()
            .filter { name -> name.endsWith(".so") && QNN_PREFIXES.any { name.startsWith(it) } }
            .sorted()
        return BenchDevice(
            name = Build.MODEL,
            manufacturer = Build.MANUFACTURER,
            soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) Build.SOC_MODEL else null,
            os = "Android ${Build.VERSION.RELEASE}",
            androidSdk = Build.VERSION.SDK_INT,
            cpuCores = Runtime.getRuntime().availableProcessors(),
            qnnLibs = libs,
        )
    }

    private companion object {
        const val TAG = "BenchmarkActivity"
        const val IMAGE_RUNS = 3
        const val VENDOR_LIBS = "/vendor/lib64"
        val QNN_PREFIXES = listOf("libQnnHtp", "libcdsprpc")

        fun utcNow(): String = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.US)
            .apply { timeZone = TimeZone.getTimeZone("UTC") }
            .format(Date())
    }
}
