package ai.edgesdsr.gallery

import ai.edgesdsr.core.BundleManifest
import ai.edgesdsr.core.BundleVerifier
import ai.edgesdsr.core.DirectoryBundle
import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.MANIFEST_NAME
import ai.edgesdsr.core.RunnerKey
import ai.edgesdsr.core.VerificationRecord
import ai.edgesdsr.core.VerificationRecords
import android.content.Context
import android.util.Log
import java.io.File
import java.io.IOException

/**
 * A verified bundle on the file system (runtimes need file paths: EPContext graphs name their
 * binary). [verification] is the record of the verification it passed.
 */
class ActiveBundle(val dir: File, val manifest: BundleManifest, val pushed: Boolean, val verification: VerificationRecord) {
    val name: String get() = dir.name

    /** The kept runner of this bundle as verified ([Accelerators.acquire]). */
    val key: RunnerKey get() = RunnerKey(dir.absolutePath, verification)

    /** The file of a manifest path. */
    fun file(path: String): File = File(dir, path)

    /** "nano s24-dsp (built-in)" for the UI. */
    fun describe(): String = "${manifest.preset} ${manifest.target} (${if (pushed) "pushed: $name" else "built-in"})"
}

/**
 * Where the app's bundle comes from. A bundle pushed with adb to
 * `getExternalFilesDir("bundles")/<name>/` (see android/README.md) replaces the default one
 * that ships in the APK's `assets/bundles/<name>/`, which is copied once to
 * `filesDir/bundles/<name>/`. [open] verifies the bundle (manifest schema, file sizes and
 * sha256s) through core's [BundleVerifier] once per install or push: the verification's record
 * (manifest sha256, every file's size and modification time) is kept in
 * `filesDir/verified-bundles.json`, and later [open]s only compare the files' sizes and
 * modification times with it, hashing everything again on any difference
 * ([BundleVerifier.verifyOnce]). Its errors are the one-line messages the UI shows.
 */
class BundleStore(private val context: Context) {
    /** Folder that adb-pushed bundles go to. */
    val pushedRoot: File? get() = context.getExternalFilesDir("bundles")

    /** Folder the default bundle is copied to. */
    private val installedRoot: File get() = File(context.filesDir, "bundles")

    /** The verification records of the bundle folders, by absolute path. */
    private val recordFile: File get() = File(context.filesDir, RECORDS)

    /** The newest pushed bundle folder (one holding a manifest), if any. */
    fun pushedBundle(): File? =
        pushedRoot?.listFiles()?.filter { File(it, MANIFEST_NAME).isFile }?.maxByOrNull { File(it, MANIFEST_NAME).lastModified() }

    /** The name of the default bundle in assets, or null if the APK has none. */
    fun defaultBundleName(): String? = try {
        // Android lists direct children; Robolectric may list nested paths: keep the first segment.
        context.assets.list(ASSET_ROOT)?.map { it.substringBefore('/') }?.sorted()?.firstOrNull()
    } catch (error: IOException) {
        null
    }

    /**
     * The manifest of the bundle [open] would use, parsed but not hashed (cheap: for the
     * input limit and the gallery's bundle line). Throws the same [EnhanceError]s as parsing.
     */
    fun peekManifest(): BundleManifest {
        pushedBundle()?.let { return BundleVerifier.readManifest(DirectoryBundle(it)) }
        return BundleManifest.parse(readAsset("${defaultAssetDir()}/$MANIFEST_NAME").toString(Charsets.UTF_8))
    }

    /**
     * The bundle to run: the pushed one if present, else the built-in one (copied once); verified
     * once, then checked by file size and modification time (model thread only).
     */
    fun open(): ActiveBundle {
        pushedBundle()?.let { return verified(it, pushed = true) }
        val assetDir = defaultAssetDir()
        val dir = File(installedRoot, assetDir.substringAfterLast('/'))
        val stamp = File(installedRoot, "${dir.name}.installed")
        val version = installedVersion()
        if (!stamp.isFile || stamp.readText() != version) {
            install(assetDir, dir)
            stamp.writeText(version)
        }
        return verified(dir, pushed = false)
    }

    /**
     * [dir] verified: by its stored record while every listed file keeps its size and
     * modification time, else by hashing every file (the record is then replaced; a bundle that
     * fails loses its record).
     */
    private fun verified(dir: File, pushed: Boolean): ActiveBundle {
        val key = dir.absolutePath
        val records = readRecords()
        val result = try {
            BundleVerifier.verifyOnce(DirectoryBundle(dir), records[key])
        } catch (error: EnhanceError) {
            if (key in records) writeRecords(records - key)
            throw error
        }
        if (result.rehashed) {
            Log.i(TAG, "verified ${dir.path}: every file hashed (${result.reason})")
            writeRecords(records.filterKeys { it != key && File(it).isDirectory } + (key to result.record))
        }
        return ActiveBundle(dir, result.manifest, pushed, result.record)
    }

    private fun readRecords(): Map<String, VerificationRecord> = try {
        if (recordFile.isFile) VerificationRecords.decode(recordFile.readText()) else emptyMap()
    } catch (error: IOException) {
        emptyMap()
    }

    /** Replaces the record file; a failure only means the next [open] hashes the bundle again. */
    private fun writeRecords(records: Map<String, VerificationRecord>) {
        val tmp = File(recordFile.parentFile, ".$RECORDS.tmp")
        try {
            tmp.writeText(VerificationRecords.encode(records))
            if (!tmp.renameTo(recordFile)) throw IOException("cannot move $tmp to $recordFile")
        } catch (error: IOException) {
            Log.w(TAG, "bundle verification record not saved: ${error.message}")
            tmp.delete()
        }
    }

    private fun defaultAssetDir(): String = defaultBundleName()?.let { "$ASSET_ROOT/$it" }
        ?: throw EnhanceError.BundleMissing("${pushedRoot?.path ?: "the app's files"} (none pushed, none built in)")

    private fun readAsset(path: String): ByteArray = try {
        context.assets.open(path).use { it.readBytes() }
    } catch (error: IOException) {
        throw EnhanceError.BundleMissing("$path in the APK")
    }

    /**
     * Copies the built-in bundle's manifest and the files it lists to [dest] (replaced)
     * through a temporary sibling; [open] then verifies every sha256.
     */
    private fun install(assetDir: String, dest: File) {
        val manifestBytes = readAsset("$assetDir/$MANIFEST_NAME")
        val manifest = BundleManifest.parse(manifestBytes.toString(Charsets.UTF_8))
        val tmp = File(dest.parentFile, ".${dest.name}.tmp")
        tmp.deleteRecursively()
        tmp.mkdirs()
        File(tmp, MANIFEST_NAME).writeBytes(manifestBytes)
        for (entry in manifest.files) {
            val target = File(tmp, entry.file)
            target.parentFile?.mkdirs()
            try {
                context.assets.open("$assetDir/${entry.file}").use { input -> target.outputStream().use { input.copyTo(it) } }
            } catch (error: java.io.FileNotFoundException) {
                throw EnhanceError.BundleTampered(entry.file, "is missing from the APK's built-in bundle")
            }
        }
        dest.deleteRecursively()
        if (!tmp.renameTo(dest)) throw IOException("cannot move the default bundle into $dest")
    }

    private fun installedVersion(): String {
        val info = context.packageManager.getPackageInfo(context.packageName, 0)
        return "${info.lastUpdateTime}:${defaultBundleName()}"
    }

    private companion object {
        const val ASSET_ROOT = "bundles"
        const val RECORDS = "verified-bundles.json"
        const val TAG = "EdgeSR"
    }
}
