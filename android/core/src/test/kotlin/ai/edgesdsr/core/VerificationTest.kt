package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.io.InputStream

/** Verify once, reuse: a bundle folder is hashed once, then only stat-ed until something changes. */
class VerificationTest {
    /** Counts the files hashed (the expensive part a verification record saves). */
    private class CountingHasher : (InputStream) -> Pair<Long, String> {
        var calls = 0

        override fun invoke(stream: InputStream): Pair<Long, String> {
            calls++
            return BundleVerifier.sha256(stream)
        }
    }

    private fun bundle(dir: File): DirectoryBundle {
        File(Golden.dir, "bundle").copyRecursively(dir)
        return DirectoryBundle(dir)
    }

    private val graph = "graphs/nearest.onnx"

    @Test
    fun `the first use hashes every file, an unchanged bundle is not hashed again`(@TempDir dir: File) {
        val source = bundle(dir)
        val hasher = CountingHasher()
        val first = BundleVerifier.verifyOnce(source, null, hasher)
        assertTrue(first.rehashed)
        assertEquals("not verified before", first.reason)
        assertEquals(first.manifest.files.size, hasher.calls)
        assertEquals(BundleVerifier.sha256Hex(File(dir, MANIFEST_NAME).readBytes()), first.record.manifestSha256)
        assertEquals(first.manifest.files.map { it.file }.toSet(), first.record.stamps.keys)
        assertEquals(FileStamp(354, File(dir, graph).lastModified()), first.record.stamps[graph])

        repeat(3) {
            val again = BundleVerifier.verifyOnce(source, first.record, hasher)
            assertFalse(again.rehashed)
            assertNull(again.reason)
            assertTrue(again.record === first.record)
            assertEquals(first.manifest, again.manifest)
        }
        assertEquals(first.manifest.files.size, hasher.calls, "nothing hashed after the first verification")
    }

    @Test
    fun `a tampered file with the same size but a new mtime is re-verified and refused`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        val file = File(dir, graph)
        val bytes = file.readBytes()
        bytes[bytes.size / 2] = (bytes[bytes.size / 2] + 1).toByte()
        file.writeBytes(bytes)
        assertTrue(file.setLastModified(record.stamps.getValue(graph).modifiedMillis + 2_000))
        assertEquals(record.stamps.getValue(graph).sizeBytes, file.length(), "same size")

        val decision = VerificationRecords.decide(record, record.manifestSha256, BundleVerifier.readManifest(source), source::stamp)
        assertTrue(decision is VerifyDecision.Reverify && decision.reason.startsWith("$graph was modified"), decision.toString())
        val hasher = CountingHasher()
        val error = assertThrows(EnhanceError.BundleTampered::class.java) { BundleVerifier.verifyOnce(source, record, hasher) }
        assertEquals(graph, error.file)
        assertTrue(error.problem.startsWith("has sha256 "), error.problem)
        assertTrue(hasher.calls >= 1, "re-verified by hashing")
    }

    @Test
    fun `a file touched without a change is hashed once more, accepted, and recorded with its new mtime`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        val touched = record.stamps.getValue(graph).modifiedMillis + 60_000
        assertTrue(File(dir, graph).setLastModified(touched))
        val hasher = CountingHasher()
        val again = BundleVerifier.verifyOnce(source, record, hasher)
        assertTrue(again.rehashed)
        assertTrue(again.reason!!.startsWith("$graph was modified"), again.reason)
        assertEquals(again.manifest.files.size, hasher.calls)
        assertEquals(touched, again.record.stamps.getValue(graph).modifiedMillis)
        assertFalse(BundleVerifier.verifyOnce(source, again.record, hasher).rehashed)
        assertEquals(again.manifest.files.size, hasher.calls)
    }

    @Test
    fun `a size change or a missing file re-verifies and refuses`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        val file = File(dir, graph)
        file.appendBytes(byteArrayOf(0))
        val grown = assertThrows(EnhanceError.BundleTampered::class.java) { BundleVerifier.verifyOnce(source, record) }
        assertEquals("has 355 bytes, the manifest says 354", grown.problem)
        assertTrue(file.delete())
        val reason = VerificationRecords.decide(record, record.manifestSha256, BundleVerifier.readManifest(source), source::stamp)
        assertEquals(VerifyDecision.Reverify("$graph is missing"), reason)
        val missing = assertThrows(EnhanceError.BundleTampered::class.java) { BundleVerifier.verifyOnce(source, record) }
        assertEquals(graph, missing.file)
        assertEquals("is missing", missing.problem)
    }

    @Test
    fun `another manifest (a new push) is verified again, whatever the stamps say`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        File(dir, MANIFEST_NAME).appendText("\n")
        val hasher = CountingHasher()
        val again = BundleVerifier.verifyOnce(source, record, hasher)
        assertTrue(again.rehashed)
        assertEquals("$MANIFEST_NAME changed", again.reason)
        assertTrue(again.record.manifestSha256 != record.manifestSha256)
        assertEquals(again.manifest.files.size, hasher.calls)
    }

    @Test
    fun `an unlisted file is refused even while the record holds`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        File(dir, "graphs/extra.onnx").writeText("x")
        val hasher = CountingHasher()
        val error = assertThrows(EnhanceError.BundleTampered::class.java) { BundleVerifier.verifyOnce(source, record, hasher) }
        assertEquals("graphs/extra.onnx", error.file)
        assertEquals("is not listed in manifest.json", error.problem)
        assertEquals(0, hasher.calls)
    }

    @Test
    fun `a record that lists other files is not trusted`(@TempDir dir: File) {
        val source = bundle(dir)
        val record = BundleVerifier.verifyOnce(source, null).record
        val manifest = BundleVerifier.readManifest(source)
        val fewer = record.copy(stamps = record.stamps - graph)
        assertEquals(
            VerifyDecision.Reverify("the record lists other files than manifest.json"),
            VerificationRecords.decide(fewer, record.manifestSha256, manifest, source::stamp),
        )
        assertEquals(VerifyDecision.Reuse, VerificationRecords.decide(record, record.manifestSha256, manifest, source::stamp))
        assertEquals(VerifyDecision.Reverify("not verified before"), VerificationRecords.decide(null, record.manifestSha256, manifest, source::stamp))
    }

    @Test
    fun `records round-trip through their JSON file, and a file that cannot be read trusts nothing`(@TempDir dir: File) {
        val record = BundleVerifier.verifyOnce(bundle(dir), null).record
        val other = VerificationRecord("ab".repeat(32), mapOf("graphs/a.onnx" to FileStamp(0, 1_700_000_000_123)))
        val records = mapOf("/data/user/0/ai.edgesdsr.gallery/files/bundles/nano" to record, "/sdcard/pushed" to other)
        val text = VerificationRecords.encode(records)
        assertEquals(records, VerificationRecords.decode(text))
        assertEquals(emptyMap<String, VerificationRecord>(), VerificationRecords.decode(""))
        assertEquals(emptyMap<String, VerificationRecord>(), VerificationRecords.decode("{\"version\": 1, \"bundles\": "))
        assertEquals(emptyMap<String, VerificationRecord>(), VerificationRecords.decode(text.replace("\"version\":1", "\"version\":2")))
        val broken = text.replace("\"modified_ms\":1700000000123", "\"modified_ms\":\"soon\"")
        assertEquals(mapOf("/data/user/0/ai.edgesdsr.gallery/files/bundles/nano" to record), VerificationRecords.decode(broken))
    }

    @Test
    fun `verify still hashes everything every time`(@TempDir dir: File) {
        val source = bundle(dir)
        val hasher = CountingHasher()
        repeat(2) { BundleVerifier.verify(source, hasher) }
        assertEquals(2 * BundleVerifier.readManifest(source).files.size, hasher.calls)
    }
}
