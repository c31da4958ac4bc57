package ai.edgesdsr.ort

import ai.edgesdsr.core.IoTensor
import ai.edgesdsr.core.QuantParams
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.double
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.io.File

/** TensorCodec encodes and decodes exactly like the host runner's `_Codec` (tests/golden/android/codec.json). */
class TensorCodecTest {
    private val golden = File(System.getProperty("edgesdsr.golden") ?: error("-Dedgesdsr.golden is not set"))

    private fun floats(e: JsonElement) = e.jsonArray.map { it.jsonPrimitive.content.toDouble().toFloat() }.toFloatArray()

    private fun assertBitwise(expected: FloatArray, actual: FloatArray, what: String) {
        assertEquals(expected.size, actual.size, what)
        for (i in expected.indices) {
            assertEquals(expected[i].toRawBits(), actual[i].toRawBits(), "$what[$i]: expected ${expected[i]}, got ${actual[i]}")
        }
    }

    @Test
    fun `layouts, value ranges and integer dtypes match the host runner`() {
        val cases = Json.parseToJsonElement(File(golden, "codec.json").readText()).jsonObject.getValue("cases").jsonArray
        assertEquals(4, cases.size)
        for (case in cases.map { it.jsonObject }) {
            val name = case.getValue("name").jsonPrimitive.content
            val t = case.getValue("tensor").jsonObject
            val dtype = t.getValue("dtype").jsonPrimitive.content
            val quant = t.getValue("quant").takeIf { it !is JsonNull }?.jsonObject?.let {
                QuantParams(it.getValue("scale").jsonPrimitive.double, it.getValue("zero_point").jsonPrimitive.int, dtype)
            }
            val tensor = IoTensor(
                "x",
                t.getValue("shape").jsonArray.map { it.jsonPrimitive.int },
                dtype,
                t.getValue("layout").jsonPrimitive.content,
                t.getValue("value_range").jsonArray.map { it.jsonPrimitive.double },
                quant,
            )
            val codec = TensorCodec(tensor)
            codec.encode(floats(case.getValue("input")))
            val encoded = case.getValue("encoded").jsonArray
            assertEquals(codec.elements, encoded.size, name)
            for (i in 0 until codec.elements) {
                val actual: Number = when (dtype) {
                    "float32" -> codec.buffer.getFloat(i * 4)
                    "uint8" -> codec.buffer.get(i).toInt() and 0xFF
                    "int8" -> codec.buffer.get(i).toInt()
                    else -> codec.buffer.getShort(i * 2).toInt()
                }
                val expected: Number = if (dtype == "float32") encoded[i].jsonPrimitive.content.toDouble().toFloat() else encoded[i].jsonPrimitive.int
                assertEquals(expected, actual, "$name encoded[$i]")
            }
            val decoded = FloatArray(codec.elements)
            codec.decode(decoded)
            assertBitwise(floats(case.getValue("decoded")), decoded, "$name decoded")
        }
    }
}
