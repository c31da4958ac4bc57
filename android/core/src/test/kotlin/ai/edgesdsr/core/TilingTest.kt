package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test

class TilingTest {
    @Test
    fun `windows sum to one over the padded output`() {
        val spec = TileSpec(tile = 16, overlap = 4, scale = 2)
        val plan = planTiles(37, 50, spec)
        val sum = FloatArray(plan.paddedHeight * spec.scale * plan.paddedWidth * spec.scale)
        val w = plan.paddedWidth * spec.scale
        for (tile in plan.tiles) {
            val window = blendWindow(plan, tile)
            for (r in 0 until spec.outTile) for (c in 0 until spec.outTile) {
                sum[(tile.y * spec.scale + r) * w + tile.x * spec.scale + c] += window[r * spec.outTile + c]
            }
        }
        for (v in sum) assertEquals(1.0, v.toDouble(), 1e-6)
    }

    @Test
    fun `reflect padding has period 2n even past the image`() {
        val n = 3
        assertEquals(listOf(0, 1, 2, 2, 1, 0, 0, 1, 2, 2), (0 until 10).map { PadMode.REFLECT.sourceIndex(it, n) })
        assertEquals(listOf(0, 1, 2, 2, 2), (0 until 5).map { PadMode.REPLICATE.sourceIndex(it, n) })
    }

    @Test
    fun `an overlap above half the tile is refused`() {
        val error = assertThrows(IllegalArgumentException::class.java) { TileSpec(tile = 8, overlap = 5) }
        assertEquals("tile spec: overlap must be <= tile/2 = 4, got 5", error.message)
    }
}
