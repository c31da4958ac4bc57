package ai.edgesdsr.ort

import ai.edgesdsr.core.Accelerator
import ai.edgesdsr.core.BundleManifest
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.GraphFile
import ai.edgesdsr.core.GraphIo
import ai.edgesdsr.core.IoTensor
import ai.edgesdsr.core.Precision
import ai.edgesdsr.core.ReportedTensor
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileRunner
import ai.edgesdsr.core.TileSpec
import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtHardwareDevice
import ai.onnxruntime.OrtSession
import ai.onnxruntime.TensorInfo
import java.io.File

/**
 * How the app reaches ONNX Runtime's QNN execution provider (HTP backend, the NPU).
 *
 * With Qualcomm's packaging (`com.qualcomm.qti:onnxruntime-android-qnn` + `qnn-runtime`, the
 * catalog's choice) the EP is a plugin library registered with the environment, as the
 * Python side does with `onnxruntime_qnn.get_library_path()`: [pluginLibrary] is its path
 * (on Android: `applicationInfo.nativeLibraryDir + "/libonnxruntime_providers_qnn.so"`).
 * With Microsoft's all-in-one `onnxruntime-android-qnn` AAR, set [pluginLibrary] to null and
 * the built-in `addQnn` is used. [providerOptions] go to the EP as is (`backend_path` is the
 * HTP backend library, found by the loader in the APK's native library folder).
 */
data class QnnSetup(
    val pluginLibrary: String?,
    val providerOptions: Map<String, String> = mapOf(
        "backend_path" to "libQnnHtp.so",
        "htp_performance_mode" to "burst",
    ),
)

/**
 * A [TileRunner] on ONNX Runtime (the `ai.onnxruntime` API, identical on Android and the JVM):
 * - [RunnerKind.ORT_QNN_HTP]: the QNN EPContext graph (its context binary beside it) on the
 *   QNN EP's HTP backend, with CPU fallback disabled so a graph the NPU cannot take fails
 *   instead of silently running on the CPU;
 * - [RunnerKind.ORT_CPU]: a plain or QDQ ONNX graph on the CPU EP; for quantized (a8w8/a16w8)
 *   graphs all graph optimizations are off, as in `toolchain/deploy/host_runner.py`, so the
 *   QDQ graph runs as written (ORT's fused int8 kernels are not the reference).
 *
 * The graph's I/O must match the manifest (one input, one output, names, shapes, dtypes) and
 * the tile spec; inputs are mapped to the manifest's value range, layout and dtype (quantized
 * with its parameters when the dtype is an integer), outputs mapped back ([TensorCodec]). The
 * I/O tensors are allocated once and bound to the session for every tile.
 */
class OrtTileRunner private constructor(
    private val session: OrtSession,
    private val inputName: String,
    private val outputName: String,
    private val input: TensorCodec,
    private val output: TensorCodec,
    private val inputTensor: OnnxTensor,
    private val outputTensor: OnnxTensor,
    override val accelerator: Accelerator,
    override val description: String,
    override val tile: Int,
    override val scale: Int,
) : TileRunner {
    private val inputs = mapOf(inputName to inputTensor)
    private val pinned = mapOf(outputName to outputTensor)

    override fun run(input: FloatArray, output: FloatArray) {
        this.input.encode(input)
        session.run(inputs, pinned).close() // the pinned output tensor is not owned by the result
        this.output.decode(output)
    }

    override fun close() {
        inputTensor.close()
        outputTensor.close()
        session.close()
    }

    companion object {
        private val registeredPlugins = mutableSetOf<String>()

        /**
         * Opens [candidate]'s graph from the bundle folder [bundleDir] (a real directory: an
         * EPContext model finds its context binary by relative path). Throws
         * [IllegalStateException] with a one-line reason (the fallback policy records it).
         */
        fun open(bundleDir: File, manifest: BundleManifest, candidate: Candidate, qnn: QnnSetup? = null): OrtTileRunner {
            val graph = candidate.graph
            val where = graph.file
            check(candidate.kind == RunnerKind.ORT_QNN_HTP || candidate.kind == RunnerKind.ORT_CPU) {
                "$where: ${candidate.kind.label} is not an ONNX Runtime runner"
            }
            GraphIo.checkTileShapes(graph, manifest.tileSpec, where)
            val env = OrtEnvironment.getEnvironment()
            val options = OrtSession.SessionOptions()
            try {
                if (candidate.kind == RunnerKind.ORT_QNN_HTP) {
                    addQnn(env, options, qnn ?: error("$where: no QNN setup given for the NPU runner"), where)
                } else if (graph.precision == Precision.A8W8 || graph.precision == Precision.A16W8) {
                    options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT)
                }
                val session = try {
                    env.createSession(File(bundleDir, graph.file).path, options)
                } catch (e: OrtException) {
                    error("$where: ONNX Runtime cannot load the graph (${firstLine(e)})")
                }
                try {
                    return build(env, session, graph, manifest.tileSpec, candidate, where)
                } catch (e: Exception) {
                    session.close()
                    throw e
                }
            } finally {
                options.close()
            }
        }

        private fun addQnn(env: OrtEnvironment, options: OrtSession.SessionOptions, qnn: QnnSetup, where: String) {
            try {
                options.addConfigEntry("session.disable_cpu_ep_fallback", "1")
                val plugin = qnn.pluginLibrary
                if (plugin == null) {
                    options.addQnn(qnn.providerOptions)
                    return
                }
                synchronized(registeredPlugins) {
                    if (plugin !in registeredPlugins) {
                        env.registerExecutionProviderLibrary(QNN_EP, plugin)
                        registeredPlugins += plugin
                    }
                }
                val devices = env.epDevices.filter { it.epName == QNN_EP }
                val npu = devices.filter { it.device.type == OrtHardwareDevice.OrtHardwareDeviceType.NPU }
                check(devices.isNotEmpty()) { "$where: the QNN execution provider reports no device on this phone" }
                options.addExecutionProvider(npu.ifEmpty { devices }, qnn.providerOptions)
            } catch (e: OrtException) {
                error("$where: cannot set up the QNN execution provider (${firstLine(e)})")
            }
        }

        private fun build(
            env: OrtEnvironment,
            session: OrtSession,
            graph: GraphFile,
            spec: TileSpec,
            candidate: Candidate,
            where: String,
        ): OrtTileRunner {
            val inputs = session.inputInfo
            val outputs = session.outputInfo
            GraphIo.checkIo(where, "input", graph.inputs, reported(inputs.mapValues { it.value.info as? TensorInfo }))
            GraphIo.checkIo(where, "output", graph.outputs, reported(outputs.mapValues { it.value.info as? TensorInfo }))
            val inTensor = graph.inputs[0]
            val outTensor = graph.outputs[0]
            val inCodec = TensorCodec(inTensor)
            val outCodec = TensorCodec(outTensor)
            val inValue = OnnxTensor.createTensor(env, inCodec.buffer, inTensor.shape.map { it.toLong() }.toLongArray(), javaType(inTensor))
            val outValue = try {
                OnnxTensor.createTensor(env, outCodec.buffer, outTensor.shape.map { it.toLong() }.toLongArray(), javaType(outTensor))
            } catch (e: Exception) {
                inValue.close()
                throw e
            }
            return OrtTileRunner(
                session,
                inTensor.name,
                outTensor.name,
                inCodec,
                outCodec,
                inValue,
                outValue,
                candidate.accelerator,
                "${candidate.kind.label}, ${graph.file}",
                spec.tile,
                spec.scale,
            )
        }

        private fun javaType(tensor: IoTensor): OnnxJavaType = when (tensor.dtype) {
            "float32" -> OnnxJavaType.FLOAT
            "uint8" -> OnnxJavaType.UINT8
            "int8" -> OnnxJavaType.INT8
            "int16" -> OnnxJavaType.INT16
            else -> error("tensor ${tensor.name}: dtype ${tensor.dtype} is not supported by the ONNX Runtime runner")
        }

        private val ORT_DTYPES = mapOf(
            OnnxJavaType.FLOAT to "float32",
            OnnxJavaType.FLOAT16 to "float16",
            OnnxJavaType.UINT8 to "uint8",
            OnnxJavaType.INT8 to "int8",
            OnnxJavaType.INT16 to "int16",
        )

        /**
         * The session's tensors for core's [GraphIo.checkIo] (as the host runner's `_check_io`):
         * name, shape and dtype; ONNX Runtime reports no quantization.
         */
        private fun reported(found: Map<String, TensorInfo?>): List<ReportedTensor> = found.map { (name, info) ->
            ReportedTensor(name, info?.shape?.toList() ?: emptyList(), info?.type?.let { ORT_DTYPES[it] ?: it.name.lowercase() })
        }

        private fun firstLine(e: Exception): String =
            e.message?.lineSequence()?.firstOrNull { it.isNotBlank() }?.trim() ?: e.javaClass.simpleName

        private const val QNN_EP = "QNNExecutionProvider"
    }
}
