package ai.edgesdsr.gallery

import android.content.Context
import android.net.Uri

/** The gallery screen's "recent results": content URIs of saved photos, newest first (at most [MAX]). */
class Recents(context: Context) {
    private val prefs = context.getSharedPreferences("recents", Context.MODE_PRIVATE)

    /** Saved results, newest first. */
    fun list(): List<Uri> = prefs.getString(KEY, "").orEmpty().lines().filter { it.isNotBlank() }.map(Uri::parse)

    /** Records [uri] as the newest result. */
    fun add(uri: Uri) {
        val next = (listOf(uri) + list().filter { it != uri }).take(MAX)
        prefs.edit().putString(KEY, next.joinToString("\n")).apply()
    }

    /** Forgets [uri] (deleted from the gallery). */
    fun remove(uri: Uri) {
        prefs.edit().putString(KEY, list().filter { it != uri }.joinToString("\n")).apply()
    }

    private companion object {
        const val KEY = "uris"
        const val MAX = 12
    }
}
