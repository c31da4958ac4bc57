package ai.edgesdsr.core

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import kotlinx.serialization.json.putJsonArray
import kotlinx.serialization.json.JsonArray as JArray

/*
 * The export bundle's manifest.json, read with the same strict rules as
 * toolchain/deploy/manifest.py: every key required (null included), no unknown keys,
 * exact types (an int is an integer literal, a float any number, never a bool), enum
 * values from fixed lists, and the cross-field rules (tile spec parses, example plan
 * matches it, every graph and context binary listed in `files` with the same hash).
 * Failures name the key path like Python does (`manifest.graphs[0].inputs[0].quant: ...`).
 */

/** The manifest major version this app reads; another major is [EnhanceError.UnsupportedSchema]. */
const val MANIFEST_SCHEMA_MAJOR = 1

/**
 * The newest manifest minor version this app knows (`toolchain.deploy.manifest.SCHEMA_VERSION`
 * 1.1): minor 1 added `graphs[].qnn_sdk_version` and the top-level `npu_soc_models`. A 1.0
 * manifest is still read, its NPU graphs taking the top-level `compiler.qnn_sdk_version` and its
 * `npu_soc_models` empty (1.0 named no SoC, so no phone takes its NPU graphs); a newer minor is
 * read when its keys are known.
 */
const val MANIFEST_SCHEMA_MINOR = 1

/** Side of the LR image whose plan the manifest carries as `example_plan_512`. */
const val EXAMPLE_PLAN_SIZE = 512

/** Name of the manifest file in a bundle folder. */
const val MANIFEST_NAME = "manifest.json"

/** Human report in a bundle folder (not hashed). */
const val REPORT_NAME = "report.md"

/** Which kind of graph file (toolchain `Artifact`). */
enum class Artifact(val json: String) {
    QNN_EPCONTEXT("qnn_epcontext"),
    LITERT_AOT("litert_aot"),
    LITERT("litert"),
    ONNX("onnx"),
}

/** Numeric precision of a graph (toolchain `Precision`). */
enum class Precision(val json: String) { A16W8("a16w8"), A8W8("a8w8"), FP16("fp16"), FP32("fp32") }

/** Which runtime executes a graph (toolchain `Runtime`). */
enum class GraphRuntime(val json: String) {
    ONNXRUNTIME_QNN("onnxruntime-qnn"),
    LITERT_NPU("litert-npu"),
    LITERT_GPU("litert-gpu"),
    LITERT_CPU("litert-cpu"),
    ONNXRUNTIME_CPU("onnxruntime-cpu"),
}

/** What a graph is for (toolchain `GraphRole`). */
enum class GraphRole(val json: String) { NPU("npu"), FALLBACK("fallback"), HOST_REFERENCE("host-reference") }

/** Affine quantization of a graph input/output: `real = (q - zeroPoint) * scale`. */
data class QuantParams(val scale: Double, val zeroPoint: Int, val dtype: String) {
    /** Smallest and largest integer of [dtype]. */
    val qmin: Int get() = QUANT_RANGES.getValue(dtype).first

    /** Largest integer of [dtype]. */
    val qmax: Int get() = QUANT_RANGES.getValue(dtype).last

    companion object {
        /** Integer I/O dtypes and their ranges (as in Python). */
        val QUANT_RANGES: Map<String, IntRange> = linkedMapOf(
            "uint8" to 0..255,
            "int8" to -128..127,
            "uint16" to 0..65535,
            "int16" to -32768..32767,
        )
    }
}

/**
 * One graph input or output as the app must feed/read it: [shape] (4 dims), element [dtype]
 * (`float32`, `float16` or a [QuantParams.QUANT_RANGES] integer type with [quant]),
 * [layout] `NHWC`/`NCHW` and the real [valueRange] (`[0, 1]` for RGB pixels).
 */
data class IoTensor(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val layout: String,
    val valueRange: List<Double>,
    val quant: QuantParams?,
) {
    /** `(height, width)` per [layout]. */
    val hw: Pair<Int, Int> get() = if (layout == "NHWC") shape[1] to shape[2] else shape[2] to shape[3]

    /** Channel count per [layout]. */
    val channels: Int get() = if (layout == "NHWC") shape[3] else shape[1]
}

/** A bundle file with its size and sha256 (path relative to the bundle folder). */
data class FileEntry(val file: String, val sha256: String, val sizeBytes: Long)

/**
 * One graph of the bundle (see toolchain `GraphFile`). [qnnSdkVersion] (schema 1.1) is the QNN SDK
 * that compiled an NPU graph (e.g. `v2.49.40.260812120000`, null for the other graphs): the phone's
 * QNN runtime must be at least as new ([QnnCompatibility]).
 */
data class GraphFile(
    val file: String,
    val sha256: String,
    val sizeBytes: Long,
    val artifact: Artifact,
    val precision: Precision,
    val runtime: GraphRuntime,
    val role: GraphRole,
    val inputs: List<IoTensor>,
    val outputs: List<IoTensor>,
    val contextBinary: String?,
    val accuracyPsnrYDb: Double?,
    val accuracyMethod: String?,
    val qnnSdkVersion: String?,
)

/** The toolchain that wrote the bundle. */
data class ToolchainInfo(val version: String, val gitCommit: String?)

/**
 * Versions of the tools that compiled the graphs (null: tool not used). Since schema 1.1 the QNN
 * that matters for loading is each NPU graph's [GraphFile.qnnSdkVersion]; [qnnSdkVersion] here is
 * informational (a 1.0 manifest's NPU graphs are read with it).
 */
data class CompilerInfo(
    val qnnSdkVersion: String?,
    val litertVersion: String?,
    val onnxruntimeVersion: String?,
    val minRuntimeNote: String,
)

/**
 * A parsed, validated `manifest.json`; build it with [BundleManifest.parse]. [npuSocModels]
 * (schema 1.1 `npu_soc_models`) are the phones' `Build.SOC_MODEL` values the bundle's NPU graphs
 * run on (e.g. `SM8650` for s24-dsp); empty for a bundle without NPU graphs and for a 1.0 bundle.
 */
data class BundleManifest(
    val schemaVersion: String,
    val modelId: String,
    val preset: String,
    val scale: Int,
    val target: String,
    val soc: String,
    val htpArch: String?,
    val npuSocModels: List<String>,
    val note: String,
    val tileSpec: TileSpec,
    val graphs: List<GraphFile>,
    val files: List<FileEntry>,
    val verifySkipped: Boolean,
    val accuracyThresholdDb: Double,
    val toolchain: ToolchainInfo,
    val compiler: CompilerInfo,
    val createdUtc: String,
) {
    companion object {
        /**
         * Parses and validates manifest JSON text. Throws [EnhanceError.UnsupportedSchema] for
         * another major schema version and [EnhanceError.ManifestInvalid] for anything else.
         */
        fun parse(text: String): BundleManifest {
            val root = try {
                Json.parseToJsonElement(text)
            } catch (error: IllegalArgumentException) { // SerializationException extends it
                throw EnhanceError.ManifestInvalid("$MANIFEST_NAME is not valid JSON (${error.message?.lineSequence()?.first()})")
            }
            val version = ((root as? JsonObject)?.get("schema_version") as? JsonPrimitive)
                ?.takeIf { it.isString }?.content
            val match = version?.let { VERSION_RE.matchEntire(it) }
                ?: throw EnhanceError.ManifestInvalid(
                    "no valid schema_version (got ${version?.let { "'$it'" } ?: "none"}, expected 'major.minor')",
                )
            if (match.groupValues[1].toInt() != MANIFEST_SCHEMA_MAJOR) {
                throw EnhanceError.UnsupportedSchema(version, MANIFEST_SCHEMA_MAJOR)
            }
            val minor = match.groupValues[2].toInt()
            val data = if (minor == 0) upgrade10(root) else root
            try {
                return ManifestReader.manifest(data)
            } catch (error: ManifestException) {
                val newer = if (minor > MANIFEST_SCHEMA_MINOR) {
                    " (written by a newer toolchain: schema $version, this app reads $MANIFEST_SCHEMA_MAJOR.$MANIFEST_SCHEMA_MINOR)"
                } else {
                    ""
                }
                throw EnhanceError.ManifestInvalid(error.message!! + newer)
            }
        }

        /** The JSON of `plan_tiles(512, 512, spec).to_json_dict()`, as stored in the manifest. */
        fun examplePlanJson(spec: TileSpec): JsonObject = planJson(planTiles(EXAMPLE_PLAN_SIZE, EXAMPLE_PLAN_SIZE, spec))

        internal val VERSION_RE = Regex("^(\\d+)\\.(\\d+)$")

        /** Artifacts of NPU graphs, which a 1.0 manifest reads with `compiler.qnn_sdk_version`. */
        private val NPU_ARTIFACTS = setOf(Artifact.QNN_EPCONTEXT.json, Artifact.LITERT_AOT.json)

        /**
         * A schema 1.0 manifest in the 1.1 schema (toolchain `_upgrade_1_0`): each NPU graph's
         * `qnn_sdk_version` is the top-level one ([graphQnnVersionsFrom10]), and `npu_soc_models`
         * is empty when absent (1.0 did not name the SoC, so no phone takes its NPU graphs).
         */
        internal fun upgrade10(root: JsonObject): JsonObject {
            val filled = graphQnnVersionsFrom10(root)
            return if ("npu_soc_models" in filled) filled else JsonObject(filled + ("npu_soc_models" to JsonArray(emptyList())))
        }

        /**
         * A schema 1.0 manifest with each graph's `qnn_sdk_version` filled in: the top-level
         * `compiler.qnn_sdk_version` for NPU graphs (`qnn_epcontext`, `litert_aot`), null for the
         * others; graphs that already have the key, and non-object entries, are left for the strict
         * reader (toolchain `_graph_qnn_versions_from_1_0`).
         */
        internal fun graphQnnVersionsFrom10(root: JsonObject): JsonObject {
            val version = (root["compiler"] as? JsonObject)?.get("qnn_sdk_version") ?: JsonNull
            val graphs = root["graphs"] as? JsonArray ?: return root
            val filled = graphs.map { g ->
                if (g !is JsonObject || "qnn_sdk_version" in g) return@map g
                val artifact = (g["artifact"] as? JsonPrimitive)?.takeIf { it.isString }?.content
                JsonObject(g + ("qnn_sdk_version" to if (artifact in NPU_ARTIFACTS) version else JsonNull))
            }
            return JsonObject(root + ("graphs" to JsonArray(filled)))
        }
    }
}

/** A tile spec as JSON (`TileSpec.to_json_dict`). */
fun tileSpecJson(spec: TileSpec): JsonObject = buildJsonObject {
    put("version", TILE_SPEC_VERSION)
    put("tile", spec.tile)
    put("overlap", spec.overlap)
    put("scale", spec.scale)
    put("pad_mode", spec.padMode.json)
}

/** A tile plan as JSON (`TilePlan.to_json_dict`). */
fun planJson(plan: TilePlan): JsonObject = buildJsonObject {
    put("spec", tileSpecJson(plan.spec))
    put("height", plan.height)
    put("width", plan.width)
    put("padded_height", plan.paddedHeight)
    put("padded_width", plan.paddedWidth)
    put("out_height", plan.outHeight)
    put("out_width", plan.outWidth)
    put("rows", plan.rows)
    put("cols", plan.cols)
    putJsonArray("tiles") { for (t in plan.tiles) add(JArray(listOf(JsonPrimitive(t.y), JsonPrimitive(t.x)))) }
}

/**
 * Parses a tile spec JSON object strictly (`TileSpec.from_json_dict`): keys exactly
 * version/tile/overlap/scale/pad_mode, version 1, known pad mode, valid numbers.
 * Throws [IllegalArgumentException] with the Python message.
 */
fun tileSpecFromJson(element: JsonElement): TileSpec {
    val d = element as? JsonObject
        ?: throw IllegalArgumentException("tile spec: expected a JSON object, got ${ManifestReader.typeName(element)}")
    for (key in d.keys) {
        require(key in SPEC_KEYS) { "tile spec: unknown key '$key' (allowed: ${SPEC_KEYS.joinToString(", ")})" }
    }
    for (key in SPEC_KEYS) require(key in d) { "tile spec: missing key '$key'" }
    val version = d.getValue("version")
    require(ManifestReader.intOrNull(version) == TILE_SPEC_VERSION) {
        "tile spec: unsupported version ${ManifestReader.repr(version)} (expected $TILE_SPEC_VERSION)"
    }
    val padText = (d.getValue("pad_mode") as? JsonPrimitive)?.takeIf { it.isString }?.content
    val padMode = padText?.let { PadMode.fromJson(it) } ?: throw IllegalArgumentException(
        "tile spec: unknown pad_mode ${ManifestReader.repr(d.getValue("pad_mode"))} " +
            "(allowed: ${PadMode.entries.joinToString(", ") { it.json }})",
    )
    fun int(name: String): Int = ManifestReader.intOrNull(d.getValue(name))
        ?: throw IllegalArgumentException("tile spec: $name must be an integer, got ${ManifestReader.repr(d.getValue(name))}")
    return TileSpec(int("tile"), int("overlap"), int("scale"), padMode)
}

private val SPEC_KEYS = listOf("version", "tile", "overlap", "scale", "pad_mode")

internal class ManifestException(message: String) : Exception(message)

/** The strict reader: one function per toolchain dataclass, fields in declaration order. */
internal object ManifestReader {
    private val SHA256_RE = Regex("^[0-9a-f]{64}$")
    private val INT_RE = Regex("^-?\\d+$")
    private val ISO_RE = Regex(
        "^(\\d{4})-(\\d{2})-(\\d{2})(?:[T ](\\d{2})(?::(\\d{2})(?::(\\d{2})(?:[.,]\\d{1,6})?)?)?" +
            "(?:Z|[+-]\\d{2}(?::?\\d{2})?)?)?$",
    )
    /** Graph I/O dtypes (toolchain `IO_DTYPES`). */
    val IO_DTYPES: List<String> = listOf("float32", "float16") + QuantParams.QUANT_RANGES.keys

    /** Graph I/O layouts (toolchain `LAYOUTS`). */
    val LAYOUTS: List<String> = listOf("NHWC", "NCHW")
    private val UNHASHED = listOf(MANIFEST_NAME, REPORT_NAME)

    fun typeName(e: JsonElement): String = when {
        e is JsonNull -> "NoneType"
        e is JsonObject -> "dict"
        e is JsonArray -> "list"
        e is JsonPrimitive && e.isString -> "str"
        e is JsonPrimitive && (e.content == "true" || e.content == "false") -> "bool"
        e is JsonPrimitive && INT_RE.matches(e.content) -> "int"
        else -> "float"
    }

    /** Python-like repr of a JSON value for messages. */
    fun repr(e: JsonElement): String = when {
        e is JsonNull -> "None"
        e is JsonPrimitive && e.isString -> "'${e.content}'"
        e is JsonPrimitive && e.content == "true" -> "True"
        e is JsonPrimitive && e.content == "false" -> "False"
        else -> e.toString()
    }

    fun intOrNull(e: JsonElement): Int? =
        if (e is JsonPrimitive && !e.isString && INT_RE.matches(e.content)) e.content.toIntOrNull() else null

    private fun fail(message: String): Nothing = throw ManifestException(message)

    /** A JSON object's fields, read in declaration order with Python's errors. */
    private class Fields(val where: String, element: JsonElement, names: List<String>) {
        val obj: JsonObject = element as? JsonObject ?: fail("$where: expected an object, got ${typeName(element)}")

        init {
            val unknown = obj.keys.filter { it !in names }.sorted()
            if (unknown.isNotEmpty()) {
                fail("$where: unknown key '${unknown[0]}' (valid keys: ${names.sorted().joinToString(", ")})")
            }
        }

        fun raw(name: String): JsonElement = obj[name] ?: fail("$where: missing key '$name'")

        fun at(name: String) = "$where.$name"

        fun isNull(name: String): Boolean = raw(name) is JsonNull

        fun str(name: String): String {
            val e = raw(name)
            return (e as? JsonPrimitive)?.takeIf { it.isString }?.content ?: fail("${at(name)}: expected str, got ${repr(e)}")
        }

        fun strOrNull(name: String): String? = if (isNull(name)) null else str(name)

        fun int(name: String): Int {
            val e = raw(name)
            return intOrNull(e) ?: fail("${at(name)}: expected int, got ${repr(e)}")
        }

        fun long(name: String): Long {
            val e = raw(name)
            return (e as? JsonPrimitive)?.takeIf { !it.isString && INT_RE.matches(it.content) }?.content?.toLongOrNull()
                ?: fail("${at(name)}: expected int, got ${repr(e)}")
        }

        fun bool(name: String): Boolean {
            val e = raw(name)
            val p = e as? JsonPrimitive
            return when {
                p != null && !p.isString && p.content == "true" -> true
                p != null && !p.isString && p.content == "false" -> false
                else -> fail("${at(name)}: expected bool, got ${repr(e)}")
            }
        }

        fun double(name: String): Double = number(raw(name), at(name))

        fun doubleOrNull(name: String): Double? = if (isNull(name)) null else double(name)

        fun list(name: String): List<JsonElement> {
            val e = raw(name)
            return e as? JsonArray ?: fail("${at(name)}: expected a list, got ${typeName(e)}")
        }

        fun <E : Enum<E>> enum(name: String, values: Array<E>, json: (E) -> String): E {
            val e = raw(name)
            val text = (e as? JsonPrimitive)?.takeIf { it.isString }?.content
            return values.firstOrNull { json(it) == text }
                ?: fail("${at(name)}: '${(e as? JsonPrimitive)?.content ?: e}' is not one of ${values.joinToString(", ") { json(it) }}")
        }

        /** Python raises ValueError in `__post_init__`; from_dict reports it at the object's path. */
        fun check(ok: Boolean, message: () -> String) {
            if (!ok) fail("$where: ${message()}")
        }
    }

    private fun number(e: JsonElement, where: String): Double {
        val p = e as? JsonPrimitive
        if (p == null || p.isString || p.content == "true" || p.content == "false" || e is JsonNull) {
            fail("$where: expected a number, got ${repr(e)}")
        }
        return p.content.toDoubleOrNull() ?: fail("$where: expected a number, got ${repr(e)}")
    }

    private fun checkRelative(value: String, name: String): String? {
        val parts = value.split("/")
        val normalised = value.isNotEmpty() && '\\' !in value && !value.startsWith("/") &&
            parts.none { it.isEmpty() || it == "." || it == ".." }
        return if (normalised) null else "$name must be a normalised relative path inside the bundle, got '$value'"
    }

    private fun checkSha(value: String, name: String): String? =
        if (SHA256_RE.matches(value)) null else "$name must be 64 lowercase hex digits, got '$value'"

    private fun finite(value: Double?, name: String): String? =
        if (value == null || value.isFinite()) null else "$name must be a finite number, got $value"

    private fun quant(element: JsonElement, where: String): QuantParams {
        val f = Fields(where, element, listOf("scale", "zero_point", "dtype"))
        val q = QuantParams(f.double("scale"), f.int("zero_point"), f.str("dtype"))
        val range = QuantParams.QUANT_RANGES[q.dtype]
        f.check(range != null) { "quant dtype '${q.dtype}' is not one of ${QuantParams.QUANT_RANGES.keys.joinToString(", ")}" }
        f.check(q.scale.isFinite() && q.scale > 0) { "quant scale must be a finite number > 0, got ${q.scale}" }
        f.check(q.zeroPoint in range!!) {
            "quant zero_point ${q.zeroPoint} is outside the ${q.dtype} range [${range.first}, ${range.last}]"
        }
        return q
    }

    private fun tensor(element: JsonElement, where: String): IoTensor {
        val f = Fields(where, element, listOf("name", "shape", "dtype", "layout", "value_range", "quant"))
        val name = f.str("name")
        val shape = f.list("shape").mapIndexed { i, e -> intOrNull(e) ?: fail("${f.at("shape")}[$i]: expected int, got ${repr(e)}") }
        val dtype = f.str("dtype")
        val layout = f.str("layout")
        val range = f.list("value_range").mapIndexed { i, e -> number(e, "${f.at("value_range")}[$i]") }
        val quant = if (f.isNull("quant")) null else quant(f.raw("quant"), f.at("quant"))
        val t = IoTensor(name, shape, dtype, layout, range, quant)
        f.check(name.isNotEmpty()) { "tensor name must not be empty" }
        f.check(shape.size == 4 && shape.all { it >= 1 }) { "tensor $name shape must be 4 positive integers, got $shape" }
        f.check(dtype in IO_DTYPES) { "tensor $name dtype '$dtype' is not one of ${IO_DTYPES.joinToString(", ")}" }
        f.check(layout in LAYOUTS) { "tensor $name layout '$layout' is not one of ${LAYOUTS.joinToString(", ")}" }
        f.check(range.size == 2 && range[0] < range[1]) { "tensor $name value_range must be [low, high] with low < high" }
        finite(range[0], "value_range[0]")?.let { f.check(false) { it } }
        finite(range[1], "value_range[1]")?.let { f.check(false) { it } }
        val quantized = dtype in QuantParams.QUANT_RANGES
        f.check(!(quantized && quant == null)) { "tensor $name has integer dtype $dtype but no quant parameters" }
        f.check(!(!quantized && quant != null)) { "tensor $name has float dtype $dtype but quant parameters" }
        f.check(quant == null || quant.dtype == dtype) { "tensor $name quant dtype ${quant!!.dtype} differs from dtype $dtype" }
        return t
    }

    private fun fileEntry(element: JsonElement, where: String): FileEntry {
        val f = Fields(where, element, listOf("file", "sha256", "size_bytes"))
        val entry = FileEntry(f.str("file"), f.str("sha256"), f.long("size_bytes"))
        checkRelative(entry.file, "file")?.let { f.check(false) { it } }
        f.check(entry.file !in UNHASHED) { "${entry.file} must not be listed in files" }
        checkSha(entry.sha256, "sha256 of ${entry.file}")?.let { f.check(false) { it } }
        f.check(entry.sizeBytes >= 0) { "size_bytes of ${entry.file} must be >= 0, got ${entry.sizeBytes}" }
        return entry
    }

    private fun graph(element: JsonElement, where: String): GraphFile {
        val f = Fields(
            where,
            element,
            listOf(
                "file", "sha256", "size_bytes", "artifact", "precision", "runtime", "role", "inputs", "outputs",
                "context_binary", "accuracy_psnr_y_db", "accuracy_method", "qnn_sdk_version",
            ),
        )
        val file = f.str("file")
        val sha = f.str("sha256")
        val size = f.long("size_bytes")
        val artifact = f.enum("artifact", Artifact.values()) { it.json }
        val precision = f.enum("precision", Precision.values()) { it.json }
        val runtime = f.enum("runtime", GraphRuntime.values()) { it.json }
        val role = f.enum("role", GraphRole.values()) { it.json }
        val inputs = f.list("inputs").mapIndexed { i, e -> tensor(e, "${f.at("inputs")}[$i]") }
        val outputs = f.list("outputs").mapIndexed { i, e -> tensor(e, "${f.at("outputs")}[$i]") }
        val context = f.strOrNull("context_binary")
        val psnr = f.doubleOrNull("accuracy_psnr_y_db")
        val method = f.strOrNull("accuracy_method")
        val qnn = f.strOrNull("qnn_sdk_version")
        checkRelative(file, "file")?.let { f.check(false) { it } }
        checkSha(sha, "sha256 of $file")?.let { f.check(false) { it } }
        f.check(size >= 0) { "size_bytes of $file must be >= 0, got $size" }
        f.check(inputs.isNotEmpty() && outputs.isNotEmpty()) { "graph $file needs at least one input and one output" }
        if (context != null) checkRelative(context, "context_binary")?.let { f.check(false) { it } }
        finite(psnr, "accuracy_psnr_y_db")?.let { f.check(false) { it } }
        if (qnn != null) f.check(QnnVersion.parse(qnn) != null) { "not a QNN version: '$qnn'" }
        f.check(!(artifact == Artifact.QNN_EPCONTEXT && qnn == null)) {
            "graph $file is a QNN context: qnn_sdk_version must name the QNN that built it"
        }
        return GraphFile(file, sha, size, artifact, precision, runtime, role, inputs, outputs, context, psnr, method, qnn)
    }

    private val MANIFEST_KEYS = listOf(
        "schema_version", "model_id", "preset", "scale", "target", "soc", "htp_arch", "npu_soc_models", "note", "tile_spec",
        "example_plan_512", "graphs", "files", "verify_skipped", "accuracy_threshold_db", "toolchain", "compiler",
        "created_utc",
    )

    fun manifest(root: JsonElement): BundleManifest {
        val where = "manifest"
        val f = Fields(where, root, MANIFEST_KEYS)
        for (name in listOf("tile_spec", "example_plan_512")) {
            val e = f.raw(name)
            if (e !is JsonObject) fail("$where.$name: expected an object, got ${typeName(e)}")
        }
        val schemaVersion = f.str("schema_version")
        val modelId = f.str("model_id")
        val preset = f.str("preset")
        val scale = f.int("scale")
        val target = f.str("target")
        val soc = f.str("soc")
        val htpArch = f.strOrNull("htp_arch")
        val npuSocModels = f.list("npu_soc_models").mapIndexed { i, e ->
            (e as? JsonPrimitive)?.takeIf { it.isString }?.content
                ?: fail("${f.at("npu_soc_models")}[$i]: expected str, got ${repr(e)}")
        }
        val note = f.str("note")
        val graphs = f.list("graphs").mapIndexed { i, e -> graph(e, "$where.graphs[$i]") }
        val files = f.list("files").mapIndexed { i, e -> fileEntry(e, "$where.files[$i]") }
        val verifySkipped = f.bool("verify_skipped")
        val threshold = f.double("accuracy_threshold_db")
        val toolchain = Fields("$where.toolchain", f.raw("toolchain"), listOf("version", "git_commit"))
            .let { ToolchainInfo(it.str("version"), it.strOrNull("git_commit")) }
        val compiler = Fields(
            "$where.compiler",
            f.raw("compiler"),
            listOf("qnn_sdk_version", "litert_version", "onnxruntime_version", "min_runtime_note"),
        ).let { CompilerInfo(it.strOrNull("qnn_sdk_version"), it.strOrNull("litert_version"), it.strOrNull("onnxruntime_version"), it.str("min_runtime_note")) }
        val created = f.str("created_utc")

        f.check(BundleManifest.VERSION_RE.matches(schemaVersion)) { "schema_version must be 'major.minor', got '$schemaVersion'" }
        val spec = try {
            tileSpecFromJson(f.raw("tile_spec"))
        } catch (error: IllegalArgumentException) {
            fail("$where: tile_spec: ${error.message}")
        }
        f.check(scale == spec.scale) { "scale $scale differs from tile_spec scale ${spec.scale}" }
        f.check(jsonEquals(f.raw("example_plan_512"), BundleManifest.examplePlanJson(spec))) {
            "example_plan_512 does not match tile_spec (it must be plan_tiles(512, 512, spec))"
        }
        finite(threshold, "accuracy_threshold_db")?.let { f.check(false) { it } }
        f.check(isoTime(created)) { "created_utc must be an ISO 8601 time, got '$created'" }
        f.check(graphs.isNotEmpty()) { "graphs must list at least one graph" }
        val listed = LinkedHashMap<String, FileEntry>()
        for (entry in files) {
            f.check(entry.file !in listed) { "files lists ${entry.file} twice" }
            listed[entry.file] = entry
        }
        for (g in graphs) {
            val entry = listed[g.file]
            f.check(entry != null) { "graph ${g.file} is not listed in files" }
            f.check(entry!!.sha256 == g.sha256 && entry.sizeBytes == g.sizeBytes) {
                "graph ${g.file} sha256/size differ from its files entry"
            }
            f.check(g.contextBinary == null || g.contextBinary in listed) {
                "context binary ${g.contextBinary} of ${g.file} is not listed in files"
            }
        }
        return BundleManifest(
            schemaVersion, modelId, preset, scale, target, soc, htpArch, npuSocModels, note, spec, graphs, files,
            verifySkipped, threshold, toolchain, compiler, created,
        )
    }

    private fun isoTime(text: String): Boolean {
        val m = ISO_RE.matchEntire(text) ?: return false
        val (month, day) = m.groupValues[2].toInt() to m.groupValues[3].toInt()
        val hour = m.groupValues[4].toIntOrNull() ?: 0
        val minute = m.groupValues[5].toIntOrNull() ?: 0
        val second = m.groupValues[6].toIntOrNull() ?: 0
        return month in 1..12 && day in 1..31 && hour < 24 && minute < 60 && second < 60
    }

    /** Structural JSON equality where numbers compare by value (Python's `1 == 1.0`). */
    fun jsonEquals(a: JsonElement, b: JsonElement): Boolean = when {
        a is JsonObject && b is JsonObject -> a.keys == b.keys && a.keys.all { jsonEquals(a.getValue(it), b.getValue(it)) }
        a is JsonArray && b is JsonArray -> a.size == b.size && a.indices.all { jsonEquals(a[it], b[it]) }
        a is JsonNull || b is JsonNull -> a is JsonNull && b is JsonNull
        a is JsonPrimitive && b is JsonPrimitive && a.isString == b.isString ->
            if (a.isString) a.content == b.content else numberEquals(a.content, b.content)
        else -> false
    }

    private fun numberEquals(a: String, b: String): Boolean {
        if (a == b) return true
        val x = a.toDoubleOrNull()
        val y = b.toDoubleOrNull()
        return x != null && y != null && x == y
    }
}
