package ai.edgesdsr.core

/**
 * An LR image as Android hands it over (`Bitmap.getPixels`): [argb] holds `height * width`
 * packed `0xAARRGGBB` ints, row-major. Alpha is ignored: the model sees RGB only.
 */
class RgbImage(val width: Int, val height: Int, val argb: IntArray) {
    init {
        require(width >= 1 && height >= 1) { "image size must be >= 1x1, got ${width}x$height" }
        require(argb.size == width * height) { "image ${width}x$height needs ${width * height} pixels, got ${argb.size}" }
    }
}

/**
 * Pixel conversion between packed ARGB ints and NHWC float32 in [0, 1], with the
 * toolchain's rounding (`toolchain/imageio.py`): 8-bit -> float is `v / 255f`, float ->
 * 8-bit is `clip(x * 255f + 0.5f, 0, 255)` truncated to an integer, all in float32.
 */
object Pixels {
    /** Channel at bit [shift] (16 red, 8 green, 0 blue) of [argb] as a float in [0, 1]. */
    fun channel(argb: Int, shift: Int): Float = ((argb ushr shift) and 0xFF).toFloat() / 255f

    /** Float pixel value -> 0..255 exactly as `np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)`. */
    fun toByte(x: Float): Int {
        val v = x * 255f + 0.5f
        return if (v >= 255f) 255 else if (v > 0f) v.toInt() else 0
    }

    /** RGB channels of [image] as NHWC float32 (`height * width * 3`). */
    fun toNhwc(image: RgbImage): FloatArray {
        val out = FloatArray(image.width * image.height * 3)
        for (p in image.argb.indices) {
            val argb = image.argb[p]
            out[p * 3] = channel(argb, 16)
            out[p * 3 + 1] = channel(argb, 8)
            out[p * 3 + 2] = channel(argb, 0)
        }
        return out
    }

    /** NHWC float32 RGB (`pixels * 3` values from [offset]) -> opaque ARGB ints. */
    fun toArgb(nhwc: FloatArray, pixels: Int, offset: Int = 0): IntArray = IntArray(pixels) { p ->
        val base = offset + p * 3
        (0xFF shl 24) or (toByte(nhwc[base]) shl 16) or (toByte(nhwc[base + 1]) shl 8) or toByte(nhwc[base + 2])
    }
}
