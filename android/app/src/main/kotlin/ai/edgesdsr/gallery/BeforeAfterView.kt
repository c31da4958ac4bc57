package ai.edgesdsr.gallery

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Matrix
import android.graphics.Paint
import android.graphics.RectF
import android.util.TypedValue
import android.view.MotionEvent
import android.view.ScaleGestureDetector
import android.view.View
import kotlin.math.abs
import kotlin.math.max
import kotlin.math.min

/**
 * Before/after comparison: the original photo (upscaled on the fly, bilinear) left of a
 * vertical divider, the enhanced result right of it. Drag the divider's handle to move it;
 * pinch to zoom up to 1:1 on the enhanced pixels (and 2:1 beyond), drag elsewhere to pan. Both bitmaps are stored in sensor
 * orientation; [rotation] (EXIF, degrees clockwise) is applied when drawing.
 */
class BeforeAfterView(context: Context) : View(context) {
    private var before: Bitmap? = null
    private var after: Bitmap? = null
    private var rotation = 0

    /** Divider position in view coordinates, as a fraction of the view's width. */
    var split = 0.5f
        private set

    /** Current zoom relative to "fit to view"; 1 = the whole photo visible. */
    var zoom = 1f
        private set

    private var panX = 0f
    private var panY = 0f
    private var draggingDivider = false
    private var lastX = 0f
    private var lastY = 0f
    private val paint = Paint(Paint.FILTER_BITMAP_FLAG)
    private val divider = Paint().apply {
        color = Color.WHITE
        strokeWidth = 4f * resources.displayMetrics.density
    }
    private val handle = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Color.WHITE }
    private val label = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.WHITE
        textSize = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_SP, 14f, resources.displayMetrics)
        setShadowLayer(3f, 0f, 0f, Color.BLACK)
    }
    private val matrix = Matrix()
    private val scaler = ScaleGestureDetector(
        context,
        object : ScaleGestureDetector.SimpleOnScaleGestureListener() {
            override fun onScale(detector: ScaleGestureDetector): Boolean {
                zoomBy(detector.scaleFactor, detector.focusX, detector.focusY)
                return true
            }
        },
    )

    init {
        setBackgroundColor(Color.BLACK)
        contentDescription = "before and after comparison"
    }

    /** Shows [original] against [enhanced] (any size ratio; normally 1:4), rotated by [degrees]. */
    fun setImages(original: Bitmap, enhanced: Bitmap?, degrees: Int) {
        before = original
        after = enhanced
        rotation = ((degrees % 360) + 360) % 360
        zoom = 1f
        panX = 0f
        panY = 0f
        invalidate()
    }

    /** Moves the divider to [fraction] of the width (0 = all enhanced, 1 = all original). */
    fun setSplit(fraction: Float) {
        split = fraction.coerceIn(0f, 1f)
        invalidate()
    }

    /** Largest zoom: one enhanced pixel per screen pixel, times two for pixel peeping. */
    val maxZoom: Float
        get() {
            val full = after ?: before ?: return 1f
            return max(1f, 2f / fitScale(full))
        }

    /** Multiplies the zoom by [factor] around the view point ([fx], [fy]), clamped to [1, maxZoom]. */
    fun zoomBy(factor: Float, fx: Float, fy: Float) {
        val next = (zoom * factor).coerceIn(1f, maxZoom)
        val applied = next / zoom
        panX = fx - (fx - panX) * applied
        panY = fy - (fy - panY) * applied
        zoom = next
        clampPan()
        invalidate()
    }

    private fun rotatedSize(bitmap: Bitmap): Pair<Float, Float> =
        if (rotation == 90 || rotation == 270) bitmap.height.toFloat() to bitmap.width.toFloat()
        else bitmap.width.toFloat() to bitmap.height.toFloat()

    private fun fitScale(bitmap: Bitmap): Float {
        val (w, h) = rotatedSize(bitmap)
        if (width == 0 || height == 0) return 1f
        return min(width / w, height / h)
    }

    private fun clampPan() {
        val reference = after ?: before ?: return
        val (w, h) = rotatedSize(reference)
        val contentW = w * fitScale(reference) * zoom
        val contentH = h * fitScale(reference) * zoom
        panX = if (contentW <= width) (width - contentW) / 2f else panX.coerceIn(width - contentW, 0f)
        panY = if (contentH <= height) (height - contentH) / 2f else panY.coerceIn(height - contentH, 0f)
    }

    override fun onSizeChanged(w: Int, h: Int, oldw: Int, oldh: Int) {
        clampPan()
    }

    private fun draw(canvas: Canvas, bitmap: Bitmap, reference: Bitmap) {
        val scale = fitScale(reference) * zoom * reference.width / bitmap.width
        val (bw, bh) = rotatedSize(bitmap)
        matrix.reset()
        matrix.postTranslate(-bitmap.width / 2f, -bitmap.height / 2f)
        matrix.postRotate(rotation.toFloat())
        matrix.postTranslate(bw / 2f, bh / 2f)
        matrix.postScale(scale, scale)
        matrix.postTranslate(panX, panY)
        canvas.drawBitmap(bitmap, matrix, paint)
    }

    override fun onDraw(canvas: Canvas) {
        val reference = after ?: before ?: return
        clampPan()
        val x = width * split
        before?.let {
            canvas.save()
            canvas.clipRect(RectF(0f, 0f, if (after == null) width.toFloat() else x, height.toFloat()))
            draw(canvas, it, reference)
            canvas.restore()
        }
        val enhanced = after ?: return
        canvas.save()
        canvas.clipRect(RectF(x, 0f, width.toFloat(), height.toFloat()))
        draw(canvas, enhanced, reference)
        canvas.restore()
        canvas.drawLine(x, 0f, x, height.toFloat(), divider)
        canvas.drawCircle(x, height / 2f, 14f * resources.displayMetrics.density, handle)
        val pad = 8f * resources.displayMetrics.density
        canvas.drawText("before", pad, height - pad, label)
        canvas.drawText("after", width - pad - label.measureText("after"), height - pad, label)
    }

    override fun onTouchEvent(event: MotionEvent): Boolean {
        scaler.onTouchEvent(event)
        when (event.actionMasked) {
            MotionEvent.ACTION_DOWN -> {
                draggingDivider = after != null && abs(event.x - width * split) < 32f * resources.displayMetrics.density
                lastX = event.x
                lastY = event.y
                parent?.requestDisallowInterceptTouchEvent(true)
            }
            MotionEvent.ACTION_MOVE -> {
                if (draggingDivider) {
                    setSplit(event.x / max(1, width))
                } else if (!scaler.isInProgress && event.pointerCount == 1) {
                    panX += event.x - lastX
                    panY += event.y - lastY
                    clampPan()
                    invalidate()
                }
                lastX = event.x
                lastY = event.y
            }
            MotionEvent.ACTION_UP, MotionEvent.ACTION_CANCEL -> draggingDivider = false
        }
        return true
    }
}
