package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class InputLimitTest {
    private val spec = TileSpec()
    private val mb = 1024L * 1024

    @Test
    fun `the limit is the largest square that fits the budget`() {
        val limit = InputLimits.fromBudget(512 * mb, spec)
        val side = kotlin.math.sqrt(limit.maxPixels.toDouble()).toInt()
        assertEquals(limit.maxPixels, side.toLong() * side)
        assertTrue(limit.allows(side, side))
        assertFalse(limit.allows(side + 1, side + 1))
        assertTrue(InputLimits.bytesFor(side, side, spec) <= 512 * mb)
        assertEquals("about ${"%.1f".format(limit.maxPixels / 1e6)} MP within 512 MB", limit.describe())
    }

    @Test
    fun `the toolchain's 4096 x 4096 cap holds whatever the budget`() {
        val limit = InputLimits.fromBudget(1L shl 40, spec)
        assertEquals(MAX_INPUT_PIXELS, limit.maxPixels)
        assertFalse(limit.allows(4097, 4096))
    }

    @Test
    fun `a budget below the fixed cost allows nothing`() {
        val limit = InputLimits.fromBudget(InputLimits.FIXED_BYTES, spec)
        assertEquals(0L, limit.maxPixels)
        assertFalse(limit.allows(1, 1))
    }

    @Test
    fun `downscale keeps the aspect ratio and fits`() {
        val limit = InputLimits.fromBudget(256 * mb, spec)
        val (w, h) = limit.downscaleToFit(4000, 3000)
        assertTrue(limit.allows(w, h))
        assertFalse(limit.allows(w + 2, h + 2))
        assertEquals(4.0 / 3.0, w.toDouble() / h, 0.01)
        assertEquals(640 to 480, limit.downscaleToFit(640, 480))
        val error = EnhanceError.ImageTooLarge(4000, 3000, limit)
        assertTrue(error.message!!.startsWith("the photo is 4000x3000, more than this phone can enhance at once (about "))
    }
}
