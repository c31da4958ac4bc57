package ai.edgesdsr.core

import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/**
 * The manifest contract of tests/golden/android/contract.json (written by
 * tests/test_android_golden.py from the toolchain's own enums): every value a manifest can carry
 * has the same wire spelling here, in the same order, and the shared constants agree.
 */
class ContractTest {
    private val contract = Golden.json("contract.json")

    private fun strings(key: String): List<String> = contract.getValue(key).jsonArray.map { it.jsonPrimitive.content }

    @Test
    fun `the contract has exactly the keys checked here`() {
        assertEquals(
            setOf(
                "schema_version", "artifacts", "runtimes", "roles", "precisions", "layouts", "dtypes", "pad_modes",
                "max_input_pixels", "app_qnn_runtime",
            ),
            contract.keys,
            "a new key in contract.json needs a check in ContractTest",
        )
    }

    @Test
    fun `enum wire values are the toolchain's`() {
        assertEquals(strings("artifacts"), Artifact.entries.map { it.json }, "Artifact")
        assertEquals(strings("runtimes"), GraphRuntime.entries.map { it.json }, "GraphRuntime")
        assertEquals(strings("roles"), GraphRole.entries.map { it.json }, "GraphRole")
        assertEquals(strings("precisions"), Precision.entries.map { it.json }, "Precision")
        assertEquals(strings("layouts"), ManifestReader.LAYOUTS, "layouts")
        assertEquals(strings("dtypes"), ManifestReader.IO_DTYPES, "I/O dtypes")
        assertEquals(strings("pad_modes"), PadMode.entries.map { it.json }, "PadMode")
    }

    @Test
    fun `the integer dtypes are the quantized ones`() {
        assertEquals(strings("dtypes").filter { it.contains("int") }, QuantParams.QUANT_RANGES.keys.toList())
    }

    @Test
    fun `shared constants agree`() {
        assertEquals(contract.getValue("max_input_pixels").jsonPrimitive.long, MAX_INPUT_PIXELS, "MAX_INPUT_PIXELS")
        assertEquals(contract.getValue("schema_version").jsonPrimitive.content, "$MANIFEST_SCHEMA_MAJOR.$MANIFEST_SCHEMA_MINOR", "schema version")
        assertEquals(contract.getValue("app_qnn_runtime").jsonPrimitive.content, AppRuntime.QNN_SDK_VERSION, "AppRuntime.QNN_SDK_VERSION")
    }
}
