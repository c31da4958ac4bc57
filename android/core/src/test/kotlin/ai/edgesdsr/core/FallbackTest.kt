package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

class FallbackTest {
    /** The golden bundle: NPU EPContext graph (QNN 2.51), a uint8 CPU fallback and a float host reference. */
    private val manifest = BundleVerifier.readManifest(DirectoryBundle(File(Golden.dir, "bundle")))
    private val all = RunnerKind.entries.toSet()
    private val snapdragon = DeviceInfo(socModel = "SM8650", qnnRuntime = QnnVersion(2, 51, 0))

    @Test
    fun `NPU first on the SoC the bundle was compiled for, then CPU fallback before host reference`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon, all)
        assertEquals(
            listOf(RunnerKind.ORT_QNN_HTP to "graphs/nearest_ctx.onnx", RunnerKind.ORT_CPU to "graphs/nearest-u8.onnx", RunnerKind.ORT_CPU to "graphs/nearest.onnx"),
            plan.candidates.map { it.kind to it.graph.file },
        )
        assertEquals(listOf(Accelerator.GPU), plan.skipped.map { it.accelerator })
        assertTrue(plan.skipped[0].reason.contains("no GPU graph"))
    }

    @Test
    fun `the order is data`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon, all, listOf(Accelerator.CPU, Accelerator.NPU))
        assertEquals(listOf(Accelerator.CPU, Accelerator.CPU, Accelerator.NPU), plan.candidates.map { it.accelerator })
        assertEquals(emptyList<FallbackAttempt>(), plan.skipped)
    }

    @Test
    fun `another SoC skips the NPU and says why`() {
        val exynos = snapdragon.copy(socModel = "s5e9945")
        val plan = FallbackPolicy.plan(manifest, exynos, all)
        assertEquals(listOf(Accelerator.CPU, Accelerator.CPU), plan.candidates.map { it.accelerator })
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("the bundle's NPU graph is for SM8650 (s24-dsp), this phone's SoC is s5e9945", npu.reason)
    }

    @Test
    fun `an s24-exynos bundle has no NPU step`() {
        val exynosBundle = manifest.copy(target = "s24-exynos", graphs = manifest.graphs.drop(1))
        val plan = FallbackPolicy.plan(exynosBundle, snapdragon.copy(socModel = "s5e9945"), all)
        assertEquals("no NPU graph: target s24-exynos has no offline NPU compiler", plan.skipped.first().reason)
    }

    @Test
    fun `a QNN runtime older than the compiler rules the NPU graph out`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon.copy(qnnRuntime = QnnVersion(2, 49, 0)), all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("graphs/nearest_ctx.onnx", npu.graph)
        assertTrue(npu.reason.startsWith("the NPU graph was compiled with QNN 2.51.0 but this app's QNN runtime is 2.49.0"), npu.reason)
    }

    @Test
    fun `runners missing from the build are skipped, unknown SoC still tries the NPU`() {
        val plan = FallbackPolicy.plan(manifest, DeviceInfo(socModel = null, qnnRuntime = QnnVersion(2, 51, 0)), setOf(RunnerKind.ORT_QNN_HTP))
        assertEquals(listOf(RunnerKind.ORT_QNN_HTP), plan.candidates.map { it.kind })
        assertEquals(2, plan.skipped.count { it.reason == "this build has no ONNX Runtime CPU runtime" })
    }

    @Test
    fun `openFirst records each failure and gives up with every reason`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon, all)
        val opened = FallbackPolicy.openFirst(plan) { c ->
            if (c.accelerator == Accelerator.NPU) throw IllegalStateException("QNN says no\nsecond line") else c.graph.file
        }
        assertEquals("graphs/nearest-u8.onnx", opened.runner)
        assertEquals("ONNX Runtime QNN HTP failed: QNN says no", opened.attempts.last().reason)
        val error = assertThrows(EnhanceError.NoAccelerator::class.java) {
            FallbackPolicy.openFirst(plan) { throw IllegalStateException("broken") }
        }
        assertEquals(4, error.attempts.size)
        assertTrue('\n' !in error.message!!)
    }

    @Test
    fun `QNN versions parse and compare like the manifest writes them`() {
        assertEquals(QnnVersion(2, 51, 0), QnnVersion.parse("v2.51.0.260929181845"))
        assertEquals(QnnVersion(2, 49, 0), QnnVersion.parse("2.49"))
        assertNull(QnnVersion.parse("latest"))
        assertNull(QnnCompatibility.problem("v2.49.0.1", QnnVersion(2, 49, 0)))
        assertNull(QnnCompatibility.problem("2.48.7", QnnVersion(2, 49, 0)))
        assertTrue(QnnCompatibility.problem("2.49.1", QnnVersion(2, 49, 0))!!.contains("compiled with QNN 2.49.1"))
        assertTrue(QnnCompatibility.problem(null)!!.contains("does not record"))
        assertTrue(QnnCompatibility.problem("banana")!!.contains("'banana'"))
    }
}
