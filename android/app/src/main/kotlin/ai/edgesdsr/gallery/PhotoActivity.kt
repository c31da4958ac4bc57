package ai.edgesdsr.gallery

import ai.edgesdsr.core.EnhanceError
import ai.edgesdsr.core.TileSpec
import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.util.Log
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.TextView
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * One photo: **Enhance** (progress tile i/N, elapsed, estimate; **Cancel**), the before/after
 * comparison with pinch-zoom, **Save** to Pictures/Enhanced. A photo above the input limit
 * gets the limit explained and two ways out (downscale, crop). All work runs in the
 * process-held [EnhanceSession]; this screen only attaches to it.
 */
class PhotoActivity : Activity() {
    private val app: GalleryApp get() = application as GalleryApp
    private lateinit var uri: Uri
    private lateinit var info: TextView
    private lateinit var compare: BeforeAfterView
    private lateinit var progress: ProgressBar
    private lateinit var status: TextView
    private lateinit var message: TextView
    private lateinit var enhance: Button
    private lateinit var cancel: Button
    private lateinit var save: Button
    private lateinit var fitChoices: LinearLayout
    private var session: EnhanceSession? = null
    private val listener: (EnhanceState) -> Unit = { render(it) }
    private var started = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val picked = intent.data ?: intentStream()
        if (picked == null) {
            finish()
            return
        }
        uri = picked
        info = text(13f).apply { tag = "info" }
        compare = BeforeAfterView(this).apply { tag = "compare" }
        progress = ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply {
            tag = "progress"
            visibility = View.GONE
        }
        status = text(14f).apply { tag = "status" }
        message = text(14f).apply { tag = "message" }
        enhance = button("Enhance") { session?.start() }.apply { tag = "enhance" }
        cancel = button("Cancel") { session?.cancel() }.apply { tag = "cancel" }
        save = button("Save") { save() }.apply { tag = "save" }
        fitChoices = LinearLayout(this).apply {
            orientation = LinearLayout.HORIZONTAL
            tag = "fit"
        }
        val root = column(info)
        root.addView(compare, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        listOf(progress, status, message, fitChoices, row(enhance, cancel, save)).forEach(root::addView)
        setContentView(root)
        setButtons(enhance = false, cancel = false, save = false)
        val existing = app.sessions[uri]
        if (existing != null) bind(existing) else load(Fit.AS_IS)
    }

    @Suppress("DEPRECATION")
    private fun intentStream(): Uri? =
        if (intent.action == Intent.ACTION_SEND) intent.getParcelableExtra(Intent.EXTRA_STREAM) else null

    override fun onStart() {
        super.onStart()
        started = true
        session?.attach(listener)
    }

    override fun onStop() {
        started = false
        session?.detach(listener)
        super.onStop()
    }

    /** Decodes the photo (off the main thread) brought within the limit by [fit], then opens a session. */
    private fun load(fit: Fit) {
        message.text = "Reading the photo..."
        fitChoices.removeAllViews()
        app.scope.launch {
            val loader = PhotoLoader(contentResolver)
            val outcome: Any = withContext(app.modelDispatcher) {
                try {
                    val photoInfo = loader.inspect(uri)
                    // A broken bundle must not hide the photo: its error shows when Enhance opens it.
                    val spec = try {
                        app.bundles.peekManifest().tileSpec
                    } catch (error: EnhanceError) {
                        TileSpec()
                    }
                    val limit = app.inputLimit(spec)
                    if (fit == Fit.AS_IS && !limit.allows(photoInfo.width, photoInfo.height)) {
                        EnhanceError.ImageTooLarge(photoInfo.width, photoInfo.height, limit)
                    } else {
                        loader.load(photoInfo, limit, fit)
                    }
                } catch (error: EnhanceError) {
                    error
                } catch (error: OutOfMemoryError) {
                    EnhanceError.ImageUnreadable("the photo (too large to decode)")
                }
            }
            if (isDestroyed) return@launch
            when (outcome) {
                is LoadedPhoto -> {
                    val created = EnhanceSession(outcome, app.bundles, app.accelerators, app.scope, app.modelDispatcher)
                    app.sessions[uri] = created
                    bind(created)
                    if (started) created.attach(listener)
                }
                is EnhanceError.ImageTooLarge -> offerFits(outcome)
                is EnhanceError -> showError(outcome.message)
            }
        }
    }

    private fun offerFits(error: EnhanceError.ImageTooLarge) {
        showError(error.message)
        val (w, h) = error.limit.downscaleToFit(error.width, error.height)
        fitChoices.removeAllViews()
        fitChoices.addView(button("Downscale to ${w}x$h") { load(Fit.DOWNSCALE) }.apply { tag = "downscale" })
        fitChoices.addView(button("Crop centre ${w}x$h") { load(Fit.CROP) }.apply { tag = "crop" })
    }

    private fun bind(target: EnhanceSession) {
        session = target
        val photo = target.photo
        info.text = "${photo.info.name}: ${photo.describe()}"
        message.text = ""
        val state = target.state
        compare.setImages(photo.bitmap, (state as? EnhanceState.Done)?.result, photo.info.rotationDegrees)
        render(state)
    }

    private fun render(state: EnhanceState) {
        val photo = session?.photo ?: return
        when (state) {
            EnhanceState.Idle -> {
                status.text = "Ready: tap Enhance to upscale 4x"
                progress.visibility = View.GONE
                setButtons(enhance = true, cancel = false, save = false)
            }
            is EnhanceState.Running -> {
                val p = state.progress
                progress.visibility = View.VISIBLE
                progress.max = p?.total ?: 1
                progress.progress = p?.done ?: 0
                status.text = when {
                    state.cancelling -> "Cancelling after the current tile..."
                    p == null -> "Preparing the model..."
                    else -> "${state.accelerator?.label ?: ""} tile ${p.done}/${p.total} · ${seconds(p.elapsedNanos)} elapsed" +
                        " · about ${seconds(p.remainingNanos)} left"
                }
                message.text = ""
                setButtons(enhance = false, cancel = !state.cancelling, save = false)
            }
            is EnhanceState.Done -> {
                progress.visibility = View.GONE
                compare.setImages(photo.bitmap, state.result, photo.info.rotationDegrees)
                status.text = "Enhanced on the ${state.accelerator.label} (${state.runner}): " +
                    "${state.result.width}x${state.result.height}, ${state.tiles} tiles in ${seconds(state.totalNanos)}"
                message.text = state.fallbacks.joinToString("\n") { "${it.accelerator.label} not used: ${it.reason}" }
                setButtons(enhance = false, cancel = false, save = true)
            }
            is EnhanceState.Failed -> {
                progress.visibility = View.GONE
                status.text = if (state.cancelled) "Cancelled" else "Enhance failed"
                showError(state.message)
                setButtons(enhance = true, cancel = false, save = false)
            }
        }
    }

    private fun showError(text: String?) {
        message.text = "error: ${text ?: "unknown problem"}"
        Log.w(TAG, message.text.toString())
    }

    private fun setButtons(enhance: Boolean, cancel: Boolean, save: Boolean) {
        this.enhance.isEnabled = enhance
        this.cancel.isEnabled = cancel
        this.save.isEnabled = save
    }

    private fun save() {
        val current = session ?: return
        val done = current.state as? EnhanceState.Done ?: return
        save.isEnabled = false
        message.text = "Saving..."
        val name = GallerySaver.displayName(current.photo.info, done.scale)
        app.scope.launch {
            val outcome: Any = withContext(app.modelDispatcher) {
                try {
                    GallerySaver(contentResolver, cacheDir).save(done.result, current.photo.info, name)
                } catch (error: EnhanceError) {
                    error
                }
            }
            when (outcome) {
                is Uri -> {
                    app.recents.add(Recent(outcome, name))
                    message.text = "Saved to Pictures/${GallerySaver.ALBUM}/$name"
                }
                is EnhanceError -> {
                    showError(outcome.message)
                    save.isEnabled = true
                }
            }
        }
    }

    override fun onDestroy() {
        // A finished or failed session whose screen is closed for good frees its bitmaps.
        if (isFinishing && session?.running != true) app.sessions.remove(uriOrNull())
        super.onDestroy()
    }

    private fun uriOrNull(): Uri? = if (::uri.isInitialized) uri else null

    private companion object {
        const val TAG = "EdgeSR"
    }
}
