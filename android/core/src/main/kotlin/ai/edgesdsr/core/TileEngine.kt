package ai.edgesdsr.core

/** Asked between tiles whether the user cancelled (e.g. `{ !job.isActive }` from a coroutine). */
fun interface CancelSignal {
    fun isCancelled(): Boolean

    companion object {
        /** Never cancels. */
        val NEVER = CancelSignal { false }
    }
}

/**
 * Progress after a tile: [done] of [total] tiles, [elapsedNanos] since the run started,
 * [remainingNanos] the estimate for the rest (mean time per tile so far, times the tiles
 * left), [lastTileNanos] the runner time of the tile just finished.
 */
data class Progress(
    val done: Int,
    val total: Int,
    val elapsedNanos: Long,
    val remainingNanos: Long,
    val lastTileNanos: Long,
)

/** Receives progress after each tile (on the engine's thread). */
fun interface ProgressListener {
    fun onProgress(progress: Progress)
}

/** Receives each finished output band (see [Band]: valid only during the call). */
fun interface BandSink {
    fun onBand(band: Band)
}

/**
 * What a finished run measured: the [accelerator] that ran, the output size, the whole
 * run's [totalNanos] and each tile's runner time [tileNanos] (inference only, without
 * tile extraction and blending), for the UI and the device benchmark.
 */
class EngineResult(
    val accelerator: Accelerator,
    val runner: String,
    val outWidth: Int,
    val outHeight: Int,
    val totalNanos: Long,
    val tileNanos: LongArray,
)

/**
 * Upscales an image with a [TileRunner]: plans the tiles for [spec] (the bundle's), feeds
 * them in row-major order, blends them with [TileAssembler] and hands each finished band
 * to a [BandSink], so the full-resolution float image never exists. The arithmetic is the
 * toolchain's (`upscale_tiled`), bit for bit.
 *
 * Between tiles it checks the [CancelSignal] (so a cancel takes effect within one tile)
 * and reports [Progress]; every tile's output must be finite. [run] blocks: call it off the
 * main thread, e.g. from a coroutine:
 *
 * ```
 * withContext(Dispatchers.Default) {
 *     engine.run(image, { band -> band.copyArgb(rows); bitmap.setPixels(...) }, onProgress, { !isActive })
 * }
 * ```
 *
 * @param clock nanosecond clock (injectable for tests).
 */
class TileEngine(
    private val runner: TileRunner,
    private val spec: TileSpec,
    private val clock: () -> Long = System::nanoTime,
) {
    init {
        require(runner.tile == spec.tile && runner.scale == spec.scale) {
            "runner takes ${runner.tile}px tiles at x${runner.scale}, the tile spec says ${spec.tile}px at x${spec.scale}"
        }
    }

    private val input = FloatArray(spec.tile * spec.tile * 3)
    private val output = FloatArray(spec.outTile * spec.outTile * 3)

    /**
     * Runs [image] through the runner. Throws [EnhanceError.Cancelled] when [cancel] fires,
     * [EnhanceError.NonFiniteOutput] for NaN/Inf output and [EnhanceError.RunnerFailed] when
     * the runner throws; bands already delivered stay delivered.
     */
    fun run(
        image: RgbImage,
        sink: BandSink,
        progress: ProgressListener? = null,
        cancel: CancelSignal = CancelSignal.NEVER,
    ): EngineResult {
        val plan = planTiles(image.height, image.width, spec)
        val assembler = TileAssembler(plan, 3)
        val tileNanos = LongArray(plan.numTiles)
        val start = clock()
        val deliver: (Band) -> Unit = { sink.onBand(it) }
        for ((index, tile) in plan.tiles.withIndex()) {
            if (cancel.isCancelled()) throw EnhanceError.Cancelled(index, plan.numTiles)
            extractTile(image, plan, tile, input)
            val before = clock()
            try {
                runner.run(input, output)
            } catch (error: EnhanceError) {
                throw error
            } catch (error: Exception) {
                throw EnhanceError.RunnerFailed(runner.accelerator, error.message ?: error.javaClass.simpleName, error)
            }
            tileNanos[index] = clock() - before
            for (v in output) {
                if (!v.isFinite()) throw EnhanceError.NonFiniteOutput(index + 1, plan.numTiles, runner.accelerator)
            }
            assembler.add(tile, output, deliver)
            if (progress != null) {
                val done = index + 1
                val elapsed = clock() - start
                val remaining = elapsed / done * (plan.numTiles - done)
                progress.onProgress(Progress(done, plan.numTiles, elapsed, remaining, tileNanos[index]))
            }
        }
        assembler.finish(deliver)
        return EngineResult(
            runner.accelerator,
            runner.description,
            plan.outWidth,
            plan.outHeight,
            clock() - start,
            tileNanos,
        )
    }
}
