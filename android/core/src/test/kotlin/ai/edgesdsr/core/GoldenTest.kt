package ai.edgesdsr.core

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.boolean
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/** Python (toolchain) and Kotlin agree exactly on the golden vectors of tests/golden/android. */
class GoldenTest {
    private val tiling = Golden.json("tiling.json")

    @Test
    fun `tile plans match the toolchain, including the shared tests-golden plans`() {
        val specs = tiling.getValue("specs").jsonObject.mapValues { Golden.spec(it.value) }
        val plans = tiling.getValue("plans").jsonArray.map { it.jsonObject }
        assertTrue(plans.size >= 20)
        for (case in plans) {
            val expected = case.getValue("plan").jsonObject
            val spec = specs.getValue(case.getValue("spec_name").jsonPrimitive.content)
            val plan = planTiles(expected.getValue("height").jsonPrimitive.int, expected.getValue("width").jsonPrimitive.int, spec)
            assertEquals(expected, planJson(plan), "plan $plan")
        }
        val shared = Golden.dir.parentFile.listFiles { f -> f.name.startsWith("plan_") && f.name.endsWith(".json") }!!
        assertEquals(3, shared.size, "tests/golden/plan_*.json")
        for (file in shared) {
            val expected = Json.parseToJsonElement(file.readText()).jsonObject.getValue("plan").jsonObject
            val spec = Golden.spec(expected.getValue("spec"))
            val plan = planTiles(expected.getValue("height").jsonPrimitive.int, expected.getValue("width").jsonPrimitive.int, spec)
            assertEquals(expected, planJson(plan), file.name)
        }
    }

    @Test
    fun `ramps and blend windows are bitwise the float32 of numpy`() {
        for ((length, values) in tiling.getValue("ramps").jsonObject) {
            assertBitwise(Golden.floats(values), ramp(length.toInt()), "ramp($length)")
        }
        val specs = tiling.getValue("specs").jsonObject.mapValues { Golden.spec(it.value) }
        for (case in tiling.getValue("windows").jsonArray.map { it.jsonObject }) {
            val spec = specs.getValue(case.getValue("spec_name").jsonPrimitive.content)
            val plan = planTiles(case.getValue("height").jsonPrimitive.int, case.getValue("width").jsonPrimitive.int, spec)
            val (row, col) = Golden.ints(case.getValue("tile")).let { it[0] to it[1] }
            val tile = plan.tiles.single { it.row == row && it.col == col }
            assertBitwise(Golden.floats(case.getValue("axis_y")), axisWindow(row, plan.rows, spec), "axis_y $tile")
            assertBitwise(Golden.floats(case.getValue("axis_x")), axisWindow(col, plan.cols, spec), "axis_x $tile")
            val window = blendWindow(plan, tile)
            for (point in case.getValue("points").jsonArray) {
                val (r, c) = point.jsonArray[0].jsonPrimitive.int to point.jsonArray[1].jsonPrimitive.int
                val expected = point.jsonArray[2].jsonPrimitive.content.toDouble().toFloat()
                assertEquals(expected.toRawBits(), window[r * spec.outTile + c].toRawBits(), "window $tile at ($r, $c)")
            }
        }
    }

    @Test
    fun `pixel conversion rounds like the toolchain`() {
        val pixels = Golden.json("pixels.json")
        val toFloat = Golden.floats(pixels.getValue("byte_to_float"))
        assertBitwise(toFloat, FloatArray(256) { Pixels.channel(0xFF000000.toInt() or (it shl 8), 8) }, "byte -> float")
        val inputs = Golden.floats(pixels.getValue("float_in"))
        val expected = Golden.ints(pixels.getValue("byte_out"))
        assertTrue(inputs.size > 700)
        for (i in inputs.indices) assertEquals(expected[i], Pixels.toByte(inputs[i]), "toByte(${inputs[i]})")
        // the whole-image conversions use the same rounding
        val gray = RgbImage(256, 1, IntArray(256) { v -> (0xFF shl 24) or (v shl 16) or (v shl 8) or v })
        assertBitwise(FloatArray(768) { toFloat[it / 3] }, Pixels.toNhwc(gray), "toNhwc")
        val triples = inputs.size / 3
        val argb = Pixels.toArgb(inputs, triples)
        for (p in 0 until triples) {
            val channels = listOf((argb[p] shr 16) and 0xFF, (argb[p] shr 8) and 0xFF, argb[p] and 0xFF)
            assertEquals(expected.slice(p * 3 until p * 3 + 3), channels, "toArgb pixel $p")
            assertEquals(0xFF, argb[p] ushr 24)
        }
    }

    /** The fake graph of the Python test: nearest x scale, * 0.9 + 0.05 + 0.001 * (x mod 7), in float32. */
    private class FakeRunner(override val tile: Int, override val scale: Int) : TileRunner {
        override val accelerator = Accelerator.CPU
        override val description = "golden fake runner"
        private val size = tile * scale
        private val ripple = FloatArray(size) { (it % 7).toFloat() * 0.001f }

        override fun run(input: FloatArray, output: FloatArray) {
            for (y in 0 until size) for (x in 0 until size) for (c in 0 until 3) {
                val v = input[((y / scale) * tile + x / scale) * 3 + c]
                output[(y * size + x) * 3 + c] = v * 0.9f + 0.05f + ripple[x]
            }
        }

        override fun close() {}
    }

    @Test
    fun `the engine assembles bands bitwise like upscale_tiled`() {
        val cases = Golden.json("assembly.json").getValue("cases").jsonArray.map { it.jsonObject }
        assertEquals(3, cases.size)
        for (case in cases) {
            val name = case.getValue("name").jsonPrimitive.content
            val spec = Golden.spec(case.getValue("spec"))
            val (h, w) = case.getValue("height").jsonPrimitive.int to case.getValue("width").jsonPrimitive.int
            val rgb = Golden.ints(case.getValue("rgb"))
            val image = RgbImage(w, h, IntArray(w * h) { p -> (0xFF shl 24) or (rgb[p * 3] shl 16) or (rgb[p * 3 + 1] shl 8) or rgb[p * 3 + 2] })
            val outW = w * spec.scale
            val floats = FloatArray(h * spec.scale * outW * 3)
            val argb = IntArray(h * spec.scale * outW)
            var covered = 0
            val result = TileEngine(FakeRunner(spec.tile, spec.scale), spec).run(image, { band ->
                assertEquals(covered, band.y0, "$name: bands arrive in order without gaps")
                band.copyFloats(floats, band.y0 * outW * 3)
                band.copyArgb(argb, band.y0 * outW)
                covered += band.rows
            })
            assertEquals(h * spec.scale, covered, "$name: output rows")
            assertEquals(outW to h * spec.scale, result.outWidth to result.outHeight)
            assertBitwise(Golden.floats(case.getValue("out_float")), floats, "$name float output")
            val bytes = Golden.ints(case.getValue("out_bytes"))
            for (p in argb.indices) {
                val actual = intArrayOf((argb[p] shr 16) and 0xFF, (argb[p] shr 8) and 0xFF, argb[p] and 0xFF)
                val expected = intArrayOf(bytes[p * 3], bytes[p * 3 + 1], bytes[p * 3 + 2])
                if (!actual.contentEquals(expected)) fail<Unit>("$name pixel $p: expected ${expected.toList()}, got ${actual.toList()}")
            }
        }
    }

    private val manifests = Golden.json("manifests.json")
    private val bundle = File(Golden.dir, "bundle")

    @Test
    fun `the golden bundle verifies and parses to the toolchain's reading`() {
        val manifest = BundleVerifier.verify(DirectoryBundle(bundle))
        val summary = manifests.getValue("valid_summary").jsonObject
        assertEquals(summary.getValue("target").jsonPrimitive.content, manifest.target)
        assertEquals(Golden.spec(summary.getValue("tile_spec")), manifest.tileSpec)
        // file, artifact, runtime, role and the graph's own QNN version (null for the non-NPU graphs)
        assertEquals(
            summary.getValue("graphs").jsonArray.map { g -> g.jsonArray.map { it.jsonPrimitive.contentOrNull } },
            manifest.graphs.map { listOf(it.file, it.artifact.json, it.runtime.json, it.role.json, it.qnnSdkVersion) },
        )
        assertEquals("v2.49.40.260812120000", manifest.graphs.single { it.artifact == Artifact.QNN_EPCONTEXT }.qnnSdkVersion)
        assertEquals(summary.getValue("qnn_sdk_version").jsonPrimitive.content, manifest.compiler.qnnSdkVersion)
        assertEquals(summary.getValue("npu_soc_models").jsonArray.map { it.jsonPrimitive.content }, manifest.npuSocModels)
        assertEquals(listOf("SM8650"), manifest.npuSocModels)
        assertEquals(summary.getValue("files").jsonPrimitive.int, manifest.files.size)
        assertEquals(QuantParams(1.0 / 255, 0, "uint8"), manifest.graphs[2].inputs[0].quant)
    }

    @Test
    fun `every manifest the toolchain refuses is refused with the same reason`() {
        val valid = Json.parseToJsonElement(File(bundle, MANIFEST_NAME).readText())
        val cases = manifests.getValue("refused").jsonArray.map { it.jsonObject }
        assertTrue(cases.size >= 10)
        for (case in cases) {
            val name = case.getValue("name").jsonPrimitive.content
            val edit = case.getValue("edit").jsonObject
            val path = edit.getValue("path").jsonArray.map { it.jsonPrimitive }
            val deleted = edit["delete"]?.jsonPrimitive?.boolean == true
            val text = editJson(valid, path, if (deleted) null else edit.getValue("value")).toString()
            val error = try {
                BundleManifest.parse(text)
                fail<Nothing>("$name: the manifest was accepted; the toolchain says: ${case.getValue("reason").jsonPrimitive.content}")
            } catch (e: EnhanceError) {
                e
            }
            val kind = case.getValue("kind").jsonPrimitive.content
            val expectedClass = if (kind == "unsupported_schema") EnhanceError.UnsupportedSchema::class else EnhanceError.ManifestInvalid::class
            assertEquals(expectedClass, error::class, "$name: ${error.message}")
            val mention = case.getValue("must_mention").jsonPrimitive.content
            assertTrue(error.message!!.contains(mention), "$name: '${error.message}' does not mention '$mention'")
            assertTrue('\n' !in error.message!!, "$name: one line")
        }
    }

    @Test
    fun `refusals at a key path give the toolchain's reason word for word`() {
        val valid = Json.parseToJsonElement(File(bundle, MANIFEST_NAME).readText())
        val suffix = "; re-export with `toolchain export`"
        var checked = 0
        for (case in manifests.getValue("refused").jsonArray.map { it.jsonObject }) {
            val reason = case.getValue("reason").jsonPrimitive.content
            // `manifest: ...` and `manifest.graphs[0].runtime: ...`, not `manifest.json has no ...` nor the schema ones
            if (case.getValue("kind").jsonPrimitive.content != "invalid" || !Regex("^manifest[.:\\[]").containsMatchIn(reason) ||
                reason.startsWith("manifest.json")
            ) continue
            val name = case.getValue("name").jsonPrimitive.content
            val edit = case.getValue("edit").jsonObject
            val path = edit.getValue("path").jsonArray.map { it.jsonPrimitive }
            val deleted = edit["delete"]?.jsonPrimitive?.boolean == true
            val text = editJson(valid, path, if (deleted) null else edit.getValue("value")).toString()
            val error = assertThrows(EnhanceError.ManifestInvalid::class.java, { BundleManifest.parse(text) }, name)
            assertTrue(reason.endsWith(suffix), "$name: $reason")
            assertEquals(reason.removeSuffix(suffix), error.reason, name)
            checked++
        }
        assertTrue(checked >= 10, "checked $checked cases")
        val badEnum = manifests.getValue("refused").jsonArray.map { it.jsonObject }.single { it.getValue("name").jsonPrimitive.content == "bad_enum" }
        assertTrue(badEnum.getValue("reason").jsonPrimitive.content.startsWith("manifest.graphs[0].runtime: 'tpu' is not one of "))
    }

    @Test
    fun `a schema 1_0 manifest is read with the top-level QNN version on its NPU graphs`() {
        val legacy = manifests.getValue("legacy_1_0").jsonObject
        val json = legacy.getValue("manifest").jsonObject
        assertTrue(json.getValue("graphs").jsonArray.none { "qnn_sdk_version" in it.jsonObject }, "1.0 graphs have no QNN key")
        val manifest = BundleManifest.parse(json.toString())
        assertEquals("1.0", manifest.schemaVersion)
        assertTrue("npu_soc_models" !in json, "1.0 has no npu_soc_models")
        assertEquals(emptyList<String>(), manifest.npuSocModels) // 1.0 named no SoC: no phone takes its NPU graphs
        assertEquals(
            legacy.getValue("graph_qnn_sdk_versions").jsonArray.map { it.jsonPrimitive.contentOrNull },
            manifest.graphs.map { it.qnnSdkVersion },
        )
        assertEquals(BundleVerifier.readManifest(DirectoryBundle(bundle)).graphs, manifest.graphs)
    }

    @Test
    fun `tampered bundles are refused naming the file`(@TempDir tmp: File) {
        for (case in manifests.getValue("tampered").jsonArray.map { it.jsonObject }) {
            val name = case.getValue("name").jsonPrimitive.content
            val folder = File(tmp, name)
            bundle.copyRecursively(folder)
            val change = case.getValue("change").jsonObject
            change["flip_byte"]?.jsonArray?.let { spec ->
                val file = File(folder, spec[0].jsonPrimitive.content)
                val bytes = file.readBytes()
                val offset = spec[1].jsonPrimitive.int
                bytes[offset] = (bytes[offset].toInt() xor 0xFF).toByte()
                file.writeBytes(bytes)
            }
            change["delete"]?.let { File(folder, it.jsonPrimitive.content).delete() }
            change["add"]?.let { File(folder, it.jsonPrimitive.content).writeText("not in the manifest\n") }
            BundleVerifier.readManifest(DirectoryBundle(folder)) // the manifest itself is fine
            val error = try {
                BundleVerifier.verify(DirectoryBundle(folder))
                fail<Nothing>("$name: the tampered bundle was accepted")
            } catch (e: EnhanceError.BundleTampered) {
                e
            }
            val mention = case.getValue("must_mention").jsonPrimitive.content
            assertTrue(error.message!!.contains(mention), "$name: '${error.message}' does not mention '$mention'")
        }
    }

    @Test
    fun `the app's QNN runtime version is the catalog's qnnSdk`() {
        val catalog = File(Golden.dir, "../../../android/gradle/libs.versions.toml").canonicalFile
        val line = catalog.readLines().single { it.trimStart().startsWith("qnnSdk ") || it.trimStart().startsWith("qnnSdk=") }
        val version = Regex("\"([^\"]+)\"").find(line)!!.groupValues[1]
        assertEquals(version, AppRuntime.QNN_SDK_VERSION, "AppRuntime.QNN_SDK_VERSION vs $catalog")
    }

    @Suppress("unused")
    private fun JsonObject.string(key: String): String = (getValue(key) as JsonPrimitive).content
}
