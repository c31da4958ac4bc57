package ai.edgesdsr.gallery

import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DeviceInfo
import ai.edgesdsr.core.FallbackPolicy
import ai.edgesdsr.core.Opened
import ai.edgesdsr.core.RunnerCache
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.ort.OrtTileRunner
import ai.edgesdsr.ort.QnnSetup
import android.content.Context
import android.os.Build
import java.io.File

/**
 * Builds the runner for a bundle: core's [FallbackPolicy] decides the order (NPU, GPU, CPU)
 * and what is ruled out; this class only constructs each candidate. A runtime whose native
 * library is missing from the APK fails here with a [LinkageError]; it becomes a recorded
 * fallback reason like any other failure.
 *
 * Enhance keeps the runner it opened ([acquire]): one per bundle as verified, for the process,
 * so the next run neither reopens the graph nor reloads the NPU context; the app closes it under
 * memory pressure ([closeRunners], from [GalleryApp.onTrimMemory]). Everything here runs on the
 * app's model thread.
 */
class Accelerators(private val context: Context) {
    /** The runners this build can construct (every [RunnerKind]: the app has no LiteRT NPU runner). */
    val available: Set<RunnerKind> =
        setOf(RunnerKind.ORT_QNN_HTP, RunnerKind.TFLITE_GPU, RunnerKind.ORT_CPU, RunnerKind.TFLITE_CPU)

    /** The kept runner (one bundle at a time: another bundle closes it before opening its own). */
    private val runners = RunnerCache<TileRunner>()

    /** This phone for the policy: its SoC (API 31+; unknown before). */
    fun device(): DeviceInfo = DeviceInfo(if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) Build.SOC_MODEL else null)

    /** The first runner that opens for [bundle], with why each earlier accelerator was not used (the caller closes it). */
    fun open(bundle: ActiveBundle): Opened<TileRunner> {
        val plan = FallbackPolicy.plan(bundle.manifest, device(), available)
        return FallbackPolicy.openFirst(plan) { candidate -> create(candidate, bundle) }
    }

    /** [open] once per bundle as verified ([ActiveBundle.key]); later calls return the same, still open, runner. */
    fun acquire(bundle: ActiveBundle): Opened<TileRunner> = runners.acquire(bundle.key) { open(bundle) }

    /** Closes [bundle]'s kept runner (it failed mid-run): the next [acquire] opens a fresh one. */
    fun discard(bundle: ActiveBundle) {
        runners.evict(bundle.key)
    }

    /** Closes every kept runner; returns how many were open. */
    fun closeRunners(): Int = runners.closeAll()

    /**
     * Qualcomm's QNN EP plugin when the APK carries it (`onnxruntime-android-qnn` from
     * com.qualcomm.qti), else Microsoft's all-in-one AAR with the EP built in.
     */
    private fun qnnSetup(): QnnSetup {
        val plugin = File(context.applicationInfo.nativeLibraryDir, "libonnxruntime_providers_qnn.so")
        return QnnSetup(plugin.path.takeIf { plugin.isFile })
    }

    private fun create(candidate: Candidate, bundle: ActiveBundle): TileRunner {
        val graph = candidate.graph
        val file = bundle.file(graph.file)
        return try {
            when (candidate.kind) {
                RunnerKind.ORT_QNN_HTP -> OrtTileRunner.open(bundle.dir, bundle.manifest, candidate, qnnSetup())
                RunnerKind.ORT_CPU -> OrtTileRunner.open(bundle.dir, bundle.manifest, candidate)
                RunnerKind.TFLITE_GPU -> TfliteTileRunner(file, graph, bundle.manifest.tileSpec, gpu = true)
                RunnerKind.TFLITE_CPU -> TfliteTileRunner(file, graph, bundle.manifest.tileSpec, gpu = false)
            }
        } catch (error: LinkageError) {
            throw IllegalStateException("${candidate.kind.label} native library missing from this APK (${error.message})", error)
        }
    }
}
