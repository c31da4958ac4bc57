package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class TileEngineTest {
    private val spec = TileSpec(tile = 8, overlap = 2, scale = 2)

    /** Nearest x2 upscale; [poison] makes the given 1-based call return NaN; each call advances [clock] by 5 ms. */
    private class Runner(private val clock: LongArray, private val poison: Int = -1, private val fail: Int = -1) : TileRunner {
        override val accelerator = Accelerator.GPU
        override val description = "test runner"
        override val tile = 8
        override val scale = 2
        var calls = 0

        override fun run(input: FloatArray, output: FloatArray) {
            calls++
            clock[0] += 5_000_000
            if (calls == fail) throw IllegalStateException("delegate lost\nstack")
            for (y in 0 until 16) for (x in 0 until 16) for (c in 0 until 3) {
                output[(y * 16 + x) * 3 + c] = input[((y / 2) * 8 + x / 2) * 3 + c]
            }
            if (calls == poison) output[7] = Float.NaN
        }

        override fun close() {}
    }

    private fun image(w: Int, h: Int) = RgbImage(w, h, IntArray(w * h) { (0xFF shl 24) or (it * 2654435761L).toInt().and(0xFFFFFF) })

    @Test
    fun `progress counts tiles with elapsed time and an estimate`() {
        val clock = longArrayOf(0)
        val runner = Runner(clock)
        val progress = mutableListOf<Progress>()
        val img = image(20, 13) // 3 x 2 tiles
        val out = IntArray(40 * 26)
        val result = TileEngine(runner, spec) { clock[0] }.run(img, { band -> band.copyArgb(out, band.y0 * band.width) }, { progress += it })
        assertEquals(6, progress.size)
        assertEquals((1..6).toList(), progress.map { it.done })
        assertTrue(progress.all { it.total == 6 && it.lastTileNanos == 5_000_000L })
        assertEquals(10_000_000L, progress[1].elapsedNanos)
        assertEquals(20_000_000L, progress[1].remainingNanos) // 5 ms per tile so far, 4 tiles left
        assertEquals(0L, progress.last().remainingNanos)
        assertEquals(Accelerator.GPU, result.accelerator)
        assertEquals(6, result.tileNanos.size)
        // nearest upscale through the blend is exact: pixel (2y, 2x) of the output is pixel (y, x) of the input
        for (y in 0 until 13) for (x in 0 until 20) assertEquals(img.argb[y * 20 + x] or (0xFF shl 24), out[(2 * y) * 40 + 2 * x])
    }

    @Test
    fun `cancel stops before the next tile`() {
        val runner = Runner(longArrayOf(0))
        var bands = 0
        val error = assertThrows(EnhanceError.Cancelled::class.java) {
            TileEngine(runner, spec).run(image(20, 13), { bands++ }, cancel = { runner.calls >= 4 })
        }
        assertEquals(4, runner.calls)
        assertEquals(4, error.tilesDone)
        assertEquals(6, error.tiles)
        assertEquals(1, bands) // the first tile row was already delivered
        assertEquals("cancelled after 4 of 6 tiles", error.message)
    }

    @Test
    fun `non-finite output and runner failures are one-line errors naming the accelerator`() {
        val nan = assertThrows(EnhanceError.NonFiniteOutput::class.java) {
            TileEngine(Runner(longArrayOf(0), poison = 2), spec).run(image(20, 13), {})
        }
        assertEquals(2, nan.tile)
        assertTrue(nan.message!!.startsWith("the GPU returned invalid values (NaN/Inf) for tile 2 of 6"))
        val failed = assertThrows(EnhanceError.RunnerFailed::class.java) {
            TileEngine(Runner(longArrayOf(0), fail = 1), spec).run(image(20, 13), {})
        }
        assertEquals("the GPU failed: delegate lost", failed.message)
        assertSame(IllegalStateException::class.java, failed.cause!!.javaClass)
    }

    @Test
    fun `a runner for another tile size is refused`() {
        val error = assertThrows(IllegalArgumentException::class.java) { TileEngine(Runner(longArrayOf(0)), TileSpec()) }
        assertTrue(error.message!!.contains("runner takes 8px tiles at x2"))
    }
}
