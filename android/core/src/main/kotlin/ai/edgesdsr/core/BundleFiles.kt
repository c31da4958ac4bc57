package ai.edgesdsr.core

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/**
 * Read access to a bundle folder wherever it lives: a directory ([DirectoryBundle]: pushed
 * with adb, or extracted), or the APK's assets (the app implements this over AssetManager).
 * Paths are the manifest's relative POSIX paths.
 */
interface BundleSource {
    /** Where the bundle is, for messages. */
    val location: String

    /** Opens [path] for reading, or null if it does not exist. */
    fun open(path: String): InputStream?

    /** Every file below the bundle root (relative paths), or null if the source cannot list. */
    fun list(): List<String>?
}

/** A bundle in a plain directory. */
class DirectoryBundle(private val root: File) : BundleSource {
    override val location: String get() = root.path

    override fun open(path: String): InputStream? = File(root, path).takeIf { it.isFile }?.inputStream()

    override fun list(): List<String>? =
        root.takeIf { it.isDirectory }?.walkTopDown()?.filter { it.isFile }?.map { it.relativeTo(root).invariantSeparatorsPath }?.toList()

    /** The file of [path] inside the bundle (for runtimes that need a file path). */
    fun file(path: String): File = File(root, path)
}

/**
 * Reads and checks a bundle like `toolchain.deploy.manifest.verify_bundle`: the manifest
 * parses ([BundleManifest.parse]), every listed file exists with its size and sha256, and
 * (when the source can list) nothing unlisted lies beside them. Throws [EnhanceError]
 * ([EnhanceError.BundleMissing], [EnhanceError.ManifestInvalid],
 * [EnhanceError.UnsupportedSchema], [EnhanceError.BundleTampered]).
 */
object BundleVerifier {
    /** Parses the bundle's manifest without hashing files (cheap; for listing bundles). */
    fun readManifest(source: BundleSource): BundleManifest {
        val text = source.open(MANIFEST_NAME)?.use { it.readBytes().toString(Charsets.UTF_8) }
            ?: throw EnhanceError.BundleMissing(source.location)
        return BundleManifest.parse(text)
    }

    /** Parses the manifest and checks every file's presence, size and sha256. */
    fun verify(source: BundleSource): BundleManifest {
        val manifest = readManifest(source)
        val listed = manifest.files.map { it.file }.toSet()
        source.list()?.let { present ->
            val stray = present.filter { it !in listed && it != MANIFEST_NAME && it != REPORT_NAME }.sorted()
            if (stray.isNotEmpty()) throw EnhanceError.BundleTampered(stray.first(), "is not listed in $MANIFEST_NAME")
        }
        for (entry in manifest.files) {
            val stream = source.open(entry.file) ?: throw EnhanceError.BundleTampered(entry.file, "is missing")
            val (size, digest) = stream.use { sha256(it) }
            if (size != entry.sizeBytes) {
                throw EnhanceError.BundleTampered(entry.file, "has $size bytes, the manifest says ${entry.sizeBytes}")
            }
            if (digest != entry.sha256) {
                throw EnhanceError.BundleTampered(
                    entry.file,
                    "has sha256 ${digest.take(12)}..., the manifest says ${entry.sha256.take(12)}...",
                )
            }
        }
        return manifest
    }

    /** Byte count and lowercase hex sha256 of a stream (read to the end). */
    fun sha256(stream: InputStream): Pair<Long, String> {
        val md = MessageDigest.getInstance("SHA-256")
        val buffer = ByteArray(1 shl 16)
        var total = 0L
        while (true) {
            val n = stream.read(buffer)
            if (n < 0) break
            md.update(buffer, 0, n)
            total += n
        }
        return total to md.digest().joinToString("") { "%02x".format(it) }
    }
}
