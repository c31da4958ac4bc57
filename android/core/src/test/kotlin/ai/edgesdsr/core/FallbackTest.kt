package ai.edgesdsr.core

import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

class FallbackTest {
    /** The golden bundle: NPU EPContext graph (QNN v2.49.40.x), a uint8 CPU fallback and a float host reference. */
    private val manifest = BundleVerifier.readManifest(DirectoryBundle(File(Golden.dir, "bundle")))
    private val all = RunnerKind.entries.toSet()

    /** An S24 with this app's QNN runtime ([AppRuntime.qnn], 2.50.0). */
    private val snapdragon = DeviceInfo(socModel = "SM8650")

    /** The golden manifest with its EPContext graph's (only its graph's) QNN version set to [qnn]. */
    private fun npuGraphQnn(qnn: String): BundleManifest =
        manifest.copy(graphs = manifest.graphs.map { if (it.artifact == Artifact.QNN_EPCONTEXT) it.copy(qnnSdkVersion = qnn) else it })

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
    fun `the NPU SoCs come from the manifest, so a target unknown to the app keeps its NPU`() {
        assertEquals(listOf("SM8650"), manifest.npuSocModels)
        val s25 = manifest.copy(target = "s25-dsp", npuSocModels = listOf("SM8750"))
        val plan = FallbackPolicy.plan(s25, snapdragon.copy(socModel = "SM8750"), all)
        assertEquals(RunnerKind.ORT_QNN_HTP, plan.candidates.first().kind)
        val future = manifest.copy(target = "s26-dsp", npuSocModels = listOf("SM8850", "SM8845"))
        assertEquals(RunnerKind.ORT_QNN_HTP, FallbackPolicy.plan(future, snapdragon.copy(socModel = "sm8845"), all).candidates.first().kind)
        val npu = FallbackPolicy.plan(future, snapdragon, all).skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("the bundle's NPU graph is for SM8850/SM8845 (s26-dsp), this phone's SoC is SM8650", npu.reason)
    }

    @Test
    fun `an s24-exynos bundle has no NPU step`() {
        val exynosBundle = manifest.copy(target = "s24-exynos", npuSocModels = emptyList(), graphs = manifest.graphs.drop(1))
        val plan = FallbackPolicy.plan(exynosBundle, snapdragon.copy(socModel = "s5e9945"), all)
        val npu = plan.skipped.first()
        assertEquals(Accelerator.NPU, npu.accelerator)
        assertEquals("this bundle has no NPU graph for any phone", npu.reason)
        assertEquals(listOf(Accelerator.CPU, Accelerator.CPU), plan.candidates.map { it.accelerator })
    }

    @Test
    fun `NPU graphs without SoCs (a 1_0 bundle) are skipped on every phone, asking for a re-export`() {
        val unnamed = manifest.copy(npuSocModels = emptyList())
        for (device in listOf(snapdragon, DeviceInfo(socModel = null))) {
            val plan = FallbackPolicy.plan(unnamed, device, all)
            assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
            val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
            assertEquals(
                "the bundle has NPU graphs but names no phone SoC for them (npu_soc_models is empty); " +
                    "re-export it with `toolchain export`",
                npu.reason,
            )
        }
        val legacy = Golden.json("manifests.json").getValue("legacy_1_0").jsonObject.getValue("manifest")
        val plan = FallbackPolicy.plan(BundleManifest.parse(legacy.toString()), snapdragon, all)
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals(
            "the bundle (schema 1.0) does not name the phone SoC its NPU graphs were compiled for; re-export it with `toolchain export`",
            npu.reason,
        )
        assertEquals(listOf(RunnerKind.ORT_CPU, RunnerKind.ORT_CPU), plan.candidates.map { it.kind })
    }

    @Test
    fun `the app's QNN runtime is 2_50_0 and loads the golden graph's QNN 2_49_40`() {
        assertEquals(QnnVersion(2, 50, 0), AppRuntime.qnn)
        assertEquals(AppRuntime.qnn, snapdragon.qnnRuntime)
        assertEquals("v2.49.40.260812120000", manifest.graphs[0].qnnSdkVersion)
        val plan = FallbackPolicy.plan(manifest, snapdragon, all)
        assertEquals(RunnerKind.ORT_QNN_HTP, plan.candidates.first().kind)
        assertTrue(plan.skipped.none { it.accelerator == Accelerator.NPU }, plan.skipped.toString())
    }

    @Test
    fun `an EPContext graph compiled with a QNN newer than the app's runtime is skipped naming both versions`() {
        val plan = FallbackPolicy.plan(npuGraphQnn("2.51.0"), snapdragon, all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        assertEquals(listOf(RunnerKind.ORT_CPU, RunnerKind.ORT_CPU), plan.candidates.map { it.kind })
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("graphs/nearest_ctx.onnx", npu.graph)
        assertEquals(
            "the NPU graph was compiled with QNN 2.51.0 but this app's QNN runtime is 2.50.0; " +
                "re-export the bundle with QNN <= 2.50.0 or update the app",
            npu.reason,
        )
        // the same graph at the QNN that onnxruntime-qnn 2.5.0 writes is accepted
        val older = FallbackPolicy.plan(npuGraphQnn("v2.49.40.260812120000"), snapdragon, all)
        assertEquals(RunnerKind.ORT_QNN_HTP to "graphs/nearest_ctx.onnx", older.candidates.first().let { it.kind to it.graph.file })
        assertTrue(older.skipped.none { it.accelerator == Accelerator.NPU })
        // exactly the runtime's version loads; one patch above does not
        assertTrue(FallbackPolicy.plan(npuGraphQnn("2.50.0"), snapdragon, all).skipped.none { it.accelerator == Accelerator.NPU })
        assertTrue(FallbackPolicy.plan(npuGraphQnn("2.50.40"), snapdragon, all).skipped.single { it.accelerator == Accelerator.NPU }
            .reason.startsWith("the NPU graph was compiled with QNN 2.50.40 but this app's QNN runtime is 2.50.0"))
    }

    @Test
    fun `the check uses each graph's QNN version, not the top-level compiler one`() {
        val newerTop = manifest.copy(compiler = manifest.compiler.copy(qnnSdkVersion = "v2.51.0.260929181845"))
        assertEquals(RunnerKind.ORT_QNN_HTP, FallbackPolicy.plan(newerTop, snapdragon, all).candidates.first().kind)
        val olderTop = npuGraphQnn("2.51.0").let { it.copy(compiler = it.compiler.copy(qnnSdkVersion = "2.49.40")) }
        assertTrue(FallbackPolicy.plan(olderTop, snapdragon, all).candidates.none { it.accelerator == Accelerator.NPU })
    }

    /** The golden bundle with a LiteRT AOT graph (compiled with QNN [qnn]) before its EPContext graph. */
    private fun withAot(qnn: String = "2.50.40"): Pair<BundleManifest, GraphFile> {
        val aot = manifest.graphs[0].copy(
            file = "graphs/nearest_aot.tflite", artifact = Artifact.LITERT_AOT, runtime = GraphRuntime.LITERT_NPU,
            contextBinary = null, qnnSdkVersion = qnn,
        )
        return manifest.copy(graphs = listOf(aot) + manifest.graphs) to aot
    }

    @Test
    fun `a LiteRT AOT graph is never planned (no LiteRT NPU runner) and says so, the EPContext graph still runs`() {
        val (both, aot) = withAot()
        val plan = FallbackPolicy.plan(both, snapdragon, all)
        assertEquals(
            listOf(RunnerKind.ORT_QNN_HTP to "graphs/nearest_ctx.onnx", RunnerKind.ORT_CPU to "graphs/nearest-u8.onnx", RunnerKind.ORT_CPU to "graphs/nearest.onnx"),
            plan.candidates.map { it.kind to it.graph.file },
        )
        val skipped = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals(aot.file, skipped.graph)
        assertEquals(FallbackPolicy.NO_LITERT_NPU, skipped.reason)
        assertEquals(
            "this app has no LiteRT NPU runner for the LiteRT AOT graph (its NPU runs the ONNX Runtime QNN graph)",
            skipped.reason,
        )
        // a phone runtime new enough for its QNN 2.50.40 does not change that: there is no runner to load it
        val newer = FallbackPolicy.plan(both, snapdragon.copy(qnnRuntime = QnnVersion(2, 51, 0)), all)
        assertEquals(listOf(RunnerKind.ORT_QNN_HTP), newer.candidates.filter { it.accelerator == Accelerator.NPU }.map { it.kind })
        assertEquals(listOf(FallbackPolicy.NO_LITERT_NPU), newer.skipped.filter { it.accelerator == Accelerator.NPU }.map { it.reason })
    }

    @Test
    fun `each NPU graph is checked on its own (EPContext on QNN 2_51_0 skipped, LiteRT AOT skipped for want of a runner)`() {
        val (both, aot) = withAot()
        val newerEpContext = both.copy(graphs = both.graphs.map { if (it.artifact == Artifact.QNN_EPCONTEXT) it.copy(qnnSdkVersion = "2.51.0") else it })
        val plan = FallbackPolicy.plan(newerEpContext, snapdragon, all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        assertEquals(
            listOf("graphs/nearest_ctx.onnx", aot.file),
            plan.skipped.filter { it.accelerator == Accelerator.NPU }.map { it.graph },
        )
        val (epcontext, litert) = plan.skipped.filter { it.accelerator == Accelerator.NPU }
        assertTrue(epcontext.reason.startsWith("the NPU graph was compiled with QNN 2.51.0 but this app's QNN runtime is 2.50.0"), epcontext.reason)
        assertEquals(FallbackPolicy.NO_LITERT_NPU, litert.reason)
    }

    @Test
    fun `a bundle whose only NPU graph is LiteRT AOT skips the NPU with that reason, not 'no NPU graph'`() {
        val (both, aot) = withAot()
        val aotOnly = both.copy(graphs = both.graphs.filter { it.artifact != Artifact.QNN_EPCONTEXT })
        val plan = FallbackPolicy.plan(aotOnly, snapdragon, all)
        assertEquals(listOf(RunnerKind.ORT_CPU, RunnerKind.ORT_CPU), plan.candidates.map { it.kind })
        assertEquals(listOf(FallbackAttempt(Accelerator.NPU, FallbackPolicy.NO_LITERT_NPU, aot.file)), plan.skipped.filter { it.accelerator == Accelerator.NPU })
        // on another SoC the SoC is the reason, as for any NPU graph
        val exynos = FallbackPolicy.plan(aotOnly, snapdragon.copy(socModel = "s5e9945"), all)
        assertTrue(exynos.skipped.single { it.accelerator == Accelerator.NPU }.reason.startsWith("the bundle's NPU graph is for SM8650"))
    }

    @Test
    fun `the runner kinds are the app's runners, each with a bench runtime name`() {
        assertEquals(
            listOf(RunnerKind.ORT_QNN_HTP, RunnerKind.TFLITE_GPU, RunnerKind.ORT_CPU, RunnerKind.TFLITE_CPU),
            RunnerKind.entries.toList(),
        )
        assertEquals(
            listOf("onnxruntime-qnn", "tflite-gpu", "onnxruntime-cpu", "tflite-cpu"),
            RunnerKind.entries.map { ai.edgesdsr.core.bench.DeviceBench.runtimeName(it) },
        )
    }

    @Test
    fun `a QNN runtime older than the graph's QNN rules the NPU graph out`() {
        val plan = FallbackPolicy.plan(manifest, snapdragon.copy(qnnRuntime = QnnVersion(2, 49, 0)), all)
        assertTrue(plan.candidates.none { it.accelerator == Accelerator.NPU })
        val npu = plan.skipped.single { it.accelerator == Accelerator.NPU }
        assertEquals("graphs/nearest_ctx.onnx", npu.graph)
        assertTrue(npu.reason.startsWith("the NPU graph was compiled with QNN 2.49.40 but this app's QNN runtime is 2.49.0"), npu.reason)
    }

    @Test
    fun `runners missing from the build are skipped, unknown SoC still tries the NPU`() {
        val plan = FallbackPolicy.plan(manifest, DeviceInfo(socModel = null), setOf(RunnerKind.ORT_QNN_HTP))
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
        assertEquals(QnnVersion(2, 49, 40), QnnVersion.parse("v2.49.40.260812120000"))
        assertEquals(QnnVersion(2, 50, 40), QnnVersion.parse("2.50.40"))
        assertEquals(QnnVersion(2, 50, 0), QnnVersion.parse("2.50"))
        assertNull(QnnVersion.parse("latest"))
        assertNull(QnnVersion.parse("two"))
        assertNull(QnnCompatibility.problem("v2.49.40.260812120000")) // the app's runtime, 2.50.0
        assertNull(QnnCompatibility.problem("v2.50.0.1", QnnVersion(2, 50, 0)))
        assertNull(QnnCompatibility.problem("2.49.40", QnnVersion(2, 50, 0)))
        assertTrue(QnnCompatibility.problem("2.50.1")!!.contains("compiled with QNN 2.50.1 but this app's QNN runtime is 2.50.0"))
        assertTrue(QnnCompatibility.problem(null)!!.contains("does not record"))
        assertTrue(QnnCompatibility.problem("banana")!!.contains("'banana'"))
    }
}
