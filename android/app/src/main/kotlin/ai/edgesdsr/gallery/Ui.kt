package ai.edgesdsr.gallery

import android.content.Context
import android.util.TypedValue
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView

/** Small builders for views made in code (the app uses framework widgets only). */
internal fun Context.dp(value: Int): Int =
    TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), resources.displayMetrics).toInt()

internal fun Context.column(vararg children: View): LinearLayout = LinearLayout(this).apply {
    orientation = LinearLayout.VERTICAL
    setPadding(dp(12), dp(12), dp(12), dp(12))
    children.forEach { addView(it) }
}

internal fun Context.row(vararg children: View): LinearLayout = LinearLayout(this).apply {
    orientation = LinearLayout.HORIZONTAL
    children.forEach { addView(it, LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f)) }
}

internal fun Context.text(size: Float = 15f, initial: CharSequence = ""): TextView = TextView(this).apply {
    textSize = size
    text = initial
    setPadding(0, dp(4), 0, dp(4))
}

internal fun Context.button(label: String, onClick: () -> Unit): Button = Button(this).apply {
    text = label
    isAllCaps = false
    setOnClickListener { onClick() }
}

/** "12.3 s" / "2 min 5 s" from nanoseconds. */
internal fun seconds(nanos: Long): String {
    val s = nanos / 1e9
    return if (s < 60) "%.1f s".format(s) else "${(s / 60).toInt()} min ${(s % 60).toInt()} s"
}
