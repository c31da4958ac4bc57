package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/**
 * The QNN pairing end to end on the manifest of a real `toolchain export --target s24-dsp` of the
 * default model (tests/golden/android/default_bundle_manifest.json, schema 1.1). Only the manifest
 * is in the repo (not its graphs), so it is parsed, never verified against files.
 */
class DefaultBundlePairingTest {
    private val manifest = BundleManifest.parse(File(Golden.dir, "default_bundle_manifest.json").readText())

    /** Every runner the app can build. */
    private val all = RunnerKind.entries.toSet()

    /** An S24 (Snapdragon 8 Gen 3) with this app's QNN runtime ([AppRuntime.qnn]). */
    private val snapdragon = DeviceInfo(socModel = "SM8650")

    private val ctxGraph = "graphs/edge-sd-sr-nano-a16w8-sm8650_ctx.onnx"
    private val aotGraph = "graphs/edge-sd-sr-nano-a16w8-sm8650.tflite"

    @Test
    fun `the golden is the schema 1_1 s24-dsp manifest of the default model`() {
        assertEquals("1.1", manifest.schemaVersion)
        assertEquals("s24-dsp", manifest.target)
        assertEquals(listOf("SM8650"), manifest.npuSocModels)
        val ctx = manifest.graphs.single { it.file == ctxGraph }
        assertEquals(Artifact.QNN_EPCONTEXT, ctx.artifact)
        assertEquals(GraphRuntime.ONNXRUNTIME_QNN, ctx.runtime)
        assertEquals(GraphRole.NPU, ctx.role)
        assertTrue(ctx.qnnSdkVersion!!.startsWith("v2.49.40."), ctx.qnnSdkVersion)
        assertEquals(QnnVersion(2, 49, 40), QnnVersion.parse(ctx.qnnSdkVersion))
        val aot = manifest.graphs.single { it.file == aotGraph }
        assertEquals(Artifact.LITERT_AOT, aot.artifact)
        assertEquals("2.50.40", aot.qnnSdkVersion)
        assertEquals("2.50.0", AppRuntime.QNN_SDK_VERSION)
    }

    @Test
    fun `on SM8650 with the app's QNN runtime the NPU runs the EPContext graph, then the CPU fallbacks`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon, all)
        assertEquals(
            listOf(
                RunnerKind.ORT_QNN_HTP to ctxGraph,
                // fallback graphs before host references, otherwise manifest order
                RunnerKind.TFLITE_CPU to "graphs/edge-sd-sr-nano-fp32.tflite",
                RunnerKind.ORT_CPU to "graphs/edge-sd-sr-nano-fp32.onnx",
                RunnerKind.ORT_CPU to "graphs/edge-sd-sr-nano-a16w8.qdq.onnx",
                RunnerKind.TFLITE_CPU to "graphs/edge-sd-sr-nano-a16w8.tflite",
            ),
            plan.candidates.map { it.kind to it.graph.file },
        )
        val first = plan.candidates.first()
        assertEquals(Accelerator.NPU, first.accelerator)
        assertEquals("v2.49.40", first.graph.qnnSdkVersion!!.substringBeforeLast('.'))
        assertEquals(null, QnnCompatibility.problem(first.graph.qnnSdkVersion, AppRuntime.qnn))

        // the CPU fallbacks planned first are the float graphs of role `fallback`
        val cpu = plan.candidates.filter { it.accelerator == Accelerator.CPU }
        val fallbacks = cpu.takeWhile { it.graph.role == GraphRole.FALLBACK }
        assertEquals(
            setOf("graphs/edge-sd-sr-nano-fp32.onnx", "graphs/edge-sd-sr-nano-fp32.tflite"),
            fallbacks.map { it.graph.file }.toSet(),
        )
        assertTrue(fallbacks.all { it.graph.precision == Precision.FP32 })
        assertTrue(cpu.drop(fallbacks.size).all { it.graph.role == GraphRole.HOST_REFERENCE })

        // the LiteRT AOT graph (QNN 2.50.40) is never planned, only recorded; no GPU graph
        assertEquals(
            listOf(
                FallbackAttempt(Accelerator.NPU, FallbackPolicy.NO_LITERT_NPU, aotGraph),
                FallbackAttempt(Accelerator.GPU, "the bundle has no GPU graph (an fp16 .tflite for LiteRT GPU)"),
            ),
            plan.skipped,
        )
        assertTrue(plan.candidates.none { it.graph.file == aotGraph })
    }

    @Test
    fun `an older QNN runtime than the one that compiled the EPContext graph skips the NPU, naming both`() {
        val older = snapdragon.copy(qnnRuntime = QnnVersion.parse("2.49.0")!!)
        val plan = FallbackPolicy.plan(manifest, older, all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        assertEquals(RunnerKind.TFLITE_CPU to "graphs/edge-sd-sr-nano-fp32.tflite", plan.candidates.first().let { it.kind to it.graph.file })
        val npu = plan.skipped.filter { it.accelerator == Accelerator.NPU }
        assertEquals(listOf(ctxGraph, aotGraph), npu.map { it.graph })
        val reason = npu[0].reason
        assertEquals(
            "the NPU graph was compiled with QNN 2.49.40 but this app's QNN runtime is 2.49.0; " +
                "re-export the bundle with QNN <= 2.49.0 or update the app",
            reason,
        )
        assertTrue(reason.contains("2.49.40") && reason.contains("2.49.0"), reason)
        assertEquals(FallbackPolicy.NO_LITERT_NPU, npu[1].reason)
    }

    @Test
    fun `on an Exynos phone the NPU is skipped, naming SM8650 and the phone's SoC`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon.copy(socModel = "s5e9945"), all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        assertTrue(plan.candidates.isNotEmpty() && plan.candidates.all { it.accelerator == Accelerator.CPU })
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("the bundle's NPU graph is for SM8650 (s24-dsp), this phone's SoC is s5e9945", npu.reason)
        assertTrue(npu.reason.contains("SM8650") && npu.reason.contains("s5e9945"))
    }
}
