package ai.edgesdsr.gallery

import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.SaveProblem
import android.content.ContentResolver
import android.content.ContentValues
import android.graphics.Bitmap
import android.media.ExifInterface
import android.net.Uri
import android.os.Build
import android.os.Environment
import android.provider.MediaStore
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.text.ParseException
import java.text.SimpleDateFormat
import java.util.Locale

/**
 * Saves enhanced photos to the gallery: MediaStore, `Pictures/Enhanced`, JPEG. The pixels
 * stay in sensor orientation and the original EXIF orientation and capture date are written
 * into the file (and DATE_TAKEN / ORIENTATION into MediaStore), so the result shows and sorts
 * like the original. The JPEG is complete in [scratch] before anything reaches the gallery;
 * a failure removes the half-inserted entry and becomes [EnhanceError.SaveFailed].
 */
class GallerySaver(private val resolver: ContentResolver, private val scratch: File) {
    /** Saves [bitmap] as [displayName] with [info]'s orientation and date; returns its content URI. */
    fun save(bitmap: Bitmap, info: PhotoInfo, displayName: String): Uri {
        val temp = File(scratch, "save-${System.nanoTime()}.jpg")
        var inserted: Uri? = null
        try {
            FileOutputStream(temp).use { out ->
                if (!bitmap.compress(Bitmap.CompressFormat.JPEG, JPEG_QUALITY, out)) throw IOException("JPEG encoder failed")
            }
            ExifInterface(temp.path).apply {
                setAttribute(ExifInterface.TAG_ORIENTATION, info.exifOrientation.toString())
                info.captureDate?.let { setAttribute(ExifInterface.TAG_DATETIME_ORIGINAL, it) }
                setAttribute(ExifInterface.TAG_SOFTWARE, "Edge-SD-SR")
                saveAttributes()
            }
            val values = ContentValues().apply {
                put(MediaStore.MediaColumns.DISPLAY_NAME, displayName)
                put(MediaStore.MediaColumns.MIME_TYPE, "image/jpeg")
                put(MediaStore.Images.ImageColumns.ORIENTATION, info.rotationDegrees)
                takenMillis(info.captureDate)?.let { put(MediaStore.Images.ImageColumns.DATE_TAKEN, it) }
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
                    put(MediaStore.MediaColumns.RELATIVE_PATH, "${Environment.DIRECTORY_PICTURES}/$ALBUM")
                    put(MediaStore.MediaColumns.IS_PENDING, 1)
                } else {
                    @Suppress("DEPRECATION")
                    val dir = File(Environment.getExternalStoragePublicDirectory(Environment.DIRECTORY_PICTURES), ALBUM)
                    if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create $dir")
                    @Suppress("DEPRECATION")
                    put(MediaStore.MediaColumns.DATA, File(dir, displayName).path)
                }
            }
            val uri = resolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)
                ?: throw IOException("MediaStore refused the new entry")
            inserted = uri
            val out = resolver.openOutputStream(uri) ?: throw IOException("MediaStore gave no output stream")
            out.use { stream -> temp.inputStream().use { it.copyTo(stream) } }
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
                resolver.update(uri, ContentValues().apply { put(MediaStore.MediaColumns.IS_PENDING, 0) }, null, null)
            }
            return uri
        } catch (error: SecurityException) {
            inserted?.let { discard(it) }
            throw EnhanceError.SaveFailed(SaveProblem.PERMISSION_DENIED, error.message, error)
        } catch (error: IOException) {
            inserted?.let { discard(it) }
            throw EnhanceError.SaveFailed(problemOf(error), error.message, error)
        } finally {
            temp.delete()
        }
    }

    private fun discard(uri: Uri) {
        try {
            resolver.delete(uri, null, null)
        } catch (ignored: RuntimeException) {
            // the entry stays pending and MediaStore removes it after a week
        }
    }

    companion object {
        /** Album folder under Pictures. */
        const val ALBUM = "Enhanced"
        private const val JPEG_QUALITY = 95

        /** `<photo name>_x4.jpg`. */
        fun displayName(info: PhotoInfo, scale: Int): String = "${info.name.substringBeforeLast('.')}_x$scale.jpg"

        /** Storage full vs permission vs other, from the I/O error's text (errno names). */
        fun problemOf(error: IOException): SaveProblem {
            val text = generateSequence<Throwable>(error) { it.cause }.joinToString(" ") { it.message.orEmpty() }
            return when {
                "ENOSPC" in text || "No space left" in text -> SaveProblem.STORAGE_FULL
                "EACCES" in text || "EPERM" in text || "Permission denied" in text -> SaveProblem.PERMISSION_DENIED
                else -> SaveProblem.IO
            }
        }

        /** EXIF "yyyy:MM:dd HH:mm:ss" (local time) -> epoch millis, or null. */
        fun takenMillis(exifDate: String?): Long? = exifDate?.let {
            try {
                SimpleDateFormat("yyyy:MM:dd HH:mm:ss", Locale.US).parse(it)?.time
            } catch (error: ParseException) {
                null
            }
        }
    }
}
