package ai.edgesdsr.gallery

import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.InputLimit
import ai.edgesdsr.core.RgbImage
import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.BitmapRegionDecoder
import android.graphics.Rect
import android.media.ExifInterface
import android.net.Uri
import java.io.IOException
import java.io.InputStream

/** What the app knows about a picked photo before decoding its pixels. */
data class PhotoInfo(
    val uri: Uri,
    val name: String,
    val width: Int,
    val height: Int,
    /** EXIF orientation tag (1 = upright); kept when saving, applied only on screen. */
    val exifOrientation: Int,
    /** EXIF DateTimeOriginal ("yyyy:MM:dd HH:mm:ss"), kept when saving. */
    val captureDate: String?,
) {
    /** Clockwise rotation the EXIF orientation asks for. */
    val rotationDegrees: Int
        get() = when (exifOrientation) {
            ExifInterface.ORIENTATION_ROTATE_90, ExifInterface.ORIENTATION_TRANSPOSE -> 90
            ExifInterface.ORIENTATION_ROTATE_180, ExifInterface.ORIENTATION_FLIP_VERTICAL -> 180
            ExifInterface.ORIENTATION_ROTATE_270, ExifInterface.ORIENTATION_TRANSVERSE -> 270
            else -> 0
        }
}

/** How a photo larger than the [InputLimit] is brought within it. */
enum class Fit {
    /** Use as is (it fits). */
    AS_IS,

    /** Scale the whole photo down to the largest size that fits. */
    DOWNSCALE,

    /** Keep full resolution, take the centre region of the largest size that fits. */
    CROP,
}

/** A decoded photo ready for the engine, in sensor orientation. */
class LoadedPhoto(val info: PhotoInfo, val bitmap: Bitmap, val fit: Fit) {
    /** The engine's view of the pixels (ARGB ints). */
    fun toRgbImage(): RgbImage {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return RgbImage(bitmap.width, bitmap.height, argb)
    }

    /** One line for the UI: size, and what was done to fit. */
    fun describe(): String = when (fit) {
        Fit.AS_IS -> "${bitmap.width}x${bitmap.height}"
        Fit.DOWNSCALE -> "${bitmap.width}x${bitmap.height} (downscaled from ${info.width}x${info.height})"
        Fit.CROP -> "${bitmap.width}x${bitmap.height} (centre crop of ${info.width}x${info.height})"
    }
}

/** Reads photos through a [ContentResolver] without ever decoding more pixels than the limit allows. */
class PhotoLoader(private val resolver: ContentResolver) {
    private fun open(uri: Uri): InputStream =
        try {
            resolver.openInputStream(uri)
        } catch (error: IOException) {
            null
        } catch (error: SecurityException) {
            null
        } ?: throw EnhanceError.ImageUnreadable(uri.lastPathSegment ?: uri.toString())

    /** Size, orientation and capture date; throws [EnhanceError.ImageUnreadable] for a non-image. */
    fun inspect(uri: Uri): PhotoInfo {
        val name = uri.lastPathSegment?.substringAfterLast('/') ?: "the photo"
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        open(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw EnhanceError.ImageUnreadable(name)
        val exif = try {
            open(uri).use { ExifInterface(it) }
        } catch (error: IOException) {
            null
        }
        return PhotoInfo(
            uri,
            name,
            bounds.outWidth,
            bounds.outHeight,
            exif?.getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
                ?: ExifInterface.ORIENTATION_NORMAL,
            exif?.getAttribute(ExifInterface.TAG_DATETIME_ORIGINAL),
        )
    }

    /**
     * Decodes [info] brought within [limit] by [fit]. [Fit.AS_IS] on a photo above the limit
     * throws [EnhanceError.ImageTooLarge] (the UI then offers the two other fits).
     */
    fun load(info: PhotoInfo, limit: InputLimit, fit: Fit): LoadedPhoto {
        val fits = limit.allows(info.width, info.height)
        if (fits || fit == Fit.AS_IS) {
            if (!fits) throw EnhanceError.ImageTooLarge(info.width, info.height, limit)
            return LoadedPhoto(info, decode(info, BitmapFactory.Options()), Fit.AS_IS)
        }
        val (w, h) = limit.downscaleToFit(info.width, info.height)
        val bitmap = when (fit) {
            Fit.DOWNSCALE -> {
                var sample = 1
                while (info.width / (sample * 2) >= w && info.height / (sample * 2) >= h) sample *= 2
                val sampled = decode(info, BitmapFactory.Options().apply { inSampleSize = sample })
                if (sampled.width == w && sampled.height == h) sampled
                else Bitmap.createScaledBitmap(sampled, w, h, true).also { if (it !== sampled) sampled.recycle() }
            }
            else -> {
                val region = Rect((info.width - w) / 2, (info.height - h) / 2, 0, 0)
                region.right = region.left + w
                region.bottom = region.top + h
                val decoder = open(info.uri).use {
                    @Suppress("DEPRECATION")
                    BitmapRegionDecoder.newInstance(it, false)
                } ?: throw EnhanceError.ImageUnreadable(info.name)
                try {
                    decoder.decodeRegion(region, argbOptions()) ?: throw EnhanceError.ImageUnreadable(info.name)
                } finally {
                    decoder.recycle()
                }
            }
        }
        return LoadedPhoto(info, bitmap.asArgb(), fit)
    }

    private fun argbOptions() = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }

    private fun decode(info: PhotoInfo, options: BitmapFactory.Options): Bitmap {
        options.inPreferredConfig = Bitmap.Config.ARGB_8888
        val bitmap = open(info.uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw EnhanceError.ImageUnreadable(info.name)
        return bitmap.asArgb()
    }

    private fun Bitmap.asArgb(): Bitmap =
        if (config == Bitmap.Config.ARGB_8888) this else copy(Bitmap.Config.ARGB_8888, false).also { recycle() }
}
