package ai.edgesdsr.ort

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.BundleVerifier
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DeviceInfo
import ai.edgesdsr.core.DirectoryBundle
import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.FallbackPolicy
import ai.edgesdsr.core.RunnerKind
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/** OrtTileRunner on the golden bundle's ONNX graphs (4x nearest, float32 and uint8 I/O). */
class OrtTileRunnerTest {
    private val golden = File(System.getProperty("edgesdsr.golden") ?: error("-Dedgesdsr.golden is not set"))
    private val bundleDir = File(golden, "bundle")
    private val manifest = BundleVerifier.verify(DirectoryBundle(bundleDir))
    private val io = Json.parseToJsonElement(File(golden, "ort_io.json").readText()).jsonObject

    private fun floats(values: kotlinx.serialization.json.JsonElement) =
        values.jsonArray.map { it.jsonPrimitive.content.toDouble().toFloat() }.toFloatArray()

    private fun cpu(file: String) = Candidate(RunnerKind.ORT_CPU, manifest.graphs.single { it.file == file })

    @Test
    fun `float and quantized graphs give the host runner's values bitwise, tile after tile`() {
        val input = floats(io.getValue("input"))
        for ((file, expectedJson) in io.getValue("expected_lr").jsonObject) {
            val expected = floats(expectedJson)
            OrtTileRunner.open(bundleDir, manifest, cpu(file)).use { runner ->
                assertEquals(Accelerator.CPU, runner.accelerator)
                val size = runner.tile * runner.scale
                val output = FloatArray(size * size * 3)
                repeat(2) { round -> // buffers are reused: the second tile must be right too
                    output.fill(Float.NaN)
                    runner.run(input, output)
                    for (y in 0 until size) for (x in 0 until size) for (c in 0 until 3) {
                        val want = expected[((y / runner.scale) * runner.tile + x / runner.scale) * 3 + c]
                        val got = output[(y * size + x) * 3 + c]
                        if (want.toRawBits() != got.toRawBits()) {
                            throw AssertionError("$file round $round at ($y, $x, $c): expected $want, got $got")
                        }
                    }
                }
            }
        }
    }

    @Test
    fun `a graph that differs from its manifest entry is refused naming both`() {
        val graph = manifest.graphs.single { it.file == "graphs/nearest.onnx" }
        val renamed = graph.copy(inputs = listOf(graph.inputs[0].copy(name = "image")))
        val error = assertThrows(IllegalStateException::class.java) {
            OrtTileRunner.open(bundleDir, manifest, Candidate(RunnerKind.ORT_CPU, renamed))
        }
        assertTrue(error.message!!.contains("named 'lr_tile', manifest says 'image'"), error.message)
    }

    @Test
    fun `the NPU runner fails with a one-line reason when the QNN plugin is missing`() {
        val npu = Candidate(RunnerKind.ORT_QNN_HTP, manifest.graphs.single { it.file == "graphs/nearest_ctx.onnx" })
        val error = assertThrows(IllegalStateException::class.java) {
            OrtTileRunner.open(bundleDir, manifest, npu, QnnSetup(pluginLibrary = "/nonexistent/libonnxruntime_providers_qnn.so"))
        }
        assertTrue(error.message!!.startsWith("graphs/nearest_ctx.onnx: cannot set up the QNN execution provider"), error.message)
        assertTrue('\n' !in error.message!!)
    }

    @Test
    fun `fallback opens the CPU graph after the NPU fails, recording why`() {
        val device = DeviceInfo(socModel = "SM8650") // the app's QNN runtime, which loads the golden graph's QNN 2.49.40
        val plan = FallbackPolicy.plan(manifest, device, setOf(RunnerKind.ORT_QNN_HTP, RunnerKind.ORT_CPU))
        assertEquals(listOf(RunnerKind.ORT_QNN_HTP, RunnerKind.ORT_CPU, RunnerKind.ORT_CPU), plan.candidates.map { it.kind })
        val qnn = QnnSetup(pluginLibrary = "/nonexistent/libonnxruntime_providers_qnn.so")
        val opened = FallbackPolicy.openFirst(plan) { OrtTileRunner.open(bundleDir, manifest, it, qnn) }
        opened.runner.use {
            assertEquals("graphs/nearest-u8.onnx", opened.candidate.graph.file) // fallback role before host reference
            assertEquals(listOf(Accelerator.GPU, Accelerator.NPU), opened.attempts.map { a -> a.accelerator })
            assertTrue(opened.attempts.last().reason.contains("cannot set up the QNN execution provider"))
        }
        val none = assertThrows(EnhanceError.NoAccelerator::class.java) {
            FallbackPolicy.openFirst(plan.copy(candidates = plan.candidates.take(1))) { OrtTileRunner.open(bundleDir, manifest, it, qnn) }
        }
        assertTrue(none.message!!.startsWith("no accelerator can run this bundle (GPU: "), none.message)
    }
}
