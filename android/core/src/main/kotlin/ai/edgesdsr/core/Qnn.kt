package ai.edgesdsr.core

/**
 * A QNN SDK version `major.minor.patch` (the manifest records e.g. `v2.49.40.260812120000` or
 * `2.50.40`: a leading `v` and a trailing build stamp are ignored). A QNN context binary only
 * loads on a QNN runtime at least as new as the QNN that compiled it.
 */
data class QnnVersion(val major: Int, val minor: Int, val patch: Int) : Comparable<QnnVersion> {
    override fun compareTo(other: QnnVersion): Int =
        compareValuesBy(this, other, QnnVersion::major, QnnVersion::minor, QnnVersion::patch)

    override fun toString(): String = "$major.$minor.$patch"

    companion object {
        private val RE = Regex("^v?(\\d+)\\.(\\d+)(?:\\.(\\d+))?(?:\\.\\d+)?$")

        /**
         * Parses `2.50`, `2.49.40`, `v2.49.40.260812120000`; null if it is not a version (the
         * grammar of toolchain `qnn_pairing.parse_qnn_version`).
         */
        fun parse(text: String): QnnVersion? = RE.matchEntire(text.trim())?.let {
            QnnVersion(it.groupValues[1].toInt(), it.groupValues[2].toInt(), it.groupValues[3].ifEmpty { "0" }.toInt())
        }
    }
}

/** Versions of the native runtimes this app ships (pinned in android/gradle/libs.versions.toml). */
object AppRuntime {
    /**
     * QNN SDK version of the QNN runtime AAR in the APK (`com.qualcomm.qti:qnn-runtime`): `qnnSdk`
     * in the version catalog (a JUnit test checks they agree; toolchain `qnn_pairing.APP_QNN_RUNTIME`
     * too). See the catalog for where the number comes from.
     */
    const val QNN_SDK_VERSION = "2.50.0"

    /** [QNN_SDK_VERSION] parsed. */
    val qnn: QnnVersion = QnnVersion.parse(QNN_SDK_VERSION)!!
}

/** The QNN pairing check between the QNN that compiled an NPU graph and the app's runtime. */
object QnnCompatibility {
    /**
     * Null when an NPU graph whose context binary was compiled with [graphVersion] (the graph's
     * `qnn_sdk_version` in the manifest, [GraphFile.qnnSdkVersion]) can load on [runtime];
     * otherwise the one-line reason, naming both versions.
     */
    fun problem(graphVersion: String?, runtime: QnnVersion = AppRuntime.qnn): String? {
        if (graphVersion == null) return "the bundle does not record the QNN version that compiled this NPU graph; re-export it"
        val compiler = QnnVersion.parse(graphVersion)
            ?: return "the NPU graph's QNN version '$graphVersion' is not a version number; re-export it"
        if (runtime >= compiler) return null
        return "the NPU graph was compiled with QNN $compiler but this app's QNN runtime is $runtime; " +
            "re-export the bundle with QNN <= $runtime or update the app"
    }
}
