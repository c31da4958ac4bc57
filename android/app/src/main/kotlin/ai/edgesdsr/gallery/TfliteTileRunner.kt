package ai.edgesdsr.gallery

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.GraphFile
import ai.edgesdsr.core.TileRunner
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The classic TFLite interpreter on a bundle's `.tflite` graph: on the GPU through the GPU
 * delegate (an fp16 graph), or on the CPU (XNNPACK). Android only: the JVM tests use ONNX
 * Runtime instead. Graphs with float32 NHWC I/O only; anything else is refused in the
 * constructor, so the fallback chain moves on and says why.
 */
class TfliteTileRunner(file: File, graph: GraphFile, gpu: Boolean, threads: Int = 4) : TileRunner {
    override val accelerator: Accelerator = if (gpu) Accelerator.GPU else Accelerator.CPU
    override val description: String = "TFLite ${if (gpu) "GPU delegate" else "CPU"}, ${graph.file}"
    override val tile: Int
    override val scale: Int
    private val delegate: Delegate?
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val inTensor = graph.inputs.single()
        val outTensor = graph.outputs.single()
        require(inTensor.dtype == "float32" && outTensor.dtype == "float32" && inTensor.layout == "NHWC") {
            "TFLite runner needs float32 NHWC I/O, ${graph.file} has ${inTensor.dtype} ${inTensor.layout}"
        }
        tile = inTensor.hw.first
        scale = outTensor.hw.first / tile
        delegate = if (gpu) gpuDelegate() else null
        val options = Interpreter.Options().setNumThreads(threads)
        delegate?.let { options.addDelegate(it) }
        interpreter = try {
            Interpreter(file, options)
        } catch (error: Throwable) {
            delegate?.close()
            throw IllegalStateException("TFLite could not load ${graph.file}: ${error.message}", error)
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
