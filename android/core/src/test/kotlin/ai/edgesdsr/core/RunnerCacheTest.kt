package ai.edgesdsr.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The process's kept runners: opened once per bundle verification, closed on eviction and memory pressure. */
class RunnerCacheTest {
    private class FakeRunner(override val description: String) : TileRunner {
        override val accelerator = Accelerator.CPU
        override val tile = 16
        override val scale = 4
        var closed = 0

        override fun run(input: FloatArray, output: FloatArray) = Unit

        override fun close() {
            closed++
        }
    }

    private val graph = BundleVerifier.readManifest(DirectoryBundle(java.io.File(Golden.dir, "bundle"))).graphs[2]
    private val record = VerificationRecord("00".repeat(32), mapOf(graph.file to FileStamp(354, 1)))
    private val key = RunnerKey("/bundles/nano", record)
    private var opens = 0

    private fun opener(name: String): () -> Opened<FakeRunner> = {
        opens++
        Opened(FakeRunner(name), Candidate(RunnerKind.ORT_CPU, graph), emptyList())
    }

    @Test
    fun `a runner is opened once per key and kept`() {
        val cache = RunnerCache<FakeRunner>()
        val first = cache.acquire(key, opener("a"))
        val again = cache.acquire(key.copy(), opener("b"))
        assertSame(first, again)
        assertEquals(1, opens)
        assertEquals(0, first.runner.closed)
        assertEquals(1, cache.size)
    }

    @Test
    fun `a re-verified bundle (new stamps) closes the old runner before opening a new one`() {
        val cache = RunnerCache<FakeRunner>()
        val old = cache.acquire(key, opener("old")).runner
        val touched = key.copy(verification = record.copy(stamps = mapOf(graph.file to FileStamp(354, 2))))
        val fresh = cache.acquire(touched) {
            assertEquals(1, old.closed, "closed before the new one opens")
            opener("new")()
        }.runner
        assertEquals("new", fresh.description)
        assertEquals(1, cache.size)
        assertEquals(2, opens)
    }

    @Test
    fun `evict and closeAll close the runners once, a failed open keeps nothing`() {
        val cache = RunnerCache<FakeRunner>(capacity = 2)
        val a = cache.acquire(key, opener("a")).runner
        val b = cache.acquire(key.copy(bundle = "/sdcard/pushed"), opener("b")).runner
        assertEquals(2, cache.size)
        assertTrue(cache.evict(key))
        assertFalse(cache.evict(key))
        assertEquals(1, a.closed)
        assertEquals(1, cache.closeAll())
        assertEquals(1, b.closed)
        assertEquals(0, cache.closeAll())
        assertThrows(EnhanceError.NoAccelerator::class.java) {
            cache.acquire(key) { throw EnhanceError.NoAccelerator(emptyList()) }
        }
        assertEquals(0, cache.size)
        assertEquals("c", cache.acquire(key, opener("c")).runner.description)
    }
}
