package ai.edgesdsr.ort

import ai.edgesdsr.core.Artifact
import ai.edgesdsr.core.BundleVerifier
import ai.edgesdsr.core.Candidate
import ai.edgesdsr.core.DirectoryBundle
import ai.edgesdsr.core.RgbImage
import ai.edgesdsr.core.RunnerKind
import ai.edgesdsr.core.TileEngine
import java.awt.image.BufferedImage
import java.io.File
import javax.imageio.ImageIO
import kotlin.system.exitProcess

/**
 * Engine parity, Kotlin side: upscales PNGs with the Kotlin [TileEngine] and [OrtTileRunner] on
 * the bundle's host-reference ONNX graph (the graph `toolchain upscale --bundle B --runtime onnx`
 * picks: the first ONNX graph of the manifest), and writes PNGs for android/tools/parity.py to
 * compare with the toolchain's output.
 *
 * Usage: ParityMain <bundle dir> <input.png> <output.png> [<input.png> <output.png> ...]
 */
fun main(args: Array<String>) {
    if (args.size < 3 || args.size % 2 == 0) {
        System.err.println("usage: ParityMain <bundle dir> <input.png> <output.png> [<input.png> <output.png> ...]")
        exitProcess(2)
    }
    val bundleDir = File(args[0])
    val manifest = BundleVerifier.verify(DirectoryBundle(bundleDir))
    val graph = manifest.graphs.firstOrNull { it.artifact == Artifact.ONNX }
        ?: error("bundle $bundleDir has no ONNX graph to run on the CPU")
    OrtTileRunner.open(bundleDir, manifest, Candidate(RunnerKind.ORT_CPU, graph)).use { runner ->
        val engine = TileEngine(runner, manifest.tileSpec)
        for (i in 1 until args.size step 2) {
            val src = File(args[i])
            val image = ImageIO.read(src) ?: error("$src is not a readable image")
            val w = image.width
            val h = image.height
            val lr = RgbImage(w, h, image.getRGB(0, 0, w, h, null, 0, w))
            val out = BufferedImage(w * manifest.tileSpec.scale, h * manifest.tileSpec.scale, BufferedImage.TYPE_INT_RGB)
            var rows = IntArray(0)
            val result = engine.run(lr, { band ->
                if (rows.size < band.rows * band.width) rows = IntArray(band.rows * band.width)
                band.copyArgb(rows)
                out.setRGB(0, band.y0, band.width, band.rows, rows, 0, band.width)
            })
            ImageIO.write(out, "png", File(args[i + 1]))
            val perTile = result.tileNanos.average() / 1e6
            println(
                "kotlin: ${src.name} ${w}x$h -> ${result.outWidth}x${result.outHeight}, ${result.tileNanos.size} tiles, " +
                    "%.1f s (%.0f ms/tile inference), %s".format(result.totalNanos / 1e9, perTile, result.runner),
            )
        }
    }
}
