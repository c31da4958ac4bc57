package ai.edgesdsr.core

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

class BundleErrorsTest {
    @Test
    fun `a folder without manifest is a missing bundle`(@TempDir dir: File) {
        val error = assertThrows(EnhanceError.BundleMissing::class.java) { BundleVerifier.verify(DirectoryBundle(dir)) }
        assertEquals("no bundle at $dir (manifest.json missing); push a bundle written by `toolchain export`", error.message)
    }

    @Test
    fun `broken JSON and a missing schema version are one-line manifest errors`() {
        val broken = assertThrows(EnhanceError.ManifestInvalid::class.java) { BundleManifest.parse("{\"schema_version\": ") }
        assertTrue(broken.reason.startsWith("manifest.json is not valid JSON"), broken.reason)
        assertTrue('\n' !in broken.message!!)
        val noVersion = assertThrows(EnhanceError.ManifestInvalid::class.java) { BundleManifest.parse("[1, 2]") }
        assertEquals("no valid schema_version (got none, expected 'major.minor')", noVersion.reason)
    }

    private val golden = File(Golden.dir, "bundle/$MANIFEST_NAME").readText()

    @Test
    fun `a newer minor version with known keys is read`() {
        assertTrue("\"schema_version\": \"1.$MANIFEST_SCHEMA_MINOR\"" in golden)
        val text = golden.replace("\"schema_version\": \"1.$MANIFEST_SCHEMA_MINOR\"", "\"schema_version\": \"1.7\"")
        assertEquals("1.7", BundleManifest.parse(text).schemaVersion)
    }

    /** The golden manifest with [edit] applied to its first graph (the EPContext one). */
    private fun withNpuGraph(schema: String, edit: (MutableMap<String, JsonElement>) -> Unit): String {
        val root = Json.parseToJsonElement(golden).jsonObject.toMutableMap()
        val graphs = root.getValue("graphs").jsonArray.toMutableList()
        graphs[0] = JsonObject(graphs[0].jsonObject.toMutableMap().also(edit))
        root["graphs"] = JsonArray(graphs)
        root["schema_version"] = JsonPrimitive(schema)
        return JsonObject(root).toString()
    }

    @Test
    fun `from schema 1_1 each graph must state its QNN version`() {
        val missing = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(withNpuGraph("1.1") { it.remove("qnn_sdk_version") })
        }
        assertEquals("manifest.graphs[0]: missing key 'qnn_sdk_version'", missing.reason)
        val newer = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(withNpuGraph("1.2") { it.remove("qnn_sdk_version") })
        }
        assertEquals(
            "manifest.graphs[0]: missing key 'qnn_sdk_version' (written by a newer toolchain: schema 1.2, this app reads 1.$MANIFEST_SCHEMA_MINOR)",
            newer.reason,
        )
        val notString = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(withNpuGraph("1.1") { it["qnn_sdk_version"] = JsonPrimitive(2.5) })
        }
        assertEquals("manifest.graphs[0].qnn_sdk_version: expected str, got 2.5", notString.reason)
        val plain = BundleManifest.parse(withNpuGraph("1.1") { it["qnn_sdk_version"] = JsonPrimitive("2.50.40") })
        assertEquals("2.50.40", plain.graphs[0].qnnSdkVersion)
    }

    @Test
    fun `a schema 1_0 EPContext graph without any QNN version is refused, one with its own key is read`() {
        val root = Json.parseToJsonElement(withNpuGraph("1.0") { it.remove("qnn_sdk_version") }).jsonObject
        val compiler = JsonObject(root.getValue("compiler").jsonObject + ("qnn_sdk_version" to JsonNull))
        val error = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(JsonObject(root + ("compiler" to compiler)).toString())
        }
        assertTrue(error.reason.contains("qnn_sdk_version must name"), error.reason)
        val own = BundleManifest.parse(withNpuGraph("1.0") { it["qnn_sdk_version"] = JsonPrimitive("2.48.0") })
        assertEquals("2.48.0", own.graphs[0].qnnSdkVersion)
    }

    /** The golden manifest at [schema] with its top-level `npu_soc_models` set to [value] (removed when null). */
    private fun withSocs(schema: String, value: JsonElement?): String {
        val root = Json.parseToJsonElement(golden).jsonObject.toMutableMap()
        if (value == null) root.remove("npu_soc_models") else root["npu_soc_models"] = value
        root["schema_version"] = JsonPrimitive(schema)
        return JsonObject(root).toString()
    }

    @Test
    fun `from schema 1_1 the manifest must name its NPU SoCs as a list of strings`() {
        assertEquals(listOf("SM8650"), BundleManifest.parse(golden).npuSocModels)
        val missing = assertThrows(EnhanceError.ManifestInvalid::class.java) { BundleManifest.parse(withSocs("1.1", null)) }
        assertEquals("manifest: missing key 'npu_soc_models'", missing.reason)
        val notList = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(withSocs("1.1", JsonPrimitive("SM8650")))
        }
        assertEquals("manifest.npu_soc_models: expected a list, got str", notList.reason)
        val notString = assertThrows(EnhanceError.ManifestInvalid::class.java) {
            BundleManifest.parse(withSocs("1.1", JsonArray(listOf(JsonPrimitive("SM8650"), JsonNull))))
        }
        assertEquals("manifest.npu_soc_models[1]: expected str, got None", notString.reason)
        assertEquals(emptyList<String>(), BundleManifest.parse(withSocs("1.1", JsonArray(emptyList()))).npuSocModels)
        val two = BundleManifest.parse(withSocs("1.1", JsonArray(listOf(JsonPrimitive("SM8650"), JsonPrimitive("SM8750")))))
        assertEquals(listOf("SM8650", "SM8750"), two.npuSocModels)
    }

    @Test
    fun `a schema 1_0 manifest names no NPU SoC unless it carries the key`() {
        assertEquals(emptyList<String>(), BundleManifest.parse(withSocs("1.0", null)).npuSocModels)
        assertEquals(listOf("SM8650"), BundleManifest.parse(withSocs("1.0", JsonArray(listOf(JsonPrimitive("SM8650"))))).npuSocModels)
    }
}
