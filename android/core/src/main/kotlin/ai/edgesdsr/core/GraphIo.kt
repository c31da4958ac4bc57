package ai.edgesdsr.core

import java.math.BigDecimal
import java.math.MathContext
import kotlin.math.abs

/** Quantization of a graph tensor as a runtime reports it (LiteRT: scale 0 for a tensor that is not quantized). */
data class ReportedQuant(val scale: Double, val zeroPoint: Int)

/**
 * One graph input or output as a runtime reports it once the graph is loaded. [name] null: not
 * compared (LiteRT converters rename tensors; the host runner does not compare them either); a
 * negative [shape] entry is a symbolic dimension and matches anything; [dtype] in the manifest's
 * spelling (`float32`, `uint8`, ...), null if unknown; [quant] null where the runtime does not
 * report quantization (ONNX Runtime).
 */
data class ReportedTensor(val name: String?, val shape: List<Long>, val dtype: String?, val quant: ReportedQuant? = null)

/**
 * The checks every [TileRunner] makes before it runs a graph, shared by the ONNX Runtime and
 * TFLite runners and worded like `toolchain/deploy/host_runner.py` (`_check_io`, the LiteRT
 * quantization check, `_check_tile_shapes`). Each throws [IllegalStateException] with one line
 * starting with [where] (the graph file), which the fallback policy records as the reason.
 */
object GraphIo {
    private const val FIX = "the manifest does not describe this graph; re-export the bundle"

    /**
     * The manifest's first input and output fit the tile spec: batch 1, [TileSpec.tile] in and
     * [TileSpec.outTile] out, 3 channels (checked before the graph is loaded).
     */
    fun checkTileShapes(graph: GraphFile, spec: TileSpec, where: String) {
        val fix = "re-export the bundle"
        for ((kind, tensor, side) in listOf(
            Triple("input", graph.inputs[0], spec.tile),
            Triple("output", graph.outputs[0], spec.outTile),
        )) {
            check(tensor.shape[0] == 1) { "$where: $kind ${tensor.name} has batch ${tensor.shape[0]}; the runner needs batch 1; $fix" }
            check(tensor.hw == side to side) {
                "$where: $kind ${tensor.name} is ${tensor.hw.first}x${tensor.hw.second} but the tile spec " +
                    "(tile ${spec.tile}, scale ${spec.scale}) needs ${side}x$side; $fix"
            }
            check(tensor.channels == 3) { "$where: $kind ${tensor.name} has ${tensor.channels} channels, the app feeds RGB; $fix" }
        }
    }

    /**
     * The loaded graph's [kind] tensors ([found]) are what the manifest lists ([expected]): exactly
     * one each, then name (when reported), shape (static dimensions), dtype and, when the runtime
     * reports it for a quantized manifest tensor, the quantization (scale within 1e-6 relative,
     * zero point exact).
     */
    fun checkIo(where: String, kind: String, expected: List<IoTensor>, found: List<ReportedTensor>) {
        check(found.size == 1 && expected.size == 1) {
            "$where: graph has ${found.size} $kind(s), manifest lists ${expected.size}; the runner needs exactly one; " +
                "re-export the bundle"
        }
        val graph = found[0]
        val tensor = expected[0]
        check(graph.name == null || graph.name == tensor.name) {
            "$where: graph $kind is named '${graph.name}', manifest says '${tensor.name}'; $FIX"
        }
        val matches = graph.shape.size == tensor.shape.size &&
            graph.shape.zip(tensor.shape).all { (d, e) -> d < 0 || d == e.toLong() } // -1: symbolic dimension
        check(matches) {
            "$where: graph $kind ${tensor.name} has shape ${graph.shape.joinToString("x")}, manifest says " +
                "${tensor.shape.joinToString("x")}; $FIX"
        }
        check(graph.dtype == tensor.dtype) { "$where: graph $kind ${tensor.name} is ${graph.dtype}, manifest says ${tensor.dtype}; $FIX" }
        val quant = tensor.quant
        val reported = graph.quant
        if (quant != null && reported != null && reported.scale != 0.0) {
            val close = abs(reported.scale - quant.scale) <= 1e-8 + 1e-6 * abs(quant.scale) // numpy.isclose(rtol=1e-6)
            check(close && reported.zeroPoint == quant.zeroPoint) {
                "$where: $kind quantization in the graph (scale ${formatG(reported.scale)}, zero point ${reported.zeroPoint}) " +
                    "differs from the manifest (scale ${formatG(quant.scale)}, zero point ${quant.zeroPoint}); re-export the bundle"
            }
        }
    }

    /** [value] as Python's `format(value, "g")`: 6 significant digits, no trailing zeros. */
    fun formatG(value: Double): String {
        if (value == 0.0 || !value.isFinite()) return if (value == 0.0) "0" else value.toString()
        val rounded = BigDecimal(value).round(MathContext(6)).stripTrailingZeros()
        val exponent = rounded.precision() - rounded.scale() - 1
        if (exponent in -4 until 6) return rounded.toPlainString()
        val mantissa = rounded.movePointLeft(exponent).toPlainString()
        val sign = if (exponent < 0) "-" else "+"
        return "${mantissa}e$sign${abs(exponent).toString().padStart(2, '0')}"
    }
}
