package ai.edgesdsr.gallery

import ai.edgesdsr.core.InputLimit
import ai.edgesdsr.core.InputLimits
import ai.edgesdsr.core.TileSpec
import android.app.ActivityManager
import android.app.Application
import android.net.Uri
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import java.util.concurrent.Executors

/**
 * Process-wide state: the one model thread every run uses (runtimes are not thread-safe and
 * the NPU serves one graph at a time), the bundle store, and the enhance sessions by photo,
 * which outlive Activities (rotation, backgrounding).
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
}
