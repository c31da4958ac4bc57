package ai.edgesdsr.gallery

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.CancelSignal
import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.FallbackAttempt
import ai.edgesdsr.core.Progress
import ai.edgesdsr.core.TileEngine
import android.graphics.Bitmap
import android.util.Log
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.IOException
import java.util.concurrent.atomic.AtomicBoolean

/** What the photo screen shows; delivered on the main thread. */
sealed class EnhanceState {
    /** Nothing started yet. */
    object Idle : EnhanceState()

    /** Loading the bundle and opening a runner; then tiles. [progress] is null until the first tile. */
    data class Running(val progress: Progress?, val accelerator: Accelerator?, val cancelling: Boolean) : EnhanceState()

    /**
     * Finished: [result] is the enhanced bitmap (sensor orientation, [scale]x the input),
     * [accelerator]/[runner] what ran, [fallbacks] why earlier accelerators did not.
     */
    class Done(
        val result: Bitmap,
        val scale: Int,
        val accelerator: Accelerator,
        val runner: String,
        val fallbacks: List<FallbackAttempt>,
        val totalNanos: Long,
        val tiles: Int,
    ) : EnhanceState()

    /** Failed or cancelled: [message] is the one line to show. */
    data class Failed(val message: String, val cancelled: Boolean) : EnhanceState()
}

/**
 * One photo's enhance run, held by the process ([GalleryApp.sessions]) rather than by an
 * Activity: rotation or backgrounding recreate the screen, which re-attaches and gets the
 * current state, so neither loses the result nor restarts the run. Runs on the app's single
 * model thread; [cancel] takes effect before the next tile.
 */
class EnhanceSession(
    val photo: LoadedPhoto,
    private val bundles: BundleStore,
    private val accelerators: Accelerators,
    private val scope: CoroutineScope,
    private val modelDispatcher: CoroutineDispatcher,
) {
    /** Latest state (main thread). */
    var state: EnhanceState = EnhanceState.Idle
        private set
    private val listeners = mutableListOf<(EnhanceState) -> Unit>()
    private val cancelled = AtomicBoolean(false)
    private var job: Job? = null

    /** Registers [listener] and calls it at once with the current state (main thread). */
    fun attach(listener: (EnhanceState) -> Unit) {
        listeners += listener
        listener(state)
    }

    /** Unregisters [listener] (the screen stops). */
    fun detach(listener: (EnhanceState) -> Unit) {
        listeners -= listener
    }

    private fun publish(next: EnhanceState) {
        state = next
        listeners.toList().forEach { it(next) }
    }

    /** Whether a run is in progress. */
    val running: Boolean get() = job?.isActive == true

    /** Starts the run unless one is in progress. */
    fun start() {
        if (running) return
        cancelled.set(false)
        publish(EnhanceState.Running(null, null, cancelling = false))
        job = scope.launch {
            val outcome = try {
                withContext(modelDispatcher) { enhance() }
            } catch (error: EnhanceError) {
                Log.w(TAG, "enhance failed: ${error.message}", error.cause)
                EnhanceState.Failed(error.message ?: "enhance failed", cancelled = error is EnhanceError.Cancelled)
            } catch (error: IOException) {
                Log.w(TAG, "bundle install failed", error)
                EnhanceState.Failed(
                    "the built-in bundle could not be copied to the app's storage (${error.message}); " +
                        "free some space and try again",
                    cancelled = false,
                )
            } catch (error: OutOfMemoryError) {
                Log.e(TAG, "out of memory", error)
                EnhanceState.Failed("not enough memory for this photo; downscale or crop it and try again", false)
            }
            publish(outcome)
        }
    }

    /** Asks the run to stop before its next tile. */
    fun cancel() {
        val current = state
        if (!running || current !is EnhanceState.Running) return
        cancelled.set(true)
        publish(current.copy(cancelling = true))
    }

    /**
     * Runs on the model thread. The bundle is verified once and the runner opened once per
     * process ([BundleStore.open], [Accelerators.acquire]): the runner stays open after the run,
     * except after a failure (other than Cancel), which closes it so the next run starts afresh.
     */
    private fun enhance(): EnhanceState {
        val bundle = bundles.open()
        val opened = accelerators.acquire(bundle)
        for (attempt in opened.attempts) {
            Log.i(TAG, "fallback: ${attempt.accelerator.label} not used: ${attempt.reason}")
        }
        val runner = opened.runner
        try {
            Log.i(TAG, "running ${runner.description} on ${photo.describe()} (bundle ${bundle.describe()})")
            val image = photo.toRgbImage()
            val spec = bundle.manifest.tileSpec
            val out = Bitmap.createBitmap(image.width * spec.scale, image.height * spec.scale, Bitmap.Config.ARGB_8888)
            var band = IntArray(0)
            val result = TileEngine(runner, spec).run(
                image,
                sink = { b ->
                    if (band.size < b.rows * b.width) band = IntArray(b.rows * b.width)
                    b.copyArgb(band)
                    out.setPixels(band, 0, b.width, 0, b.y0, b.width, b.rows)
                },
                progress = { p -> scope.launch { publish(EnhanceState.Running(p, runner.accelerator, cancelled.get())) } },
                cancel = CancelSignal { cancelled.get() },
            )
            return EnhanceState.Done(
                out,
                spec.scale,
                result.accelerator,
                result.runner,
                opened.attempts,
                result.totalNanos,
                result.tileNanos.size,
            )
        } catch (error: Throwable) {
            if (error !is EnhanceError.Cancelled) accelerators.discard(bundle)
            throw error
        }
    }

    private companion object {
        const val TAG = "EdgeSR"
    }
}
