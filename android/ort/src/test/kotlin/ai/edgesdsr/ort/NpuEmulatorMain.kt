package ai.edgesdsr.ort

import ai.edgesdsr.core.Artifact
import ai.edgesdsr.core.BundleVerifier
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DirectoryBundle
import ai.edgesdsr.core.RunnerKind
import java.io.File
import kotlin.math.log10
import kotlin.system.exitProcess

/**
 * The NPU code path of [OrtTileRunner] on the host: opens the bundle's QNN EPContext graph
 * through the QNN EP plugin and HTP backend of the `onnxruntime-qnn` Python wheel (whose x86
 * libQnnHtp emulates the HTP bit-accurately, slowly), runs one deterministic tile and
 * compares it with the CPU runner on the host-reference QDQ graph.
 *
 * Usage: NpuEmulatorMain <bundle dir> <libonnxruntime_providers_qnn.so> <libQnnHtp.so>
 */
fun main(args: Array<String>) {
    if (args.size != 3) {
        System.err.println("usage: NpuEmulatorMain <bundle dir> <libonnxruntime_providers_qnn.so> <libQnnHtp.so>")
        exitProcess(2)
    }
    val bundleDir = File(args[0])
    val manifest = BundleVerifier.verify(DirectoryBundle(bundleDir))
    val npuGraph = manifest.graphs.first { it.artifact == Artifact.QNN_EPCONTEXT }
    val cpuGraph = manifest.graphs.first { it.artifact == Artifact.ONNX }
    val qnn = QnnSetup(pluginLibrary = args[1], providerOptions = mapOf("backend_path" to args[2]))
    val tile = manifest.tileSpec.tile
    val input = FloatArray(tile * tile * 3) { i -> ((i * 2654435761L) ushr 8 and 0xFF).toFloat() / 255f }
    val size = manifest.tileSpec.outTile
    val npuOut = FloatArray(size * size * 3)
    val cpuOut = FloatArray(size * size * 3)
    val start = System.nanoTime()
    OrtTileRunner.open(bundleDir, manifest, Candidate(RunnerKind.ORT_QNN_HTP, npuGraph), qnn).use { it.run(input, npuOut) }
    val npuSeconds = (System.nanoTime() - start) / 1e9
    OrtTileRunner.open(bundleDir, manifest, Candidate(RunnerKind.ORT_CPU, cpuGraph)).use { it.run(input, cpuOut) }
    val mse = npuOut.indices.sumOf { i -> (npuOut[i].coerceIn(0f, 1f) - cpuOut[i].coerceIn(0f, 1f)).toDouble().let { it * it } } / npuOut.size
    println("npu-emulator: ${npuGraph.file} one tile in %.1f s; PSNR vs CPU QDQ %.2f dB".format(npuSeconds, 10 * log10(1 / mse)))
}
