package ai.edgesdsr.gallery

import ai.edgesdsr.core.SaveProblem
import ai.edgesdsr.core.TileSpec
import android.app.Activity
import android.app.ActivityManager
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Canvas
import android.media.ExifInterface
import android.net.Uri
import android.os.Looper
import android.provider.MediaStore
import android.view.View
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.io.File

/**
 * The real Activities on Robolectric (API 35, native graphics), with the default bundle from
 * the app's assets and ONNX Runtime for the JVM running its float `fallback` graph on the
 * host CPU (the NPU and the TFLite runners are unavailable on the JVM: the fallback chain
 * says so and lands on ONNX Runtime CPU, as on a phone without the QNN libraries).
 *
 * The photo is the repository's 224x150 sample (4 tiles of the bundle's 128px plan) saved as
 * a JPEG with a capture date: upright (EXIF orientation 1) in the test that renders the README
 * screenshots, with EXIF orientation 6 (shown rotated 90 degrees) in the one that checks saving
 * keeps the orientation; saving is checked to keep both tags.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w360dp-h640dp-mdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class GalleryUiTest {
    private lateinit var app: GalleryApp
    private val repo = File(System.getProperty("edgesdsr.repo") ?: ".")
    private val screenshots = System.getProperty("edgesdsr.screenshots")?.let(::File)
    private val controllers = mutableListOf<ActivityController<*>>()

    @Before
    fun setUp() {
        app = org.robolectric.RuntimeEnvironment.getApplication() as GalleryApp
        shadowOf(app.getSystemService(ActivityManager::class.java)).setMemoryClass(512)
    }

    @After
    fun tearDown() {
        app.sessions.values.forEach { it.cancel() }
        waitUntil("runs to stop", 60_000) { app.sessions.values.none { it.running } }
        controllers.forEach { it.pause().stop().destroy() }
        app.accelerators.closeRunners() // the runner Enhance keeps for the process (nothing runs now)
    }

    /** Pick -> Enhance (progress) -> result -> compare -> Save (orientation and date kept) -> recent; renders the README screenshots. */
    @Test
    fun pickEnhanceCompareSave() {
        val gallery = launch(Robolectric.buildActivity(GalleryActivity::class.java))
        waitUntil("bundle line") { gallery.text("bundle").startsWith("Bundle: nano s24-dsp") }
        gallery.click("pick")
        val request = shadowOf(gallery).nextStartedActivityForResult
        assertEquals(MediaStore.ACTION_PICK_IMAGES, request.intent.action)
        val photoUri = samplePhoto(ExifInterface.ORIENTATION_NORMAL) // upright: the screenshots show the photo as taken
        shadowOf(gallery).receiveResult(request.intent, Activity.RESULT_OK, Intent().setData(photoUri))
        val opened = shadowOf(gallery).nextStartedActivity
        assertEquals(PhotoActivity::class.java.name, opened.component?.className)

        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, opened))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        assertEquals("sample.jpg: 224x150", photo.text("info"))
        photo.click("enhance")
        waitUntil("first tile") { photo.text("status").contains("tile 1/4") }
        assertTrue(photo.text("status"), photo.text("status").matches(Regex("CPU tile 1/4 · .* elapsed · about .* left")))
        assertTrue(photo.find<Button>("cancel").isEnabled)
        screenshot(photo, "photo-progress")
        waitUntil("result") { photo.text("status").startsWith("Enhanced") }
        // the CPU step runs the bundle's float fallback graph, not its (slower) quantized host references
        assertTrue(photo.text("status"), photo.text("status").contains("on the CPU (ONNX Runtime CPU, graphs/edge-sd-sr-nano-fp32.onnx"))
        assertTrue(photo.text("status"), photo.text("status").contains("896x600, 4 tiles"))
        assertTrue(photo.text("message"), photo.text("message").contains("NPU not used:"))
        assertTrue("the verification is recorded", File(app.filesDir, "verified-bundles.json").isFile)

        val done = app.sessions.getValue(photoUri).state as EnhanceState.Done
        assertEquals(896, done.result.width)
        assertEquals(600, done.result.height)
        val compare = photo.find<BeforeAfterView>("compare")
        compare.setSplit(0.35f)
        compare.zoomBy(100f, compare.width / 2f, compare.height / 2f)
        assertEquals(compare.maxZoom, compare.zoom, 1e-3f)
        compare.zoomBy(0f, 0f, 0f)
        assertEquals(1f, compare.zoom, 1e-6f)
        screenshot(photo, "photo-compare")

        val media = Robolectric.setupContentProvider(FakeMediaStore::class.java, MediaStore.AUTHORITY)
        photo.click("save")
        waitUntil("saved") { photo.text("message") == "Saved to Pictures/Enhanced/sample_x4.jpg" }
        val values = media.inserted.single()
        assertEquals(0, media.updated.single().getAsInteger(MediaStore.MediaColumns.IS_PENDING))
        assertEquals("Pictures/Enhanced", values.getAsString(MediaStore.MediaColumns.RELATIVE_PATH))
        assertEquals("sample_x4.jpg", values.getAsString(MediaStore.MediaColumns.DISPLAY_NAME))
        assertEquals(0, values.getAsInteger(MediaStore.Images.ImageColumns.ORIENTATION))
        assertEquals(GallerySaver.takenMillis(CAPTURE_DATE), values.getAsLong(MediaStore.Images.ImageColumns.DATE_TAKEN))
        val jpeg = media.files.values.single()
        assertTrue("saved ${jpeg.length()} bytes", jpeg.length() > 10_000)
        val exif = ExifInterface(jpeg.path)
        assertEquals(ExifInterface.ORIENTATION_NORMAL, exif.getAttributeInt(ExifInterface.TAG_ORIENTATION, 0))
        assertEquals(CAPTURE_DATE, exif.getAttribute(ExifInterface.TAG_DATETIME_ORIGINAL))
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeFile(jpeg.path, bounds)
        assertEquals(896 to 600, bounds.outWidth to bounds.outHeight)
        assertEquals(listOf("sample_x4.jpg"), app.recents.list().map { it.name })
        photo.finish()

        val back = launch(Robolectric.buildActivity(GalleryActivity::class.java))
        waitUntil("bundle line") { back.text("bundle").startsWith("Bundle:") }
        assertEquals(1, back.find<LinearLayout>("recents").childCount)
        waitUntil("thumbnail decoded off the main thread") { back.find<ImageView>("thumb").drawable != null }
        screenshot(back, "gallery")
    }

    /**
     * A photo with EXIF orientation 6 (rotate 90): shown rotated, enhanced in sensor orientation,
     * saved with the same orientation tag (file and MediaStore) and capture date.
     */
    @Test
    fun savingKeepsTheExifRotation() {
        val photoUri = samplePhoto()
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(photoUri)))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        assertEquals("sample.jpg: 224x150", photo.text("info"))
        assertEquals(90, app.sessions.getValue(photoUri).photo.info.rotationDegrees)
        photo.click("enhance")
        waitUntil("result") { photo.text("status").startsWith("Enhanced") }
        val media = Robolectric.setupContentProvider(FakeMediaStore::class.java, MediaStore.AUTHORITY)
        photo.click("save")
        waitUntil("saved") { photo.text("message") == "Saved to Pictures/Enhanced/sample_x4.jpg" }
        val values = media.inserted.single()
        assertEquals(90, values.getAsInteger(MediaStore.Images.ImageColumns.ORIENTATION))
        assertEquals(GallerySaver.takenMillis(CAPTURE_DATE), values.getAsLong(MediaStore.Images.ImageColumns.DATE_TAKEN))
        val jpeg = media.files.values.single()
        val exif = ExifInterface(jpeg.path)
        assertEquals(ExifInterface.ORIENTATION_ROTATE_90, exif.getAttributeInt(ExifInterface.TAG_ORIENTATION, 0))
        assertEquals(CAPTURE_DATE, exif.getAttribute(ExifInterface.TAG_DATETIME_ORIGINAL))
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeFile(jpeg.path, bounds)
        assertEquals("pixels stay in sensor orientation", 896 to 600, bounds.outWidth to bounds.outHeight)
    }

    /** Rotation recreates the screen: the process-held session keeps the result, nothing reruns. */
    @Test
    fun rotationKeepsTheResult() {
        val controller = Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(samplePhoto()))
        val photo = launch(controller)
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        photo.click("enhance")
        waitUntil("result") { photo.text("status").startsWith("Enhanced") }
        val result = (app.sessions.values.single().state as EnhanceState.Done).result
        controller.recreate()
        val again = controller.get()
        assertTrue(again !== photo)
        assertTrue(again.text("status"), again.text("status").startsWith("Enhanced on the CPU"))
        assertTrue(again.find<Button>("save").isEnabled)
        assertTrue((app.sessions.values.single().state as EnhanceState.Done).result === result)
    }

    /** Cancel stops the run before the next tile, says so, and Enhance is offered again. */
    @Test
    fun cancelStopsWithinOneTile() {
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(samplePhoto())))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        photo.click("enhance")
        waitUntil("first tile") { photo.text("status").contains("tile 1/4") }
        photo.click("cancel")
        waitUntil("cancelled") { photo.text("status") == "Cancelled" }
        val message = photo.text("message")
        val done = Regex("error: cancelled after (\\d) of 4 tiles").matchEntire(message)?.groupValues?.get(1)?.toInt()
        assertNotNull(message, done)
        assertTrue(message, done!! in 1..2)
        assertTrue(photo.find<Button>("enhance").isEnabled)
        assertFalse(photo.find<Button>("save").isEnabled)
    }

    /** A pushed bundle replaces the built-in one; a modified file in it is refused by sha256, no crash. */
    @Test
    fun tamperedBundleIsRefused() {
        val source = File(repo, "exports/nano-s24-dsp-a16w8")
        val pushed = File(app.getExternalFilesDir("bundles"), "nano-tampered")
        source.copyRecursively(pushed)
        File(pushed, "report.md").delete()
        val graph = pushed.walkTopDown().first { it.name.endsWith("_ctx.onnx") }
        graph.writeBytes(graph.readBytes().also { it[it.size / 2] = (it[it.size / 2] + 1).toByte() })

        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(samplePhoto())))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        photo.click("enhance")
        waitUntil("failure") { photo.text("status") == "Enhance failed" }
        val message = photo.text("message")
        assertTrue(message, message.startsWith("error: bundle file graphs/") && message.contains("_ctx.onnx has sha256"))
        assertTrue(message, message.endsWith("the bundle was modified or corrupted, push it again"))
        screenshot(photo, "photo-tampered-bundle")
    }

    /** A photo over the memory limit is explained and offered as downscale or crop; both fit afterwards. */
    @Test
    fun largePhotoOffersDownscaleAndCrop() {
        val limit = app.inputLimit(TileSpec())
        val side = Math.sqrt(limit.maxPixels.toDouble()).toInt()
        val (bigW, bigH) = side * 4 / 3 + 8 to side + 8
        assertFalse(limit.allows(bigW, bigH))
        val big = photoFile("big.jpg", bigW, bigH)
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(big)))
        waitUntil("limit explained") { photo.text("message").startsWith("error: the photo is ${bigW}x$bigH") }
        assertTrue(photo.text("message"), photo.text("message").contains("crop a region or downscale it"))
        val downscale = photo.find<Button>("downscale")
        val size = Regex("Downscale to (\\d+)x(\\d+)").matchEntire(downscale.text)!!.groupValues
        val (w, h) = size[1].toInt() to size[2].toInt()
        assertTrue("${w}x$h", limit.allows(w, h) && w < bigW && h < bigH)
        photo.click("downscale")
        waitUntil("downscaled") { photo.text("info").endsWith("(downscaled from ${bigW}x$bigH)") }
        assertEquals("big.jpg: ${w}x$h (downscaled from ${bigW}x$bigH)", photo.text("info"))
        assertTrue(photo.find<Button>("enhance").isEnabled)
        app.sessions.clear()
        val cropped = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(big)))
        waitUntil("limit explained") { cropped.text("message").startsWith("error: the photo is") }
        cropped.click("crop")
        waitUntil("cropped") { cropped.text("info") == "big.jpg: ${w}x$h (centre crop of ${bigW}x$bigH)" }
    }

    /** A file that is not an image gets a one-line message; nothing crashes. */
    @Test
    fun corruptImageIsExplained() {
        val junk = File(app.cacheDir, "broken.jpg").apply { writeBytes(ByteArray(2048) { (it * 31).toByte() }) }
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(Uri.fromFile(junk))))
        waitUntil("message") { photo.text("message").startsWith("error:") }
        assertEquals("error: broken.jpg could not be read as an image; pick a JPEG, PNG or WebP photo", photo.text("message"))
        assertFalse(photo.find<Button>("enhance").isEnabled)
    }

    /** Storage full while writing to MediaStore: the message says so and Save stays available. */
    @Test
    fun storageFullOnSaveIsExplained() {
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(samplePhoto())))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        photo.click("enhance")
        waitUntil("result") { photo.text("status").startsWith("Enhanced") }
        val media = Robolectric.setupContentProvider(FakeMediaStore::class.java, MediaStore.AUTHORITY)
        media.target = File("/dev/full")
        photo.click("save")
        waitUntil("save failure") { photo.text("message").startsWith("error:") }
        assertTrue(photo.text("message"), photo.text("message").startsWith("error: ${SaveProblem.STORAGE_FULL.message}"))
        assertTrue(photo.find<Button>("save").isEnabled)
        assertTrue("the pending entry is removed", media.files.isEmpty())
    }

    /** MediaStore refusing the write: the message says to allow photo access, no crash. */
    @Test
    fun permissionDeniedOnSaveIsExplained() {
        val photo = launch(Robolectric.buildActivity(PhotoActivity::class.java, photoIntent(samplePhoto())))
        waitUntil("photo loaded") { photo.find<Button>("enhance").isEnabled }
        photo.click("enhance")
        waitUntil("result") { photo.text("status").startsWith("Enhanced") }
        Robolectric.setupContentProvider(FakeMediaStore::class.java, MediaStore.AUTHORITY).refuse = true
        photo.click("save")
        waitUntil("save failure") { photo.text("message").startsWith("error:") }
        assertTrue(photo.text("message"), photo.text("message").startsWith("error: ${SaveProblem.PERMISSION_DENIED.message}"))
    }

    private fun <A : Activity> launch(controller: ActivityController<A>): A {
        controllers += controller
        return controller.setup().get()
    }

    private fun photoIntent(uri: Uri) = Intent(app, PhotoActivity::class.java).setData(uri)

    /**
     * The repository's sample as a JPEG with a capture date and EXIF [orientation]: by default 6
     * (rotate 90, the EXIF rotation case); [ExifInterface.ORIENTATION_NORMAL] for an upright photo.
     */
    private fun samplePhoto(orientation: Int = ExifInterface.ORIENTATION_ROTATE_90): Uri {
        val bitmap = BitmapFactory.decodeFile(File(repo, "models/samples/sample.png").path)
        return Uri.fromFile(writeJpeg("sample.jpg", bitmap, orientation))
    }

    private fun photoFile(name: String, width: Int, height: Int): Uri {
        val bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
        Canvas(bitmap).drawColor(0xFF336699.toInt())
        return Uri.fromFile(writeJpeg(name, bitmap))
    }

    private fun writeJpeg(name: String, bitmap: Bitmap, orientation: Int = ExifInterface.ORIENTATION_ROTATE_90): File {
        val file = File(app.cacheDir, name)
        file.outputStream().use { assertTrue(bitmap.compress(Bitmap.CompressFormat.JPEG, 95, it)) }
        ExifInterface(file.path).apply {
            setAttribute(ExifInterface.TAG_ORIENTATION, orientation.toString())
            setAttribute(ExifInterface.TAG_DATETIME_ORIGINAL, CAPTURE_DATE)
            saveAttributes()
        }
        return file
    }

    /** Runs the main looper until [condition] holds (the model thread posts its results there). */
    private fun waitUntil(what: String, timeoutMs: Long = 180_000, condition: () -> Boolean) {
        val end = System.currentTimeMillis() + timeoutMs
        while (true) {
            shadowOf(Looper.getMainLooper()).idle()
            if (condition()) return
            check(System.currentTimeMillis() < end) { "timed out after $timeoutMs ms waiting for $what; screen: ${screenText()}" }
            Thread.sleep(10)
        }
    }

    /** Status and message lines of the open photo screens (for timeout messages). */
    private fun screenText(): String = controllers.map { it.get() }.filterIsInstance<PhotoActivity>()
        .joinToString(" | ") { "status='${it.text("status")}' message='${it.text("message")}'" }

    private fun Activity.click(tag: String) {
        val button = find<Button>(tag)
        assertTrue("$tag is disabled", button.isEnabled)
        button.performClick()
        shadowOf(Looper.getMainLooper()).idle()
    }

    private fun Activity.text(tag: String): String = find<TextView>(tag).text.toString()

    @Suppress("UNCHECKED_CAST")
    private fun <V : View> Activity.find(tag: String): V =
        window.decorView.findViewWithTag<View>(tag) as V? ?: throw AssertionError("no view tagged $tag")

    /** Renders the whole window (native graphics) to <screenshots>/<name>.png. */
    private fun screenshot(activity: Activity, name: String) {
        val dir = screenshots ?: return
        val view = activity.window.decorView
        val bitmap = Bitmap.createBitmap(view.width, view.height, Bitmap.Config.ARGB_8888)
        view.draw(Canvas(bitmap))
        File(dir, "$name.png").outputStream().use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
    }

    private companion object {
        const val CAPTURE_DATE = "2026:11:28 14:30:05"
    }
}
