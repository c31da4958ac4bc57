package ai.edgesdsr.core

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import java.io.File

/** The golden vectors written by tests/test_android_golden.py (folder from -Dedgesdsr.golden). */
object Golden {
    val dir: File by lazy {
        val path = System.getProperty("edgesdsr.golden")
            ?: error("system property edgesdsr.golden is not set; run the tests with android/tools/jvm.py or Gradle")
        File(path).also { check(it.isDirectory) { "golden folder $it does not exist; run pytest tests/test_android_golden.py" } }
    }

    fun json(name: String): JsonObject = Json.parseToJsonElement(File(dir, name).readText()).jsonObject

    fun floats(e: JsonElement): FloatArray = e.jsonArray.map { it.jsonPrimitive.content.toDouble().toFloat() }.toFloatArray()

    fun ints(e: JsonElement): IntArray = e.jsonArray.map { it.jsonPrimitive.int }.toIntArray()

    fun spec(e: JsonElement): TileSpec = tileSpecFromJson(e)
}

/** Asserts two float arrays are bitwise identical, naming the first difference. */
fun assertBitwise(expected: FloatArray, actual: FloatArray, what: String) {
    org.junit.jupiter.api.Assertions.assertEquals(expected.size, actual.size, "$what: size")
    for (i in expected.indices) {
        if (expected[i].toRawBits() != actual[i].toRawBits()) {
            org.junit.jupiter.api.Assertions.fail<Unit>("$what[$i]: expected ${expected[i]}, got ${actual[i]}")
        }
    }
}

/** [element] with the value at [path] replaced by [value] (or removed when [value] is null). */
fun editJson(element: JsonElement, path: List<JsonPrimitive>, value: JsonElement?): JsonElement {
    if (path.isEmpty()) return value!!
    val key = path.first()
    return when (element) {
        is JsonObject -> {
            val map = element.toMutableMap()
            if (path.size == 1 && value == null) map.remove(key.content)
            else map[key.content] = editJson(map[key.content] ?: JsonObject(emptyMap()), path.drop(1), value)
            JsonObject(map)
        }
        is JsonArray -> {
            val list = element.toMutableList()
            val i = key.int
            if (path.size == 1 && value == null) list.removeAt(i) else list[i] = editJson(list[i], path.drop(1), value)
            JsonArray(list)
        }
        else -> error("cannot edit into $element")
    }
}
