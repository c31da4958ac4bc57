package ai.edgesdsr.core

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import kotlinx.serialization.json.putJsonObject

/*
 * Verify once, reuse: hashing a 44 MB bundle on every Enhance costs seconds, so a folder is hashed
 * once (per install of the built-in bundle, per adb push) and a small record of that verification
 * stands for it afterwards, checked before each use by the cheap stat of every listed file.
 */

/** A bundle file's size and modification time (ms since the epoch), as the file system reports them. */
data class FileStamp(val sizeBytes: Long, val modifiedMillis: Long)

/**
 * What one full verification of a bundle folder proved: the sha256 of the `manifest.json` it read
 * ([manifestSha256], the bundle's identity) and the [stamps] (size, modification time) every file
 * the manifest lists had just before it was hashed.
 */
data class VerificationRecord(val manifestSha256: String, val stamps: Map<String, FileStamp>)

/** Whether a bundle verified before may be used without hashing its files again. */
sealed class VerifyDecision {
    /** Same manifest, every listed file with its recorded size and modification time: use as is. */
    object Reuse : VerifyDecision()

    /** Hash every file again; [reason] says why, for the log. */
    data class Reverify(val reason: String) : VerifyDecision()
}

/**
 * The pure side of "verify once": [decide] compares a stored [VerificationRecord] with the folder
 * now, [encode]/[decode] store the records of several folders as one small JSON file (the app keeps
 * it in its files folder, keyed by the bundle folder's path).
 *
 * What the stamps catch: any change of a file's size, and any write, copy, `adb push` or
 * re-install, which give the file a new modification time; a change of `manifest.json` itself is
 * caught by its sha256 (read every time, a few KB). What they cannot catch: a same-size edit whose
 * modification time is set back to the recorded one (deliberate forgery, not corruption).
 */
object VerificationRecords {
    private const val VERSION = 1

    /**
     * [VerifyDecision.Reuse] when [record] was made from this very manifest ([manifestSha256], the
     * sha256 of the current `manifest.json` bytes), lists exactly the manifest's files, and each of
     * them has the recorded size and modification time now ([stamp]: null for a missing file);
     * otherwise [VerifyDecision.Reverify] with the first difference.
     */
    fun decide(
        record: VerificationRecord?,
        manifestSha256: String,
        manifest: BundleManifest,
        stamp: (String) -> FileStamp?,
    ): VerifyDecision {
        if (record == null) return VerifyDecision.Reverify("not verified before")
        if (record.manifestSha256 != manifestSha256) return VerifyDecision.Reverify("$MANIFEST_NAME changed")
        val listed = manifest.files.map { it.file }
        if (record.stamps.keys != listed.toSet()) return VerifyDecision.Reverify("the record lists other files than $MANIFEST_NAME")
        for (file in listed) {
            val before = record.stamps.getValue(file)
            val now = stamp(file) ?: return VerifyDecision.Reverify("$file is missing")
            if (now.sizeBytes != before.sizeBytes) {
                return VerifyDecision.Reverify("$file changed size (${before.sizeBytes} -> ${now.sizeBytes} bytes)")
            }
            if (now.modifiedMillis != before.modifiedMillis) {
                return VerifyDecision.Reverify("$file was modified (mtime ${before.modifiedMillis} -> ${now.modifiedMillis})")
            }
        }
        return VerifyDecision.Reuse
    }

    /** The records of several bundle folders (by path) as JSON text. */
    fun encode(records: Map<String, VerificationRecord>): String = buildJsonObject {
        put("version", VERSION)
        putJsonObject("bundles") {
            for ((folder, record) in records.toSortedMap()) {
                putJsonObject(folder) {
                    put("manifest_sha256", record.manifestSha256)
                    putJsonObject("files") {
                        for ((file, s) in record.stamps.toSortedMap()) {
                            putJsonObject(file) {
                                put("size_bytes", s.sizeBytes)
                                put("modified_ms", s.modifiedMillis)
                            }
                        }
                    }
                }
            }
        }
    }.toString()

    /**
     * Reads what [encode] wrote. Anything unexpected (not JSON, another version, a malformed
     * entry) drops that entry or everything: a record that cannot be read is never trusted,
     * the folder is simply hashed again.
     */
    fun decode(text: String): Map<String, VerificationRecord> {
        val root = try {
            Json.parseToJsonElement(text) as? JsonObject
        } catch (error: IllegalArgumentException) { // SerializationException extends it
            null
        } ?: return emptyMap()
        if ((root["version"] as? JsonPrimitive)?.content != VERSION.toString()) return emptyMap()
        val bundles = root["bundles"] as? JsonObject ?: return emptyMap()
        val records = LinkedHashMap<String, VerificationRecord>()
        for ((folder, element) in bundles) {
            record(element)?.let { records[folder] = it }
        }
        return records
    }

    private fun record(element: Any?): VerificationRecord? {
        val obj = element as? JsonObject ?: return null
        val sha = (obj["manifest_sha256"] as? JsonPrimitive)?.takeIf { it.isString }?.content ?: return null
        val files = obj["files"] as? JsonObject ?: return null
        val stamps = LinkedHashMap<String, FileStamp>()
        for ((file, value) in files) {
            val stamp = value as? JsonObject ?: return null
            val size = (stamp["size_bytes"] as? JsonPrimitive)?.takeIf { !it.isString }?.content?.toLongOrNull() ?: return null
            val modified = (stamp["modified_ms"] as? JsonPrimitive)?.takeIf { !it.isString }?.content?.toLongOrNull() ?: return null
            stamps[file] = FileStamp(size, modified)
        }
        return VerificationRecord(sha, stamps)
    }
}
