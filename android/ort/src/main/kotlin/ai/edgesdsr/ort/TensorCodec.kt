package ai.edgesdsr.ort

import ai.edgesdsr.core.IoTensor
import ai.edgesdsr.core.QuantParams
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Converts between the engine's NHWC float32 tiles in [0, 1] and one graph tensor as the
 * manifest describes it (value range, layout, dtype, quantization), with the host runner's
 * arithmetic (`toolchain/deploy/host_runner.py`, `_Codec`), all in float32:
 * - value range `(lo, hi) != (0, 1)`: `x' = lo + x * (hi - lo)` and back `(y - lo) / (hi - lo)`;
 * - quantize: `clip(rint(x / scale) + zeroPoint, qmin, qmax)` (round half to even);
 * - dequantize: `(q - zeroPoint) * scale`.
 *
 * The tensor's bytes live in a direct, native-order [ByteBuffer] that ONNX Runtime reads and
 * writes in place, allocated once.
 */
internal class TensorCodec(private val tensor: IoTensor) {
    private val height = tensor.hw.first
    private val width = tensor.hw.second
    private val channels = tensor.channels
    private val nchw = tensor.layout == "NCHW"
    private val affine = tensor.valueRange != listOf(0.0, 1.0)
    private val lo = tensor.valueRange[0].toFloat()
    private val span = (tensor.valueRange[1] - tensor.valueRange[0]).toFloat()
    private val quant: QuantParams? = tensor.quant
    private val scale = quant?.scale?.toFloat() ?: 1f
    private val zeroPoint = quant?.zeroPoint ?: 0

    /** Elements of one tile (batch 1). */
    val elements: Int = height * width * channels

    /** Bytes per element of [IoTensor.dtype]. */
    val elementBytes: Int = when (tensor.dtype) {
        "float32" -> 4
        "uint8", "int8" -> 1
        "int16" -> 2
        else -> throw IllegalArgumentException(
            "tensor ${tensor.name} has dtype ${tensor.dtype}, which the app's ONNX Runtime runner does not " +
                "feed (float32, uint8, int8, int16 only); re-export the bundle with one of those",
        )
    }

    /** The tensor's storage (reused for every tile). */
    val buffer: ByteBuffer = ByteBuffer.allocateDirect(elements * elementBytes).order(ByteOrder.nativeOrder())

    /** Index into the graph tensor of NHWC element (y, x, c). */
    private fun index(p: Int, c: Int): Int = if (nchw) c * height * width + p else p * channels + c

    /** Writes the NHWC float tile [src] into [buffer] in the graph's representation. */
    fun encode(src: FloatArray) {
        val pixels = height * width
        for (p in 0 until pixels) for (c in 0 until channels) {
            var x = src[p * channels + c]
            if (affine) x = lo + x * span
            val i = index(p, c)
            when (elementBytes) {
                4 -> buffer.putFloat(i * 4, x)
                1 -> buffer.put(i, quantize(x).toByte())
                else -> buffer.putShort(i * 2, quantize(x).toShort())
            }
        }
    }

    /** Reads [buffer] (the graph's output) into the NHWC float tile [dst]. */
    fun decode(dst: FloatArray) {
        val pixels = height * width
        val unsigned = tensor.dtype == "uint8"
        for (p in 0 until pixels) for (c in 0 until channels) {
            val i = index(p, c)
            var y = when (elementBytes) {
                4 -> buffer.getFloat(i * 4)
                1 -> dequantize(if (unsigned) buffer.get(i).toInt() and 0xFF else buffer.get(i).toInt())
                else -> dequantize(buffer.getShort(i * 2).toInt())
            }
            if (affine) y = (y - lo) / span
            dst[p * channels + c] = y
        }
    }

    private fun quantize(x: Float): Int {
        val q = quant!!
        val r = Math.rint((x / scale).toDouble()) + zeroPoint
        return r.coerceIn(q.qmin.toDouble(), q.qmax.toDouble()).toInt()
    }

    private fun dequantize(q: Int): Float = (q.toFloat() - zeroPoint.toFloat()) * scale
}
