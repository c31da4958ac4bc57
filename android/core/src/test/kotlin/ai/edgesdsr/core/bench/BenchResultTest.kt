package ai.edgesdsr.core.bench

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.Artifact
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.FallbackAttempt
import ai.edgesdsr.core.FallbackPlan
import ai.edgesdsr.core.Golden
import ai.edgesdsr.core.GraphFile
import ai.edgesdsr.core.GraphRole
import ai.edgesdsr.core.GraphRuntime
import ai.edgesdsr.core.Precision
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.core.TileSpec
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/** The writer against the Python schema's golden example, and the timing loop on a fake runner. */
class BenchResultTest {
    /** tests/golden/bench/device_result.json (written by tests/test_bench_results.py). */
    private val golden: File get() = File(Golden.dir.parentFile, "bench/device_result.json")

    /** The same values as `example_device_result()` in tests/test_bench_results.py. */
    private fun example() = DeviceBenchResult(
        runId = "device-20260101-120000",
        createdUtc = "2026-01-01T12:00:00Z",
        partial = false,
        toolName = "edge-sdsr-gallery",
        toolVersion = "0.1.0",
        gitCommit = null,
        versions = listOf("onnxruntime" to "1.23.2", "qnn" to "2.51.0", "tensorflow-lite" to "2.16.1"),
        device = BenchDevice(
            "SM-S928B", "samsung", "SM8650", "Android 14", 34, 8,
            listOf("libQnnHtp.so", "libQnnHtpV75Stub.so", "libcdsprpc.so"),
        ),
        bundle = BenchBundle(
            "nano-s24-dsp-a16w8", "0123456789abcdef".repeat(4), "1.0", "s24-dsp",
            "Snapdragon 8 Gen 3 (SM8650), Hexagon HTP v75", "edge-sd-sr-nano",
        ),
        workload = Workload(128, 32, 4, 512, 512, 25),
        runs = listOf(
            AcceleratorRun(
                "npu", Accelerator.NPU, Accelerator.NPU, "onnxruntime-qnn", "graphs/edge-sd-sr-nano-a16w8-sm8650_ctx.onnx",
                RunStatus.OK, null, 412.0, Timing(3, listOf(39.5, 38.2, 38.9, 41.0, 38.4)),
                Timing(1, listOf(1120.0, 1098.5, 1105.25)), 187_000_000L, emptyList(),
            ),
            AcceleratorRun(
                "gpu", Accelerator.GPU, null, null, null, RunStatus.SKIPPED, "the bundle has no graph for the GPU",
                null, null, null, null, emptyList(),
            ),
            AcceleratorRun(
                "cpu", Accelerator.CPU, Accelerator.CPU, "onnxruntime-cpu", "graphs/edge-sd-sr-nano-a16w8.qdq.onnx",
                RunStatus.OK, null, 95.5, Timing(1, listOf(610.0, 598.0, 603.5)), Timing(0, listOf(15250.0)),
                240_000_000L, listOf("graph optimizations disabled (QDQ reference)"),
            ),
        ),
        notes = listOf("example values that show the schema; not a measurement"),
    )

    /** Same keys in the same order at every level (values compared separately). */
    private fun assertSameKeys(expected: JsonElement, actual: JsonElement, path: String) {
        when (expected) {
            is JsonObject -> {
                assertTrue(actual is JsonObject, "$path: expected an object")
                assertEquals(expected.keys.toList(), (actual as JsonObject).keys.toList(), "$path: keys")
                for (key in expected.keys) assertSameKeys(expected.getValue(key), actual.getValue(key), "$path.$key")
            }
            is JsonArray -> {
                assertTrue(actual is JsonArray, "$path: expected a list")
                assertEquals(expected.size, (actual as JsonArray).size, "$path: length")
                expected.indices.forEach { assertSameKeys(expected[it], actual[it], "$path[$it]") }
            }
            else -> Unit
        }
    }

    @Test
    fun `the writer produces the Python schema's golden example key for key and value for value`() {
        val expected = Json.parseToJsonElement(golden.readText())
        val written = Json.parseToJsonElement(BenchJson.encode(example()))
        assertSameKeys(expected, written, "result")
        assertEquals(expected, written)
    }

    private class FakeRunner(override val accelerator: Accelerator, private val failAt: Int = -1) : TileRunner {
        var calls = 0
        var closed = false
        override val description = "fake ${accelerator.label} runner"
        override val tile = 16
        override val scale = 4

        override fun run(input: FloatArray, output: FloatArray) {
            if (calls++ == failAt) throw IllegalStateException("driver lost")
            output.fill(0.5f)
        }

        override fun close() {
            closed = true
        }
    }

    private fun graph(file: String) = GraphFile(
        file, "0".repeat(64), 1, Artifact.ONNX, Precision.A16W8, GraphRuntime.ONNXRUNTIME_CPU, GraphRole.FALLBACK,
        emptyList(), emptyList(), null, null, null, null,
    )

    @Test
    fun `every requested accelerator is timed through the engine, skipped or failed with a reason`() {
        val spec = TileSpec(tile = 16, overlap = 4, scale = 4)
        var now = 0L
        val bench = DeviceBench(spec, BenchSettings(runs = 3, warmup = 2, imageRuns = 2, imageSide = 40), { 5_000_000L }) {
            now += 1_000_000L
            now
        }
        assertEquals(Workload(16, 4, 4, 40, 40, 9), bench.workload)
        val plan = FallbackPlan(
            listOf(Candidate(RunnerKind.ORT_CPU, graph("graphs/cpu.onnx")), Candidate(RunnerKind.ORT_QNN_HTP, graph("graphs/npu.onnx"))),
            listOf(FallbackAttempt(Accelerator.GPU, "the bundle has no GPU graph")),
        )
        val runners = mutableListOf<FakeRunner>()
        val seen = mutableListOf<Int>()
        val runs = bench.measureAll(listOf(Accelerator.NPU, Accelerator.GPU, Accelerator.CPU), plan, { candidate ->
            if (candidate.accelerator == Accelerator.NPU) throw IllegalStateException("QNN HTP backend not found")
            FakeRunner(candidate.accelerator).also { runners += it }
        }) { seen += it.size }

        assertEquals(listOf(1, 2, 3), seen)
        val (npu, gpu, cpu) = runs
        assertEquals(RunStatus.FAILED, npu.status)
        assertEquals("ONNX Runtime QNN HTP failed: QNN HTP backend not found", npu.reason)
        assertEquals(RunStatus.SKIPPED, gpu.status)
        assertEquals("the bundle has no GPU graph", gpu.reason)
        assertEquals(RunStatus.OK, cpu.status)
        assertEquals(Accelerator.CPU, cpu.ranOn)
        assertNull(cpu.reason)
        assertEquals("onnxruntime-cpu", cpu.runtime)
        assertEquals("graphs/cpu.onnx", cpu.graph)
        assertEquals(2, cpu.tile!!.warmup)
        assertEquals(3, cpu.tile!!.runsMs.size)
        assertEquals(2, cpu.image!!.runsMs.size)
        assertEquals(5_000_000L, cpu.pssBytes)
        // 5 one-tile runs + 1 warm-up and 2 timed 9-tile image runs, all through the one runner
        assertEquals(5 + 3 * 9, runners.single().calls)
        assertTrue(runners.single().closed)
        assertTrue(cpu.tile!!.runsMs.all { it > 0.0 } && cpu.image!!.runsMs.all { it > cpu.tile!!.runsMs.max() })
    }

    @Test
    fun `a runner that fails mid-run is a failed accelerator and is closed`() {
        val spec = TileSpec(tile = 16, overlap = 4, scale = 4)
        val bench = DeviceBench(spec, BenchSettings(runs = 2, warmup = 0, imageRuns = 1, imageSide = 16))
        val plan = FallbackPlan(listOf(Candidate(RunnerKind.ORT_CPU, graph("graphs/cpu.onnx"))), emptyList())
        val runner = FakeRunner(Accelerator.CPU, failAt = 1)
        val run = bench.measure(Accelerator.CPU, plan) { runner }
        assertEquals(RunStatus.FAILED, run.status)
        assertEquals("the CPU failed: driver lost", run.reason)
        assertTrue(runner.closed)
    }
}
