package ai.edgesdsr.core

import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * A bundle is made of regular files: a `manifest.json` that is a link (to anywhere), a FIFO or a
 * folder is refused before it is read, with the toolchain's reason word for word. Links and FIFOs
 * cannot be stored in git: `manifest_kinds.json` (written by tests/test_android_golden.py) lists the
 * cases and the reasons, and each case is built here in a temporary folder as the Python test builds it.
 */
class ManifestKindsTest {
    private val suffix = ", re-export with `toolchain export`"

    /** Turns [folder]'s manifest.json into [kind], as `make_manifest_kind` in the Python test does. */
    private fun make(folder: File, kind: String, linkTo: String?) {
        val manifest = File(folder, MANIFEST_NAME)
        when (kind) {
            "link" -> {
                val real = if (linkTo == "outside") File(folder.parentFile, "elsewhere.json") else File(folder, ".manifest.json")
                assertTrue(manifest.renameTo(real))
                Files.createSymbolicLink(manifest.toPath(), real.toPath())
            }
            "fifo" -> {
                assertTrue(manifest.delete())
                val made = runCatching { ProcessBuilder("mkfifo", manifest.path).start().waitFor() }.getOrDefault(-1)
                assumeTrue(made == 0, "mkfifo is not available here")
            }
            "folder" -> assertTrue(manifest.delete() && manifest.mkdir())
            else -> error("unknown manifest kind $kind in manifest_kinds.json")
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS) // reading a FIFO would block forever
    fun `a manifest that is a link, a FIFO or a folder is refused with the toolchain's reason`(@TempDir tmp: File) {
        val cases = Golden.json("manifest_kinds.json").getValue("cases").jsonArray.map { it.jsonObject }
        assertEquals(setOf("link", "fifo", "folder"), cases.map { it.getValue("manifest").jsonPrimitive.content }.toSet())
        for (case in cases) {
            val name = case.getValue("name").jsonPrimitive.content
            val reason = case.getValue("reason").jsonPrimitive.content
            assertTrue(reason.endsWith(suffix), "$name: $reason")
            val folder = File(tmp, "$name/bundle")
            File(Golden.dir, "bundle").copyRecursively(folder)
            make(folder, case.getValue("manifest").jsonPrimitive.content, case.getValue("link_to").jsonPrimitive.contentOrNull)
            val bundle = DirectoryBundle(folder)
            for ((what, check) in listOf<Pair<String, () -> Unit>>(
                "readManifest" to { BundleVerifier.readManifest(bundle) },
                "verify" to { BundleVerifier.verify(bundle) },
                "verifyOnce" to { BundleVerifier.verifyOnce(bundle, null) },
            )) {
                val error = assertThrows(EnhanceError.ManifestInvalid::class.java, check, "$name: $what")
                assertEquals(reason.removeSuffix(suffix), error.reason, "$name: $what")
            }
        }
    }

    @Test
    fun `a regular manifest is not flagged`() {
        assertEquals(null, DirectoryBundle(File(Golden.dir, "bundle")).irregular(MANIFEST_NAME))
        assertEquals(null, DirectoryBundle(File(Golden.dir, "bundle")).irregular("absent.json"))
    }
}
