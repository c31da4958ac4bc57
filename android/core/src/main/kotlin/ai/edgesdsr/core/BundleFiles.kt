package ai.edgesdsr.core

import java.io.File
import java.io.InputStream
import java.nio.file.Files
import java.nio.file.LinkOption
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

    /**
     * Why [path] is not a regular file ("a link", "not a regular file"), or null when it is one or
     * is missing. A bundle is made of regular files: a link (to anywhere) or a FIFO (whose read
     * would block) is refused before it is read. Sources that hold only regular files (the APK's
     * assets) keep this default.
     */
    fun irregular(path: String): String? = null
}

/** A bundle in a plain directory. */
class DirectoryBundle(private val root: File) : BundleSource {
    override val location: String get() = root.path

    override fun open(path: String): InputStream? = File(root, path).takeIf { it.isFile }?.inputStream()

    override fun list(): List<String>? =
        root.takeIf { it.isDirectory }?.walkTopDown()?.filter { it.isFile }?.map { it.relativeTo(root).invariantSeparatorsPath }?.toList()

    override fun irregular(path: String): String? {
        val file = File(root, path).toPath()
        return when {
            Files.isSymbolicLink(file) -> "a link"
            Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) ->
                "not a regular file"
            else -> null
        }
    }

    /** The file of [path] inside the bundle (for runtimes that need a file path). */
    fun file(path: String): File = File(root, path)

    /** Size and modification time of [path], or null if it is not a file. */
    fun stamp(path: String): FileStamp? = File(root, path).takeIf { it.isFile }?.let { FileStamp(it.length(), it.lastModified()) }
}

/**
 * A bundle folder checked by [BundleVerifier.verifyOnce]: its [manifest], the [record] that now
 * stands for the verification, and whether the files were hashed this time ([rehashed], with
 * [reason] saying why) or an earlier [VerificationRecord] still held.
 */
data class VerifiedBundle(
    val manifest: BundleManifest,
    val record: VerificationRecord,
    val rehashed: Boolean,
    val reason: String?,
)

/**
 * Reads and checks a bundle like `toolchain.deploy.manifest.verify_bundle`: the manifest
 * parses ([BundleManifest.parse]), every listed file exists with its size and sha256, and
 * (when the source can list) nothing unlisted lies beside them. Throws [EnhanceError]
 * ([EnhanceError.BundleMissing], [EnhanceError.ManifestInvalid],
 * [EnhanceError.UnsupportedSchema], [EnhanceError.BundleTampered]).
 */
object BundleVerifier {
    /** Parses the bundle's manifest without hashing files (cheap; for listing bundles). */
    fun readManifest(source: BundleSource): BundleManifest =
        BundleManifest.parse(readManifestBytes(source).toString(Charsets.UTF_8))

    /**
     * Parses the manifest and checks every file's presence, size and sha256 ([hasher] reads
     * each listed file: [sha256] unless a test counts the calls).
     */
    fun verify(source: BundleSource, hasher: (InputStream) -> Pair<Long, String> = ::sha256): BundleManifest {
        val manifest = readManifest(source)
        checkUnlisted(source, manifest)
        checkFiles(source, manifest, hasher)
        return manifest
    }

    /**
     * Verifies [bundle] once and reuses that verification while nothing changes: when [record]
     * (the [VerifiedBundle.record] of an earlier call on this folder) names the sha256 of the
     * current `manifest.json` and every listed file still has the size and modification time it
     * had when it was hashed ([VerificationRecords.decide]), no file is hashed; any difference
     * (or no record) hashes every file again, exactly as [verify]. Unlisted files are refused
     * either way (listing is cheap). The stamps are taken before hashing, so a file changed
     * while it was hashed is hashed again next time. Throws what [verify] throws.
     */
    fun verifyOnce(
        bundle: DirectoryBundle,
        record: VerificationRecord?,
        hasher: (InputStream) -> Pair<Long, String> = ::sha256,
    ): VerifiedBundle {
        val bytes = readManifestBytes(bundle)
        val manifestSha256 = sha256Hex(bytes)
        val manifest = BundleManifest.parse(bytes.toString(Charsets.UTF_8))
        checkUnlisted(bundle, manifest)
        val decision = VerificationRecords.decide(record, manifestSha256, manifest, bundle::stamp)
        if (decision is VerifyDecision.Reuse) return VerifiedBundle(manifest, record!!, rehashed = false, reason = null)
        val stamps = manifest.files.associate { entry ->
            entry.file to (bundle.stamp(entry.file) ?: throw EnhanceError.BundleTampered(entry.file, "is missing"))
        }
        checkFiles(bundle, manifest, hasher)
        return VerifiedBundle(
            manifest,
            VerificationRecord(manifestSha256, stamps),
            rehashed = true,
            reason = (decision as VerifyDecision.Reverify).reason,
        )
    }

    /** The manifest's bytes; one that is not a regular file is refused first (as `read_manifest` does). */
    private fun readManifestBytes(source: BundleSource): ByteArray {
        source.irregular(MANIFEST_NAME)?.let { kind ->
            throw EnhanceError.ManifestInvalid("$MANIFEST_NAME is $kind; a bundle is made of regular files")
        }
        return source.open(MANIFEST_NAME)?.use { it.readBytes() } ?: throw EnhanceError.BundleMissing(source.location)
    }

    /** Refuses files beside the listed ones (when [source] can list). */
    private fun checkUnlisted(source: BundleSource, manifest: BundleManifest) {
        val listed = manifest.files.map { it.file }.toSet()
        source.list()?.let { present ->
            val stray = present.filter { it !in listed && it != MANIFEST_NAME && it != REPORT_NAME }.sorted()
            if (stray.isNotEmpty()) throw EnhanceError.BundleTampered(stray.first(), "is not listed in $MANIFEST_NAME")
        }
    }

    /** Every listed file's presence, size and sha256. */
    private fun checkFiles(source: BundleSource, manifest: BundleManifest, hasher: (InputStream) -> Pair<Long, String>) {
        for (entry in manifest.files) {
            val stream = source.open(entry.file) ?: throw EnhanceError.BundleTampered(entry.file, "is missing")
            val (size, digest) = stream.use { hasher(it) }
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
        return total to hex(md.digest())
    }

    /** Lowercase hex sha256 of [bytes] (a manifest's identity). */
    fun sha256Hex(bytes: ByteArray): String = hex(MessageDigest.getInstance("SHA-256").digest(bytes))

    private fun hex(digest: ByteArray): String = digest.joinToString("") { "%02x".format(it) }
}
