package ai.edgesdsr.core

/**
 * Every failure a user can meet while enhancing a photo. [message] is one line the UI shows
 * as is: it names the problem and what to do about it. Core decides which case applies;
 * the app only displays it (and logs [cause], when there is one).
 */
sealed class EnhanceError(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** The image could not be decoded (corrupt, or a format Android cannot read). */
    class ImageUnreadable(what: String) :
        EnhanceError("$what could not be read as an image; pick a JPEG, PNG or WebP photo")

    /** The photo exceeds [limit] (see [InputLimit]): the app offers a crop or a downscale. */
    class ImageTooLarge(val width: Int, val height: Int, val limit: InputLimit) :
        EnhanceError(
            "the photo is ${width}x$height, more than this phone can enhance at once " +
                "(${limit.describe()}); crop a region or downscale it",
        )

    /** `manifest.json` is missing from the bundle folder. */
    class BundleMissing(bundle: String) :
        EnhanceError("no bundle at $bundle (manifest.json missing); push a bundle written by `toolchain export`")

    /** `manifest.json` breaks the schema: [reason] names the key path. */
    class ManifestInvalid(val reason: String) :
        EnhanceError("the bundle's manifest is invalid: $reason; re-export it with `toolchain export`")

    /** The manifest's major schema version is not the one this app reads. */
    class UnsupportedSchema(val version: String, val supportedMajor: Int) :
        EnhanceError(
            "the bundle's manifest has schema version $version, this app reads $supportedMajor.x; " +
                "update the app or re-export the bundle with a matching toolchain",
        )

    /** A bundle file is missing, has the wrong size or the wrong sha256 (modified or corrupted). */
    class BundleTampered(val file: String, val problem: String) :
        EnhanceError("bundle file $file $problem; the bundle was modified or corrupted, push it again")

    /** No accelerator could run the bundle; [attempts] says why each one was skipped or failed. */
    class NoAccelerator(val attempts: List<FallbackAttempt>) :
        EnhanceError(
            "no accelerator can run this bundle (" +
                attempts.joinToString("; ") { "${it.accelerator.label}: ${it.reason}" } + ")",
        )

    /** The runner produced NaN or infinity for tile [tile] of [of] (a broken graph or driver). */
    class NonFiniteOutput(val tile: Int, val of: Int, val accelerator: Accelerator) :
        EnhanceError(
            "the ${accelerator.label} returned invalid values (NaN/Inf) for tile $tile of $of; " +
                "try again, or pick another accelerator",
        )

    /** The runner threw while running a tile. */
    class RunnerFailed(val accelerator: Accelerator, detail: String, cause: Throwable? = null) :
        EnhanceError("the ${accelerator.label} failed: ${oneLine(detail)}", cause)

    /** The user cancelled; [tilesDone] of [tiles] had finished. */
    class Cancelled(val tilesDone: Int, val tiles: Int) :
        EnhanceError("cancelled after $tilesDone of $tiles tiles")

    /** Saving the result failed; [kind] tells the storage problem apart. */
    class SaveFailed(val kind: SaveProblem, detail: String? = null, cause: Throwable? = null) :
        EnhanceError(kind.message + (detail?.let { " (${oneLine(it)})" } ?: ""), cause)

    private companion object {
        fun oneLine(text: String): String = text.lineSequence().firstOrNull { it.isNotBlank() }?.trim() ?: "no details"
    }
}

/** Why saving to the gallery failed, each with its one-line advice. */
enum class SaveProblem(val message: String) {
    STORAGE_FULL("not enough storage to save the photo; free some space and save again"),
    PERMISSION_DENIED("the app may not write to the gallery; allow photo access in Settings and save again"),
    IO("the photo could not be written; save again"),
}
