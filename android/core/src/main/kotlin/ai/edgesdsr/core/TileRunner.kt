package ai.edgesdsr.core

/**
 * Runs the bundle's graph on one LR tile. Implementations: `ai.edgesdsr.ort.OrtTileRunner`
 * (ONNX Runtime: QNN HTP on the NPU, CPU), the app's TFLite runners (GPU delegate, CPU),
 * and fakes in tests.
 *
 * I/O contract (the graph's own dtype, layout and value range are the runner's business,
 * taken from the manifest):
 * - [run]'s `input` holds one tile as NHWC float32, shape `[1, tile, tile, 3]` row-major
 *   (`(y * tile + x) * 3 + channel`, RGB), values in [0, 1];
 * - `output` receives NHWC float32 `[1, tile*scale, tile*scale, 3]`, real values around
 *   [0, 1], NOT clipped (the engine rounds them like the toolchain).
 *
 * A runner owns native resources (sessions, delegates): allocate them once in the
 * constructor, reuse buffers across [run] calls and free everything in [close]. A runner
 * is used from one thread at a time.
 */
interface TileRunner : AutoCloseable {
    /** Where the graph runs. */
    val accelerator: Accelerator

    /** What runs, for logs and the UI ("ONNX Runtime QNN HTP, graphs/x_ctx.onnx"). */
    val description: String

    /** LR tile side the graph takes. */
    val tile: Int

    /** Upscaling factor of the graph. */
    val scale: Int

    /** Upscales one tile: `input` (`tile*tile*3` floats) -> `output` (`(tile*scale)^2 * 3` floats). */
    fun run(input: FloatArray, output: FloatArray)
}
