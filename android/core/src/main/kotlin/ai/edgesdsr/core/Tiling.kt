package ai.edgesdsr.core

/**
 * How a 4x super-resolution graph is applied tile by tile: the Kotlin twin of
 * `toolchain/tiling.py`. Every rule here (grid, padding, blend windows, band assembly and
 * their float32 rounding) replays the Python arithmetic exactly; the golden vectors in
 * `tests/golden/android/` written by `tests/test_android_golden.py` prove it bit for bit.
 *
 * An image is covered by a regular grid of `tile x tile` LR tiles with step
 * `stride = tile - overlap`, padded on the bottom/right ([PadMode]), upscaled tile by tile
 * and blended with separable smoothstep windows that sum to one ([blendWindow]); the
 * output is assembled in row bands ([TileAssembler]) so it never exists in float at once.
 */

/** Value of the `"version"` field of a serialised [TileSpec]. */
const val TILE_SPEC_VERSION = 1

/** How the image is extended past its bottom/right border (same names as Python). */
enum class PadMode(val json: String) {
    /** Repeat the edge pixel (`abc|ccc`). */
    REPLICATE("replicate"),

    /** Mirror including the edge pixel with period `2n` (`abc|cbaabc...`), numpy's "symmetric". */
    REFLECT("reflect");

    /** Source index (in `0 until n`) read by padded index [i] (`i >= 0`) of an axis of length [n]. */
    fun sourceIndex(i: Int, n: Int): Int = when {
        i < n -> i
        this == REPLICATE -> n - 1
        else -> {
            val j = i % (2 * n)
            if (j < n) j else 2 * n - 1 - j
        }
    }

    companion object {
        /** The mode named [json], or null. */
        fun fromJson(json: String): PadMode? = entries.firstOrNull { it.json == json }
    }
}

/**
 * How to tile: LR [tile] side, LR [overlap] between neighbours, model [scale], padding.
 * Requires `tile >= 1`, `0 <= overlap < tile`, `2 * overlap <= tile` and `scale >= 1`
 * (otherwise [IllegalArgumentException] with the same message as Python).
 */
data class TileSpec(
    val tile: Int = 128,
    val overlap: Int = 32,
    val scale: Int = 4,
    val padMode: PadMode = PadMode.REPLICATE,
) {
    init {
        require(tile >= 1) { "tile spec: tile must be >= 1, got $tile" }
        require(overlap in 0 until tile) { "tile spec: overlap must be in [0, tile=$tile), got $overlap" }
        require(2 * overlap <= tile) { "tile spec: overlap must be <= tile/2 = ${halfText(tile)}, got $overlap" }
        require(scale >= 1) { "tile spec: scale must be >= 1, got $scale" }
    }

    /** LR distance between the top-left corners of neighbouring tiles. */
    val stride: Int get() = tile - overlap

    /** Output side of one tile: `tile * scale`. */
    val outTile: Int get() = tile * scale

    private companion object {
        fun halfText(tile: Int): String = if (tile % 2 == 0) "${tile / 2}" else "${tile / 2}.5"
    }
}

/** Tiles along an axis of [length] LR px: 1 if it fits, else `ceil((length - overlap) / stride)`. */
fun tileCount(length: Int, spec: TileSpec): Int =
    if (length <= spec.tile) 1 else (length - spec.overlap + spec.stride - 1) / spec.stride

/** One grid cell: row/column index and LR top-left corner ([y], [x]) in the padded image. */
data class Tile(val row: Int, val col: Int, val y: Int, val x: Int)

/** The tiling of one [height] x [width] LR image; build it with [planTiles]. */
class TilePlan private constructor(val spec: TileSpec, val height: Int, val width: Int) {
    /** Tile rows: [tileCount] of the height. */
    val rows: Int = tileCount(height, spec)

    /** Tile columns: [tileCount] of the width. */
    val cols: Int = tileCount(width, spec)

    /** LR height after bottom padding: `(rows - 1) * stride + tile`. */
    val paddedHeight: Int get() = (rows - 1) * spec.stride + spec.tile

    /** LR width after right padding: `(cols - 1) * stride + tile`. */
    val paddedWidth: Int get() = (cols - 1) * spec.stride + spec.tile

    /** Height of the final (cropped) output. */
    val outHeight: Int get() = height * spec.scale

    /** Width of the final (cropped) output. */
    val outWidth: Int get() = width * spec.scale

    /** `rows * cols`. */
    val numTiles: Int get() = rows * cols

    /** All tiles in row-major order (the order [TileAssembler] expects). */
    val tiles: List<Tile> by lazy {
        List(numTiles) { i -> Tile(i / cols, i % cols, (i / cols) * spec.stride, (i % cols) * spec.stride) }
    }

    override fun equals(other: Any?): Boolean =
        other is TilePlan && other.spec == spec && other.height == height && other.width == width

    override fun hashCode(): Int = (spec.hashCode() * 31 + height) * 31 + width

    override fun toString(): String = "TilePlan(${height}x$width, ${rows}x$cols tiles of $spec)"

    companion object {
        /** Lay the regular tile grid over a [height] x [width] LR image (both >= 1). */
        fun of(height: Int, width: Int, spec: TileSpec): TilePlan {
            require(height >= 1 && width >= 1) { "tile plan: image size must be >= 1x1, got ${height}x$width" }
            return TilePlan(spec, height, width)
        }
    }
}

/** Same as [TilePlan.of], named like Python's `plan_tiles`. */
fun planTiles(height: Int, width: Int, spec: TileSpec): TilePlan = TilePlan.of(height, width, spec)

/**
 * Rising blend weights over an overlap of [length] output px, float32:
 * `w[i] = smoothstep((i + 0.5) / length)` with `smoothstep(x) = 3x^2 - 2x^3` computed in
 * double (as numpy does) and rounded to float once. `ramp(L) + ramp(L).reversed() == 1`.
 */
fun ramp(length: Int): FloatArray = FloatArray(length) { i ->
    val x = (i + 0.5) / length
    (3.0 * (x * x) - 2.0 * Math.pow(x, 3.0)).toFloat()
}

/** 1D window of one tile along one axis: ramps only towards existing neighbours. */
fun axisWindow(index: Int, count: Int, spec: TileSpec): FloatArray {
    val size = spec.outTile
    val length = spec.overlap * spec.scale
    val window = FloatArray(size) { 1f }
    if (length == 0) return window
    val up = ramp(length)
    if (index > 0) for (i in 0 until length) window[i] *= up[i]
    if (index < count - 1) for (i in 0 until length) window[size - length + i] *= up[length - 1 - i]
    return window
}

/**
 * Blend weights of [tile]'s output, `(tile*scale) x (tile*scale)` row-major float32: the outer
 * product `wy[r] * wx[c]` of the vertical and horizontal [axisWindow]s. Over the padded
 * output the windows of all tiles sum to one.
 */
fun blendWindow(plan: TilePlan, tile: Tile): FloatArray {
    val wy = axisWindow(tile.row, plan.rows, plan.spec)
    val wx = axisWindow(tile.col, plan.cols, plan.spec)
    val size = plan.spec.outTile
    return FloatArray(size * size) { i -> wy[i / size] * wx[i % size] }
}

/**
 * Copies the `tile x tile` NHWC float input of [tile] into [dst] (offset 0), reading the
 * unpadded [image] through [PadMode.sourceIndex]: the same values as Python's
 * `extract_tile(pad_image(image, plan), plan, tile)`, without materialising the padded image.
 */
fun extractTile(image: RgbImage, plan: TilePlan, tile: Tile, dst: FloatArray) {
    require(image.height == plan.height && image.width == plan.width) {
        "extract tile: image is ${image.height}x${image.width}, plan is for ${plan.height}x${plan.width}"
    }
    val size = plan.spec.tile
    require(dst.size >= size * size * 3) { "extract tile: buffer holds ${dst.size} floats, needs ${size * size * 3}" }
    val mode = plan.spec.padMode
    var o = 0
    for (r in 0 until size) {
        val sy = mode.sourceIndex(tile.y + r, image.height)
        val rowBase = sy * image.width
        for (c in 0 until size) {
            val argb = image.argb[rowBase + mode.sourceIndex(tile.x + c, image.width)]
            dst[o] = Pixels.channel(argb, 16)
            dst[o + 1] = Pixels.channel(argb, 8)
            dst[o + 2] = Pixels.channel(argb, 0)
            o += 3
        }
    }
}

/**
 * A finished output band of [rows] rows starting at output row [y0], [width] px wide, valid
 * only during the [TileAssembler] callback that delivers it. Values are normalised
 * (`accumulated / weight`, float32) on the fly while copying.
 */
class Band internal constructor(
    private val acc: FloatArray,
    private val weight: FloatArray,
    val y0: Int,
    val rows: Int,
    val width: Int,
    val channels: Int,
) {
    /** Copies the band's NHWC float values (`rows * width * channels`) to [dst] at [offset]. */
    fun copyFloats(dst: FloatArray, offset: Int = 0) {
        val n = rows * width
        for (p in 0 until n) {
            val w = weight[p]
            for (ch in 0 until channels) dst[offset + p * channels + ch] = acc[p * channels + ch] / w
        }
    }

    /**
     * Copies the band as opaque ARGB ints (`rows * width`) to [dst] at [offset], rounding each
     * channel like the toolchain ([Pixels.toByte]). Needs 3 channels.
     */
    fun copyArgb(dst: IntArray, offset: Int = 0) {
        check(channels == 3) { "ARGB output needs 3 channels, the band has $channels" }
        val n = rows * width
        for (p in 0 until n) {
            val w = weight[p]
            val r = Pixels.toByte(acc[p * 3] / w)
            val g = Pixels.toByte(acc[p * 3 + 1] / w)
            val b = Pixels.toByte(acc[p * 3 + 2] / w)
            dst[offset + p] = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
        }
    }
}

/**
 * Blends tile outputs, fed in row-major order, into finished output row bands (Python's
 * `TileAssembler`). The accumulator holds `tile*scale` output rows of full width plus a
 * weight accumulator: memory is `O(tile*scale * outWidth * (channels + 1))` floats whatever
 * the image height (see [accumulatorBytes]). When a tile row is complete its first
 * `stride*scale` rows are final and delivered as a [Band]; the rest shift up. Padding
 * columns and rows never reach the output.
 */
class TileAssembler(private val plan: TilePlan, private val channels: Int = 3) {
    private val size = plan.spec.outTile
    private val outWidth = plan.outWidth
    private val acc = FloatArray(size * outWidth * channels)
    private val weight = FloatArray(size * outWidth)
    private val wy = Array(plan.rows) { axisWindow(it, plan.rows, plan.spec) }
    private val wx = Array(plan.cols) { axisWindow(it, plan.cols, plan.spec) }
    private var next = 0

    init {
        require(channels >= 1) { "tile assembler: channels must be >= 1, got $channels" }
    }

    /** Tiles added so far. */
    val added: Int get() = next

    /**
     * Blends one tile's `(tile*scale) x (tile*scale) x channels` NHWC [output] (from offset 0)
     * and passes each band this completes to [onBand] (at most one; none for most tiles).
     */
    fun add(tile: Tile, output: FloatArray, onBand: (Band) -> Unit) {
        val tiles = plan.tiles
        check(next < tiles.size) { "tile assembler: all ${tiles.size} tiles already added" }
        val expected = tiles[next]
        require(tile == expected) {
            "tile assembler: got tile (row ${tile.row}, col ${tile.col}), expected " +
                "(row ${expected.row}, col ${expected.col}); add tiles in row-major order"
        }
        require(output.size >= size * size * channels) {
            "tile assembler: tile output holds ${output.size} floats, expected ${size * size * channels}"
        }
        next++
        val x0 = tile.x * plan.spec.scale
        val width = minOf(size, outWidth - x0)
        val wyTile = wy[tile.row]
        val wxTile = wx[tile.col]
        for (r in 0 until size) {
            val wr = wyTile[r]
            val accRow = (r * outWidth + x0) * channels
            val weightRow = r * outWidth + x0
            val outRow = r * size * channels
            for (c in 0 until width) {
                val w = wr * wxTile[c]
                for (ch in 0 until channels) {
                    val product = output[outRow + c * channels + ch] * w
                    acc[accRow + c * channels + ch] += product
                }
                weight[weightRow + c] += w
            }
        }
        if (tile.col < plan.cols - 1 || tile.row == plan.rows - 1) return
        val step = plan.spec.stride * plan.spec.scale
        onBand(Band(acc, weight, tile.row * step, step, outWidth, channels))
        val keep = size - step
        acc.copyInto(acc, 0, step * outWidth * channels, size * outWidth * channels)
        acc.fill(0f, keep * outWidth * channels)
        weight.copyInto(weight, 0, step * outWidth, size * outWidth)
        weight.fill(0f, keep * outWidth)
    }

    /** Delivers the last tile row's band (cropped to the output height) once all tiles are in. */
    fun finish(onBand: (Band) -> Unit) {
        check(next == plan.numTiles) { "tile assembler: finish() after $next of ${plan.numTiles} tiles" }
        val y0 = (plan.rows - 1) * plan.spec.stride * plan.spec.scale
        onBand(Band(acc, weight, y0, minOf(size, plan.outHeight - y0), outWidth, channels))
    }

    companion object {
        /** Bytes the accumulators of [plan] hold (float32 values plus weights). */
        fun accumulatorBytes(plan: TilePlan, channels: Int = 3): Long =
            plan.spec.outTile.toLong() * plan.outWidth * (channels + 1) * 4
    }
}
