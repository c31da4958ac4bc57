package ai.edgesdsr.gallery

import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DeviceInfo
import ai.edgesdsr.core.FallbackPolicy
import ai.edgesdsr.core.Opened
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.ort.OrtTileRunner
import android.os.Build

/**
 * Builds the runner for a bundle: core's [FallbackPolicy] decides the order (NPU, GPU, CPU)
 * and what is ruled out; this class only constructs each candidate. A runtime whose native
 * library is missing from the APK fails here with a [LinkageError]; it becomes a recorded
 * fallback reason like any other failure.
 */
class Accelerators(private val context: android.content.Context) {
    /** The runners this build can construct (LiteRT NPU is an optional Gradle flavor, not in this build). */
    val available: Set<RunnerKind> =
        setOf(RunnerKind.ORT_QNN_HTP, RunnerKind.TFLITE_GPU, RunnerKind.ORT_CPU, RunnerKind.TFLITE_CPU)

    /** This phone for the policy: its SoC (API 31+; unknown before). */
    fun device(): DeviceInfo = DeviceInfo(if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) Build.SOC_MODEL else null)

    /** The first runner that opens for [bundle], with why each earlier accelerator was not used. */
    fun open(bundle: ActiveBundle): Opened<TileRunner> {
        val plan = FallbackPolicy.plan(bundle.manifest, device(), available)
        return FallbackPolicy.openFirst(plan) { candidate -> create(candidate, bundle) }
    }

    private fun create(candidate: Candidate, bundle: ActiveBundle): TileRunner {
        val graph = candidate.graph
        val file = bundle.file(graph.file)
        return try {
            when (candidate.kind) {
                RunnerKind.ORT_QNN_HTP -> OrtTileRunner.npu(file, graph, context.applicationInfo.nativeLibraryDir)
                RunnerKind.ORT_CPU -> OrtTileRunner.cpu(file, graph)
                RunnerKind.TFLITE_GPU -> TfliteTileRunner(file, graph, gpu = true)
                RunnerKind.TFLITE_CPU -> TfliteTileRunner(file, graph, gpu = false)
                RunnerKind.LITERT_NPU -> throw IllegalStateException("LiteRT NPU is not in this build")
            }
        } catch (error: LinkageError) {
            throw IllegalStateException("${candidate.kind.label} native library missing from this APK (${error.message})", error)
        }
    }
}
