package ai.edgesdsr.gallery

import ai.edgesdsr.core.InputLimit
import ai.edgesdsr.core.InputLimits
import ai.edgesdsr.core.TileSpec
import android.app.ActivityManager
import android.app.Application
import android.content.ComponentCallbacks2
import android.net.Uri
import android.util.Log
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import java.util.concurrent.Executors

/**
 * Process-wide state: the one model thread every run uses (runtimes are not thread-safe and
 * the NPU serves one graph at a time), the bundle store, the runner Enhance keeps open
 * ([Accelerators.acquire], closed here under memory pressure), and the enhance sessions by
 * photo, which outlive Activities (rotation, backgrounding).
 */
class GalleryApp : Application() {
    /** Single-threaded dispatcher for model work. */
    val modelDispatcher: CoroutineDispatcher by lazy {
        Executors.newSingleThreadExecutor { Thread(it, "edge-sr-model").apply { isDaemon = true } }.asCoroutineDispatcher()
    }

    /** Main-thread scope of the sessions (never cancelled: the process owns the runs). */
    val scope: CoroutineScope by lazy { CoroutineScope(SupervisorJob() + Dispatchers.Main) }

    val bundles: BundleStore by lazy { BundleStore(this) }
    val accelerators: Accelerators by lazy { Accelerators(this) }
    val recents: Recents by lazy { Recents(this) }

    /** The enhance session of each open photo (main thread only). */
    val sessions = mutableMapOf<Uri, EnhanceSession>()

    /**
     * The largest input this phone can enhance: core's memory model over three quarters of
     * the large-heap memory class (the app declares largeHeap; tiles, accumulators and the
     * result bitmap must fit beside the UI).
     */
    fun inputLimit(spec: TileSpec): InputLimit {
        val am = getSystemService(ACTIVITY_SERVICE) as ActivityManager
        val classMb = maxOf(am.memoryClass, am.largeMemoryClass).toLong()
        return InputLimits.fromBudget(classMb * 1024 * 1024 * 3 / 4, spec)
    }

    /**
     * Memory pressure closes the kept runner (graph sessions, the NPU context); the next Enhance
     * reopens it. Only [ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN] (the user left the app, no
     * shortage yet) keeps it, so coming back stays fast.
     */
    override fun onTrimMemory(level: Int) {
        super.onTrimMemory(level)
        if (level != ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN) releaseRunners("trim memory level $level")
    }

    @Deprecated("not called from API 34 on: onTrimMemory covers those phones")
    override fun onLowMemory() {
        super.onLowMemory()
        releaseRunners("low memory")
    }

    /**
     * Closes the kept runners on the model thread: after the run in progress, if any (a runner
     * is never closed under a running tile).
     */
    fun releaseRunners(why: String) {
        scope.launch(modelDispatcher) {
            val closed = accelerators.closeRunners()
            if (closed > 0) Log.i(TAG, "$why: closed $closed kept runner(s)")
        }
    }

    private companion object {
        const val TAG = "EdgeSR"
    }
}
