package ai.edgesdsr.core

/**
 * Which kept runner an entry of [RunnerCache] is: the bundle folder ([bundle], its path) as one
 * verification saw it ([verification]: a bundle hashed again, because a file changed, opens a
 * fresh runner).
 */
data class RunnerKey(val bundle: String, val verification: VerificationRecord)

/**
 * The runners a process keeps open between runs, so the second Enhance of a bundle neither
 * reopens the graph nor (on the NPU) reloads the QNN context: [acquire] opens through the
 * fallback chain once per key and returns the same [Opened] runner afterwards. At most [capacity]
 * entries stay open; a new key closes the oldest ones *before* it opens its own (two NPU contexts
 * of one model never coexist). [evict] drops one (a runner that failed mid-run), [closeAll] every
 * one (memory pressure). A runner is used by one thread at a time: the app calls all of these on
 * its single model thread, so nothing is closed while a tile runs; the methods are synchronized
 * besides.
 */
class RunnerCache<R : TileRunner>(private val capacity: Int = 1) {
    init {
        require(capacity >= 1) { "capacity must be >= 1, got $capacity" }
    }

    private val entries = LinkedHashMap<RunnerKey, Opened<R>>()

    /** Open runners now. */
    val size: Int
        @Synchronized get() = entries.size

    /** The runner kept for [key], or the one [open] builds (kept if it returns; a failure is not kept). */
    @Synchronized
    fun acquire(key: RunnerKey, open: () -> Opened<R>): Opened<R> {
        entries[key]?.let { return it }
        while (entries.size >= capacity) {
            val oldest = entries.keys.first()
            entries.remove(oldest)?.let { close(it) }
        }
        val opened = open()
        entries[key] = opened
        return opened
    }

    /** Closes and forgets the runner of [key]; false if none was kept. */
    @Synchronized
    fun evict(key: RunnerKey): Boolean {
        val opened = entries.remove(key) ?: return false
        close(opened)
        return true
    }

    /** Closes and forgets every kept runner; returns how many. */
    @Synchronized
    fun closeAll(): Int {
        val all = entries.values.toList()
        entries.clear()
        all.forEach { close(it) }
        return all.size
    }

    /** Closes a forgotten runner; a runtime that fails to free it has nothing left to retry. */
    private fun close(opened: Opened<R>) {
        try {
            opened.runner.close()
        } catch (ignored: Exception) {
            // already out of the cache: the next acquire opens a fresh runner either way
        }
    }
}
