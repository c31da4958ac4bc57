package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test
import java.io.File

/** The runners' shared I/O checks (host_runner.py's `_check_io`, LiteRT quantization, tile shapes). */
class GraphIoTest {
    private val manifest = BundleVerifier.readManifest(DirectoryBundle(File(Golden.dir, "bundle")))
    private val float = manifest.graphs.single { it.file == "graphs/nearest.onnx" }
    private val u8 = manifest.graphs.single { it.file == "graphs/nearest-u8.onnx" }
    private val where = "graphs/x.tflite"

    private fun fails(block: () -> Unit): String = assertThrows(IllegalStateException::class.java) { block() }.message!!

    private val lrTile = ReportedTensor(null, listOf(1, 16, 16, 3), "float32", ReportedQuant(0.0, 0))

    @Test
    fun `matching tensors pass, unreported names and symbolic dimensions are not compared`() {
        GraphIo.checkIo(where, "input", float.inputs, listOf(lrTile))
        GraphIo.checkIo(where, "input", float.inputs, listOf(ReportedTensor("lr_tile", listOf(-1, 16, 16, 3), "float32")))
        GraphIo.checkIo(where, "output", float.outputs, listOf(ReportedTensor(null, listOf(1, 64, 64, 3), "float32", ReportedQuant(0.0, 0))))
        val scale = u8.inputs[0].quant!!.scale
        GraphIo.checkIo(where, "input", u8.inputs, listOf(ReportedTensor(null, listOf(1, 16, 16, 3), "uint8", ReportedQuant(scale.toFloat().toDouble(), 0))))
        // a quantized manifest tensor whose runtime does not report quantization (ONNX Runtime), or scale 0
        GraphIo.checkIo(where, "input", u8.inputs, listOf(ReportedTensor(null, listOf(1, 16, 16, 3), "uint8")))
        GraphIo.checkIo(where, "input", u8.inputs, listOf(ReportedTensor(null, listOf(1, 16, 16, 3), "uint8", ReportedQuant(0.0, 7))))
    }

    @Test
    fun `mismatches are refused with the host runner's words`() {
        val fix = "the manifest does not describe this graph; re-export the bundle"
        assertEquals(
            "$where: graph has 2 input(s), manifest lists 1; the runner needs exactly one; re-export the bundle",
            fails { GraphIo.checkIo(where, "input", float.inputs, listOf(lrTile, lrTile)) },
        )
        assertEquals(
            "$where: graph input is named 'image', manifest says 'lr_tile'; $fix",
            fails { GraphIo.checkIo(where, "input", float.inputs, listOf(lrTile.copy(name = "image"))) },
        )
        assertEquals(
            "$where: graph input lr_tile has shape 1x3x16x16, manifest says 1x16x16x3; $fix",
            fails { GraphIo.checkIo(where, "input", float.inputs, listOf(lrTile.copy(shape = listOf(1, 3, 16, 16)))) },
        )
        assertEquals(
            "$where: graph output hr_tile is uint8, manifest says float32; $fix",
            fails { GraphIo.checkIo(where, "output", float.outputs, listOf(ReportedTensor(null, listOf(1, 64, 64, 3), "uint8"))) },
        )
        assertEquals(
            "$where: input quantization in the graph (scale 0.0078125, zero point 128) differs from the manifest " +
                "(scale 0.00392157, zero point 0); re-export the bundle",
            fails {
                GraphIo.checkIo(where, "input", u8.inputs, listOf(ReportedTensor(null, listOf(1, 16, 16, 3), "uint8", ReportedQuant(0.0078125, 128))))
            },
        )
        val scale = u8.inputs[0].quant!!.scale
        assertEquals(
            "$where: output quantization in the graph (scale 0.00392157, zero point 1) differs from the manifest " +
                "(scale 0.00392157, zero point 0); re-export the bundle",
            fails {
                GraphIo.checkIo(where, "output", u8.outputs, listOf(ReportedTensor(null, listOf(1, 64, 64, 3), "uint8", ReportedQuant(scale, 1))))
            },
        )
    }

    @Test
    fun `tile shapes must fit the tile spec`() {
        GraphIo.checkTileShapes(float, manifest.tileSpec, where)
        assertEquals(
            "$where: input lr_tile is 16x16 but the tile spec (tile 32, scale 4) needs 32x32; re-export the bundle",
            fails { GraphIo.checkTileShapes(float, manifest.tileSpec.copy(tile = 32), where) },
        )
        val batch2 = float.copy(inputs = listOf(float.inputs[0].copy(shape = listOf(2, 16, 16, 3))))
        assertEquals(
            "$where: input lr_tile has batch 2; the runner needs batch 1; re-export the bundle",
            fails { GraphIo.checkTileShapes(batch2, manifest.tileSpec, where) },
        )
    }

    @Test
    fun `numbers print like Python's format g`() {
        assertEquals("0.00392157", GraphIo.formatG(0.00392156862745098))
        assertEquals("1", GraphIo.formatG(1.0))
        assertEquals("0", GraphIo.formatG(0.0))
        assertEquals("1.5e-05", GraphIo.formatG(1.5e-5))
        assertEquals("0.0001", GraphIo.formatG(1e-4))
        assertEquals("100000", GraphIo.formatG(1e5))
        assertEquals("1.23457e+06", GraphIo.formatG(1234567.0))
        assertEquals("3.05176e-05", GraphIo.formatG(1.0 / 32768))
    }
}
