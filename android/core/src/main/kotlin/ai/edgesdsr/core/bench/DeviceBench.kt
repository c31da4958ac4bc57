package ai.edgesdsr.core.bench

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.BandSink
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.FallbackPlan
import ai.edgesdsr.core.FallbackPolicy
import ai.edgesdsr.core.ProgressListener
import ai.edgesdsr.core.RgbImage
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileEngine
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.core.TileSpec
import ai.edgesdsr.core.planTiles

/**
 * How much to time: [warmup] untimed + [runs] timed tile runs; per image one untimed warm-up
 * (peak PSS sampled after every tile) + [imageRuns] timed runs of an [imageSide]² LR image.
 */
data class BenchSettings(val runs: Int, val warmup: Int, val imageRuns: Int, val imageSide: Int = 512) {
    init {
        require(runs >= 1 && imageRuns >= 1) { "runs and imageRuns must be >= 1, got $runs and $imageRuns" }
        require(warmup >= 0) { "warmup must be >= 0, got $warmup" }
        require(imageSide >= 1) { "imageSide must be >= 1, got $imageSide" }
    }
}

/**
 * Times a bundle on the phone's accelerators through the same [TileEngine] the Enhance
 * button uses (not a copy of its loop):
 *
 * - the runner for a requested accelerator is the first of the fallback plan's candidates
 *   *for that accelerator* that opens ([FallbackPolicy.openFirst]); opening is the load time;
 * - per tile: the engine runs a one-tile image [BenchSettings.warmup] + [BenchSettings.runs]
 *   times; the time is the engine's runner time of that tile (the graph, not the blending);
 * - per image: the engine runs the whole image (tile extraction, inference, blending; the
 *   bands are dropped instead of being drawn into a Bitmap), one warm-up then
 *   [BenchSettings.imageRuns] timed runs of its total time.
 *
 * [pss] reads the process's current PSS in bytes (the app passes `Debug.getPss()`; null where
 * unknown); [clock] is a nanosecond clock.
 */
class DeviceBench(
    private val spec: TileSpec,
    private val settings: BenchSettings,
    private val pss: () -> Long? = { null },
    private val clock: () -> Long = System::nanoTime,
) {
    private val tileImage = pattern(spec.tile, spec.tile)
    private val image = pattern(settings.imageSide, settings.imageSide)

    /** The workload these timings refer to (tile count from the plan). */
    val workload: Workload = Workload(
        spec.tile,
        spec.overlap,
        spec.scale,
        settings.imageSide,
        settings.imageSide,
        planTiles(settings.imageSide, settings.imageSide, spec).numTiles,
    )

    /** Measures every accelerator of [requested] in order; [onRun] sees the runs so far after each. */
    fun measureAll(
        requested: List<Accelerator>,
        plan: FallbackPlan,
        open: (Candidate) -> TileRunner,
        onRun: (List<AcceleratorRun>) -> Unit = {},
    ): List<AcceleratorRun> {
        val runs = mutableListOf<AcceleratorRun>()
        for (accelerator in requested) {
            runs += measure(accelerator, plan, open)
            onRun(runs.toList())
        }
        return runs
    }

    /** Opens the runner for [accelerator] and times it; a skipped or failed accelerator says why. */
    fun measure(accelerator: Accelerator, plan: FallbackPlan, open: (Candidate) -> TileRunner): AcceleratorRun {
        val label = accelerator.name.lowercase()
        val candidates = plan.candidates.filter { it.accelerator == accelerator }
        val ruledOut = plan.skipped.filter { it.accelerator == accelerator }
        if (candidates.isEmpty()) {
            val reason = ruledOut.joinToString("; ") { it.reason }.ifEmpty { "no graph of the bundle runs on the $label" }
            return notRun(label, accelerator, RunStatus.SKIPPED, reason)
        }
        val openStart = clock()
        val opened = try {
            FallbackPolicy.openFirst(FallbackPlan(candidates, ruledOut), open)
        } catch (error: EnhanceError.NoAccelerator) {
            return notRun(label, accelerator, RunStatus.FAILED, error.attempts.joinToString("; ") { it.reason })
        }
        val loadMs = (clock() - openStart) / 1e6
        val runner = opened.runner
        return try {
            val engine = TileEngine(runner, spec, clock)
            val drop = BandSink { }
            val tileMs = List(settings.warmup + settings.runs) { engine.run(tileImage, drop).tileNanos[0] / 1e6 }
            var peak = pss()
            val sample = ProgressListener { peak = maxOf(peak ?: 0L, pss() ?: 0L).takeIf { it > 0L } }
            engine.run(image, drop, sample)
            val imageMs = List(settings.imageRuns) { engine.run(image, drop).totalNanos / 1e6 }
            AcceleratorRun(
                label = label,
                requested = accelerator,
                ranOn = runner.accelerator,
                runtime = runtimeName(opened.candidate.kind),
                graph = opened.candidate.graph.file,
                status = RunStatus.OK,
                reason = if (runner.accelerator == accelerator) null else "the runner reports ${runner.accelerator}",
                loadMs = loadMs,
                tile = Timing(settings.warmup, tileMs.drop(settings.warmup)),
                image = Timing(1, imageMs),
                pssBytes = peak,
                notes = listOf(runner.description) + opened.attempts.map { "not used: ${it.reason}" },
            )
        } catch (error: EnhanceError) {
            notRun(label, accelerator, RunStatus.FAILED, error.message ?: error.javaClass.simpleName)
        } finally {
            runner.close()
        }
    }

    private fun notRun(label: String, accelerator: Accelerator, status: RunStatus, reason: String) =
        AcceleratorRun(label, accelerator, null, null, null, status, reason, null, null, null, null, emptyList())

    companion object {
        /** The runtime's name in the results (`toolchain.deploy.manifest.Runtime` values, TFLite for classic TFLite). */
        fun runtimeName(kind: RunnerKind): String = when (kind) {
            RunnerKind.ORT_QNN_HTP -> "onnxruntime-qnn"
            RunnerKind.TFLITE_GPU -> "tflite-gpu"
            RunnerKind.ORT_CPU -> "onnxruntime-cpu"
            RunnerKind.TFLITE_CPU -> "tflite-cpu"
        }

        /** A deterministic [width] x [height] test image (smooth gradients plus LCG noise). */
        fun pattern(width: Int, height: Int): RgbImage {
            var state = 12345L
            val argb = IntArray(width * height) { p ->
                state = (state * 6364136223846793005L + 1442695040888963407L)
                val noise = ((state ushr 59).toInt() and 0x1F)
                val x = p % width
                val y = p / width
                val r = (x * 255 / maxOf(1, width - 1) + noise) and 0xFF
                val g = (y * 255 / maxOf(1, height - 1) + noise) and 0xFF
                val b = ((x + y) * 127 / maxOf(1, width + height - 2) + noise) and 0xFF
                (0xFF shl 24) or (r shl 16) or (g shl 8) or b
            }
            return RgbImage(width, height, argb)
        }
    }
}
