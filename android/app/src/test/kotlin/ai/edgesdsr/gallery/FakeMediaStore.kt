package ai.edgesdsr.gallery

import android.content.ContentProvider
import android.content.ContentUris
import android.content.ContentValues
import android.database.Cursor
import android.net.Uri
import android.os.ParcelFileDescriptor
import java.io.File

/**
 * The `media` content provider for the UI tests: records inserts and updates, and hands out a
 * file per inserted image ([files]); with [target] set, every image is written there instead
 * (`/dev/full` makes the write fail with ENOSPC, as a full phone does); [refuse] denies access.
 */
class FakeMediaStore : ContentProvider() {
    val inserted = mutableListOf<ContentValues>()
    val updated = mutableListOf<ContentValues>()
    val files = mutableMapOf<Uri, File>()
    var target: File? = null

    /** Refuse inserts as MediaStore does for an app without write access. */
    var refuse = false

    override fun onCreate(): Boolean = true

    override fun insert(uri: Uri, values: ContentValues?): Uri {
        if (refuse) throw SecurityException("ai.edgesdsr.gallery has no access to $uri")
        inserted += ContentValues(values)
        val item = ContentUris.withAppendedId(uri, inserted.size.toLong())
        files[item] = target ?: File.createTempFile("media", ".jpg")
        return item
    }

    override fun openFile(uri: Uri, mode: String): ParcelFileDescriptor =
        ParcelFileDescriptor.open(files.getValue(uri), ParcelFileDescriptor.parseMode(mode))

    override fun update(uri: Uri, values: ContentValues?, selection: String?, args: Array<out String>?): Int {
        updated += ContentValues(values)
        return 1
    }

    override fun delete(uri: Uri, selection: String?, args: Array<out String>?): Int =
        if (files.remove(uri) != null) 1 else 0

    override fun query(uri: Uri, projection: Array<out String>?, selection: String?, args: Array<out String>?, order: String?): Cursor? =
        null

    override fun getType(uri: Uri): String = "image/jpeg"
}
