package ai.edgesdsr.gallery

import ai.edgesdsr.core.EnhanceError
import android.app.Activity
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import android.view.ViewGroup
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The gallery: pick a photo (the system photo picker on API 33+, the document picker below)
 * and see the recent results. Picking opens [PhotoActivity].
 */
class GalleryActivity : Activity() {
    private val app: GalleryApp get() = application as GalleryApp
    private lateinit var bundleInfo: TextView
    private lateinit var recentList: LinearLayout

    /** Bumped by each [showRecents]: a thumbnail decoded for an older list is dropped. */
    private var recentsShown = 0

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        bundleInfo = text(13f).apply { tag = "bundle" }
        recentList = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            tag = "recents"
        }
        val content = column(
            text(24f, "Edge SR"),
            text(16f, "Enhance a photo 4x on the phone's NPU"),
            bundleInfo,
            button("Pick a photo") { pick() }.apply { tag = "pick" },
            text(17f, "Recent results"),
            recentList,
        )
        setContentView(ScrollView(this).apply { addView(content) })
    }

    override fun onResume() {
        super.onResume()
        showRecents()
        app.scope.launch {
            bundleInfo.text = withContext(app.modelDispatcher) { describeBundle() }
        }
    }

    /** "Bundle: nano s24-dsp (built-in)", or why there is none (manifest only, no hashing). */
    private fun describeBundle(): String = try {
        val manifest = app.bundles.peekManifest()
        val origin = app.bundles.pushedBundle()?.let { "pushed: ${it.name}" } ?: "built-in"
        "Bundle: ${manifest.preset} ${manifest.target}, ${manifest.scale}x ($origin)"
    } catch (error: EnhanceError) {
        "Bundle problem: ${error.message}"
    }

    private fun pick() {
        val intent = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            Intent(MediaStore.ACTION_PICK_IMAGES).setType("image/*")
        } else {
            Intent(Intent.ACTION_OPEN_DOCUMENT).addCategory(Intent.CATEGORY_OPENABLE).setType("image/*")
        }
        startActivityForResult(intent, REQUEST_PICK)
    }

    @Deprecated("framework Activity result API (no AndroidX here)")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        val uri = data?.data
        if (requestCode != REQUEST_PICK || resultCode != RESULT_OK || uri == null) return
        if (data.flags and Intent.FLAG_GRANT_PERSISTABLE_URI_PERMISSION != 0) {
            try {
                contentResolver.takePersistableUriPermission(uri, Intent.FLAG_GRANT_READ_URI_PERMISSION)
            } catch (ignored: SecurityException) {
                // the picker's one-time grant is enough for this session
            }
        }
        startActivity(
            Intent(this, PhotoActivity::class.java).setData(uri).addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION),
        )
    }

    /**
     * Lists the recent results at once and decodes their thumbnails off the main thread (I/O
     * dispatcher: the model thread may be busy enhancing for minutes); each one is set when it is
     * ready, and a result that cannot be read any more (deleted from the gallery) is forgotten.
     */
    private fun showRecents() {
        val shown = ++recentsShown
        recentList.removeAllViews()
        val recents = app.recents.list()
        if (recents.isEmpty()) {
            showNoRecents()
            return
        }
        val side = dp(72)
        for ((uri, name) in recents) {
            val thumb = ImageView(this).apply {
                scaleType = ImageView.ScaleType.CENTER_CROP
                tag = "thumb"
            }
            val label = text(14f, "$name\nPictures/${GallerySaver.ALBUM}")
            val entry = LinearLayout(this).apply {
                orientation = LinearLayout.HORIZONTAL
                addView(thumb, LinearLayout.LayoutParams(side, side))
                addView(label, LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f).apply {
                    leftMargin = dp(12)
                })
                setOnClickListener {
                    startActivity(Intent(Intent.ACTION_VIEW, uri).addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION))
                }
            }
            recentList.addView(entry)
            app.scope.launch {
                val thumbnail = withContext(Dispatchers.IO) { loadThumbnail(uri, side) }
                if (isDestroyed || shown != recentsShown) return@launch
                if (thumbnail != null) {
                    thumb.setImageBitmap(thumbnail)
                } else {
                    app.recents.remove(uri)
                    recentList.removeView(entry)
                    if (recentList.childCount == 0) showNoRecents()
                }
            }
        }
    }

    private fun showNoRecents() {
        recentList.addView(text(14f, "None yet: enhanced photos you save appear here (Pictures/Enhanced)."))
    }

    /** A decode of a saved result at least [side] px on its short edge, or null if it is gone (any thread). */
    private fun loadThumbnail(uri: Uri, side: Int): Bitmap? = try {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        contentResolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, bounds) }
        var sample = 1
        while (bounds.outWidth / (sample * 2) >= side && bounds.outHeight / (sample * 2) >= side) sample *= 2
        contentResolver.openInputStream(uri)?.use {
            BitmapFactory.decodeStream(it, null, BitmapFactory.Options().apply { inSampleSize = sample })
        }
    } catch (error: Exception) {
        null
    }

    private companion object {
        const val REQUEST_PICK = 1
    }
}
