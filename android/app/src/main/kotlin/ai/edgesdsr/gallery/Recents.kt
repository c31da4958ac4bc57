package ai.edgesdsr.gallery

import android.content.Context
import android.net.Uri

/** A saved result: its content URI and the file name it got. */
data class Recent(val uri: Uri, val name: String)

/** The gallery screen's "recent results": saved photos, newest first (at most [MAX]). */
class Recents(context: Context) {
    private val prefs = context.getSharedPreferences("recents", Context.MODE_PRIVATE)

    /** Saved results, newest first. */
    fun list(): List<Recent> = prefs.getString(KEY, "").orEmpty().lines().mapNotNull { line ->
        val (uri, name) = line.split('\t', limit = 2).takeIf { it.size == 2 } ?: return@mapNotNull null
        Recent(Uri.parse(uri), name)
    }

    /** Records [recent] as the newest result. */
    fun add(recent: Recent) = store(listOf(recent) + list().filter { it.uri != recent.uri })

    /** Forgets [uri] (deleted from the gallery). */
    fun remove(uri: Uri) = store(list().filter { it.uri != uri })

    private fun store(recents: List<Recent>) {
        prefs.edit().putString(KEY, recents.take(MAX).joinToString("\n") { "${it.uri}\t${it.name}" }).apply()
    }

    private companion object {
        const val KEY = "uris"
        const val MAX = 12
    }
}
