package ai.edgesdsr.gallery

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.GraphFile
import ai.edgesdsr.core.GraphIo
import ai.edgesdsr.core.ReportedQuant
import ai.edgesdsr.core.ReportedTensor
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.core.TileSpec
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Locale

/**
 * The classic TFLite interpreter on a bundle's `.tflite` graph: on the GPU through the GPU
 * delegate (an fp16 graph), or on the CPU (XNNPACK). Android only: the JVM tests use ONNX
 * Runtime instead. Graphs with float32 NHWC I/O in [0, 1] only.
 *
 * Like the ONNX Runtime runner, it checks the graph against the manifest before the first tile,
 * with core's [GraphIo]: the manifest's tensors against the tile spec (batch 1, tile sizes, RGB)
 * and against what this runner feeds (NHWC, float32, values in [0, 1]); then, once loaded, the
 * graph's own tensors against the manifest (one input and one output, shape, dtype, and the
 * quantization parameters TFLite reports; names are not compared: converters rename tensors, as
 * the host runner knows). Anything else is refused in the constructor with a one-line reason,
 * so the fallback chain moves on and says why.
 */
class TfliteTileRunner(file: File, graph: GraphFile, spec: TileSpec, gpu: Boolean, threads: Int = 4) : TileRunner {
    override val accelerator: Accelerator = if (gpu) Accelerator.GPU else Accelerator.CPU
    override val description: String = "TFLite ${if (gpu) "GPU delegate" else "CPU"}, ${graph.file}"
    override val tile: Int = spec.tile
    override val scale: Int = spec.scale
    private val delegate: Delegate?
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val where = graph.file
        GraphIo.checkTileShapes(graph, spec, where)
        for ((kind, tensor) in listOf("input" to graph.inputs[0], "output" to graph.outputs[0])) {
            val fix = "the TFLite runner needs float32 NHWC tensors in [0, 1]; re-export the bundle"
            check(tensor.layout == "NHWC") { "$where: $kind ${tensor.name} is ${tensor.layout}; $fix" }
            check(tensor.dtype == "float32") { "$where: $kind ${tensor.name} is ${tensor.dtype}; $fix" }
            check(tensor.valueRange == listOf(0.0, 1.0)) {
                "$where: $kind ${tensor.name} has value range ${tensor.valueRange}; $fix"
            }
        }
        delegate = if (gpu) gpuDelegate() else null
        val options = Interpreter.Options().setNumThreads(threads)
        delegate?.let { options.addDelegate(it) }
        interpreter = try {
            Interpreter(file, options)
        } catch (error: Throwable) {
            delegate?.close()
            throw IllegalStateException("$where: TFLite could not load the graph (${error.message})", error)
        }
        try {
            interpreter.allocateTensors() // output shapes as the graph states them, before the first run
            val inputs = List(interpreter.getInputTensorCount()) { reported(interpreter.getInputTensor(it)) }
            val outputs = List(interpreter.getOutputTensorCount()) { reported(interpreter.getOutputTensor(it)) }
            GraphIo.checkIo(where, "input", graph.inputs, inputs)
            GraphIo.checkIo(where, "output", graph.outputs, outputs)
        } catch (error: Exception) {
            interpreter.close()
            delegate?.close()
            throw error
        }
        input = ByteBuffer.allocateDirect(tile * tile * 3 * 4).order(ByteOrder.nativeOrder())
        output = ByteBuffer.allocateDirect(tile * scale * tile * scale * 3 * 4).order(ByteOrder.nativeOrder())
    }

    override fun run(input: FloatArray, output: FloatArray) {
        this.input.rewind()
        this.input.asFloatBuffer().put(input, 0, tile * tile * 3)
        this.output.rewind()
        interpreter.run(this.input, this.output)
        this.output.rewind()
        this.output.asFloatBuffer().get(output, 0, tile * scale * tile * scale * 3)
    }

    override fun close() {
        interpreter.close()
        delegate?.close()
    }

    private companion object {
        /**
         * A loaded tensor for [GraphIo.checkIo]: shape, dtype ([org.tensorflow.lite.DataType]
         * `FLOAT32` -> `float32`, the manifest's spelling) and quantization (scale 0 when not
         * quantized); no name (converters rename tensors).
         */
        fun reported(tensor: Tensor): ReportedTensor {
            val quant = tensor.quantizationParams()
            return ReportedTensor(
                name = null,
                shape = tensor.shape().map { it.toLong() },
                dtype = tensor.dataType().name.lowercase(Locale.ROOT),
                quant = ReportedQuant(quant.scale.toDouble(), quant.zeroPoint),
            )
        }

        /**
         * The GPU delegate, loaded by name: `tensorflow-lite-gpu` needs `tensorflow-lite-gpu-api`,
         * which a build without it lacks (the local APK build: Maven Central does not serve it);
         * the error then names what is missing and the chain falls back to the CPU.
         */
        fun gpuDelegate(): Delegate = try {
            Class.forName("org.tensorflow.lite.gpu.GpuDelegate").getConstructor().newInstance() as Delegate
        } catch (error: Throwable) {
            val cause = (error as? java.lang.reflect.InvocationTargetException)?.targetException ?: error
            throw IllegalStateException("TFLite GPU delegate unavailable (${cause.javaClass.simpleName}: ${cause.message})", cause)
        }
    }
}
