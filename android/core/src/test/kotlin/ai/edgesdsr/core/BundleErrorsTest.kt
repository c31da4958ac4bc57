package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

class BundleErrorsTest {
    @Test
    fun `a folder without manifest is a missing bundle`(@TempDir dir: File) {
        val error = assertThrows(EnhanceError.BundleMissing::class.java) { BundleVerifier.verify(DirectoryBundle(dir)) }
        assertEquals("no bundle at $dir (manifest.json missing); push a bundle written by `toolchain export`", error.message)
    }

    @Test
    fun `broken JSON and a missing schema version are one-line manifest errors`() {
        val broken = assertThrows(EnhanceError.ManifestInvalid::class.java) { BundleManifest.parse("{\"schema_version\": ") }
        assertTrue(broken.reason.startsWith("manifest.json is not valid JSON"), broken.reason)
        assertTrue('\n' !in broken.message!!)
        val noVersion = assertThrows(EnhanceError.ManifestInvalid::class.java) { BundleManifest.parse("[1, 2]") }
        assertEquals("no valid schema_version (got none, expected 'major.minor')", noVersion.reason)
    }

    @Test
    fun `a newer minor version with known keys is read`() {
        val text = File(Golden.dir, "bundle/$MANIFEST_NAME").readText().replace("\"schema_version\": \"1.0\"", "\"schema_version\": \"1.7\"")
        assertEquals("1.7", BundleManifest.parse(text).schemaVersion)
    }
}
