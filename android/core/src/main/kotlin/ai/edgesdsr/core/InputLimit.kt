package ai.edgesdsr.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.sqrt

/** The same cap as the toolchain's `MAX_INPUT_PIXELS` (4096 x 4096). */
const val MAX_INPUT_PIXELS: Long = 4096L * 4096L

/**
 * The largest LR input the app can enhance within [budgetBytes] of memory: at most
 * [maxPixels] (as a square; wide images are checked exactly with [allows]).
 */
data class InputLimit(val spec: TileSpec, val budgetBytes: Long, val maxPixels: Long) {
    /** Whether a [width] x [height] photo fits the budget and the toolchain's pixel cap. */
    fun allows(width: Int, height: Int): Boolean =
        width.toLong() * height <= MAX_INPUT_PIXELS && InputLimits.bytesFor(width, height, spec) <= budgetBytes

    /**
     * The largest size with the aspect ratio of [width] x [height] that [allows] (what a
     * downscale offers); the size itself if it already fits.
     */
    fun downscaleToFit(width: Int, height: Int): Pair<Int, Int> {
        if (allows(width, height)) return width to height
        var lo = 0.0
        var hi = 1.0
        repeat(40) {
            val mid = (lo + hi) / 2
            if (allows(scaled(width, mid), scaled(height, mid))) lo = mid else hi = mid
        }
        return scaled(width, lo) to scaled(height, lo)
    }

    /** Human text for messages: "about 4.2 MP within 512 MB". */
    fun describe(): String =
        "about ${"%.1f".format(maxPixels / 1e6)} MP within ${budgetBytes / (1024 * 1024)} MB"

    private fun scaled(side: Int, factor: Double): Int = maxOf(1, floor(side * factor).toInt())
}

/** Memory model of one enhance run, used to derive an [InputLimit] from a memory budget. */
object InputLimits {
    /** Runner-independent fixed cost: the engine's tile buffers plus headroom for the runtime. */
    const val FIXED_BYTES: Long = 64L * 1024 * 1024

    /**
     * Bytes needed to enhance a [width] x [height] LR photo: the LR ARGB pixels, the
     * `x scale` ARGB output bitmap, the band accumulators ([TileAssembler.accumulatorBytes])
     * and [FIXED_BYTES].
     */
    fun bytesFor(width: Int, height: Int, spec: TileSpec): Long {
        val lr = 4L * width * height
        val out = 4L * width * spec.scale * height * spec.scale
        val accumulators = spec.outTile.toLong() * width * spec.scale * 4 * 4
        return lr + out + accumulators + FIXED_BYTES
    }

    /**
     * The limit for [budgetBytes] (e.g. a share of `ActivityManager.getLargeMemoryClass()`):
     * the largest square input that fits, capped at [MAX_INPUT_PIXELS].
     */
    fun fromBudget(budgetBytes: Long, spec: TileSpec): InputLimit {
        require(budgetBytes > 0) { "memory budget must be > 0 bytes, got $budgetBytes" }
        // solve a*s^2 + b*s + c <= budget for the side s of a square
        val a = 4.0 + 4.0 * spec.scale * spec.scale
        val b = spec.outTile.toDouble() * spec.scale * 16
        val c = (FIXED_BYTES - budgetBytes).toDouble()
        val disc = b * b - 4 * a * c
        var side = if (c >= 0 || disc < 0) 0 else floor((-b + sqrt(disc)) / (2 * a)).toInt()
        while (side > 0 && bytesFor(side, side, spec) > budgetBytes) side--
        val pixels = minOf(side.toLong() * side, MAX_INPUT_PIXELS)
        return InputLimit(spec, budgetBytes, pixels)
    }

    /** The smallest budget that [fromBudget] maps to a limit allowing [width] x [height]. */
    fun budgetFor(width: Int, height: Int, spec: TileSpec): Long = ceil(bytesFor(width, height, spec).toDouble()).toLong()
}
