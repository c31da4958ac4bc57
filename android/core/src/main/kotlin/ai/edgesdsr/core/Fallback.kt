package ai.edgesdsr.core

/** Where a graph runs, in the words the UI shows. */
enum class Accelerator(val label: String) {
    NPU("NPU"),
    GPU("GPU"),
    CPU("CPU"),
}

/**
 * The runner implementations the app can build; each needs its libraries in the APK. There is no
 * LiteRT NPU runner: a bundle's LiteRT AOT graph (`litert-npu`) is recorded as skipped by
 * [FallbackPolicy.plan] ([FallbackPolicy.NO_LITERT_NPU]).
 */
enum class RunnerKind(val accelerator: Accelerator, val label: String) {
    /** ONNX Runtime QNN EP, HTP backend, on the EPContext graph + context binary. */
    ORT_QNN_HTP(Accelerator.NPU, "ONNX Runtime QNN HTP"),

    /** Classic TFLite interpreter with the GPU delegate on an fp16 .tflite. */
    TFLITE_GPU(Accelerator.GPU, "TFLite GPU delegate"),

    /** ONNX Runtime CPU on a plain or QDQ ONNX graph (optimizations off for QDQ, as on the host). */
    ORT_CPU(Accelerator.CPU, "ONNX Runtime CPU"),

    /** Classic TFLite interpreter on the CPU (XNNPACK). */
    TFLITE_CPU(Accelerator.CPU, "TFLite CPU"),
}

/** The phone, as far as the fallback policy cares: its SoC model (`Build.SOC_MODEL`, API 31+). */
data class DeviceInfo(val socModel: String?, val qnnRuntime: QnnVersion = AppRuntime.qnn)

/** One graph to try with one runner. */
data class Candidate(val kind: RunnerKind, val graph: GraphFile) {
    val accelerator: Accelerator get() = kind.accelerator
}

/** Why an accelerator was skipped or failed ([graph]: the graph concerned, if any). */
data class FallbackAttempt(val accelerator: Accelerator, val reason: String, val graph: String? = null)

/** The runners to try in order, and the accelerators already ruled out (with reasons). */
data class FallbackPlan(val candidates: List<Candidate>, val skipped: List<FallbackAttempt>)

/** The first candidate that opened, plus every earlier failure. */
data class Opened<R>(val runner: R, val candidate: Candidate, val attempts: List<FallbackAttempt>)

/**
 * The accelerator fallback policy: a pure function of the manifest, the device and the
 * runners this build has. The order is data ([DEFAULT_ORDER]); for each accelerator the
 * usable graphs of the bundle become [Candidate]s, everything ruled out is recorded with a
 * reason the app logs and shows ("NPU not used: the bundle's NPU graph is for SM8650 (s24-dsp), this
 * phone's SoC is s5e9945"); the SoCs are the manifest's `npu_soc_models`.
 */
object FallbackPolicy {
    /** NPU first, then GPU, then CPU. */
    val DEFAULT_ORDER: List<Accelerator> = listOf(Accelerator.NPU, Accelerator.GPU, Accelerator.CPU)

    /** Why a bundle's LiteRT AOT graph is never planned: the app has no runner for it. */
    const val NO_LITERT_NPU: String =
        "this app has no LiteRT NPU runner for the LiteRT AOT graph (its NPU runs the ONNX Runtime QNN graph)"

    private fun runnerFor(graph: GraphFile): RunnerKind? = when (graph.runtime) {
        GraphRuntime.ONNXRUNTIME_QNN -> RunnerKind.ORT_QNN_HTP.takeIf { graph.artifact == Artifact.QNN_EPCONTEXT }
        GraphRuntime.LITERT_NPU -> null // no LiteRT NPU runner: see runnerless()
        GraphRuntime.LITERT_GPU -> RunnerKind.TFLITE_GPU.takeIf { graph.artifact == Artifact.LITERT }
        GraphRuntime.ONNXRUNTIME_CPU -> RunnerKind.ORT_CPU.takeIf { graph.artifact == Artifact.ONNX }
        GraphRuntime.LITERT_CPU -> RunnerKind.TFLITE_CPU.takeIf { graph.artifact == Artifact.LITERT }
    }

    /** The accelerator and skip reason of a graph the app has no runner for, or null. */
    private fun runnerless(graph: GraphFile): Pair<Accelerator, String>? =
        if (graph.runtime == GraphRuntime.LITERT_NPU && graph.artifact == Artifact.LITERT_AOT) Accelerator.NPU to NO_LITERT_NPU else null

    /**
     * Plans the fallback chain. [available] are the runners this build can construct (a
     * build without the QNN AARs leaves out [RunnerKind.ORT_QNN_HTP]); [order] is the
     * accelerator order. Within an accelerator, `fallback` graphs come before
     * `host-reference` ones, otherwise manifest order. The NPU is tried only on a phone whose
     * SoC ([DeviceInfo.socModel]) is one of the bundle's [BundleManifest.npuSocModels] (an
     * unknown SoC, before API 31, tries it and lets QNN decide). Each NPU graph is ruled out on its own
     * when the QNN that compiled it ([GraphFile.qnnSdkVersion]) is newer than
     * [DeviceInfo.qnnRuntime] (a context binary does not load on an older QNN runtime). A graph no
     * runner of the app takes (a LiteRT AOT graph) is never a candidate: it is recorded in
     * [FallbackPlan.skipped] with [NO_LITERT_NPU], after that accelerator's candidates' problems.
     */
    fun plan(
        manifest: BundleManifest,
        device: DeviceInfo,
        available: Set<RunnerKind>,
        order: List<Accelerator> = DEFAULT_ORDER,
    ): FallbackPlan {
        val candidates = mutableListOf<Candidate>()
        val skipped = mutableListOf<FallbackAttempt>()
        for (accelerator in order) {
            val graphs = manifest.graphs
                .mapNotNull { g -> runnerFor(g)?.takeIf { it.accelerator == accelerator }?.let { Candidate(it, g) } }
                .sortedBy { if (it.graph.role == GraphRole.HOST_REFERENCE) 1 else 0 }
            // graphs for this accelerator that no runner of the app takes (LiteRT AOT): recorded, never planned
            val runnerless = manifest.graphs.mapNotNull { g ->
                runnerless(g)?.takeIf { it.first == accelerator }?.let { FallbackAttempt(accelerator, it.second, g.file) }
            }
            if (graphs.isEmpty() && runnerless.isEmpty()) {
                skipped += FallbackAttempt(accelerator, noGraphReason(accelerator, manifest))
                continue
            }
            val blocker = if (accelerator == Accelerator.NPU) npuBlocker(manifest, device) else null
            if (blocker != null) {
                skipped += FallbackAttempt(accelerator, blocker)
                continue
            }
            for (c in graphs) {
                val problem = when {
                    c.kind !in available -> "this build has no ${c.kind.label} runtime"
                    // each NPU graph against the phone's QNN runtime, with the QNN that compiled that graph
                    c.accelerator == Accelerator.NPU -> QnnCompatibility.problem(c.graph.qnnSdkVersion, device.qnnRuntime)
                    else -> null
                }
                if (problem == null) candidates += c else skipped += FallbackAttempt(accelerator, problem, c.graph.file)
            }
            skipped += runnerless
        }
        return FallbackPlan(candidates, skipped)
    }

    private fun noGraphReason(accelerator: Accelerator, manifest: BundleManifest): String = when (accelerator) {
        Accelerator.NPU ->
            if (manifest.npuSocModels.isEmpty()) "this bundle has no NPU graph for any phone"
            else "the bundle has no NPU graph"
        Accelerator.GPU -> "the bundle has no GPU graph (an fp16 .tflite for LiteRT GPU)"
        Accelerator.CPU -> "the bundle has no CPU graph"
    }

    /**
     * Why the bundle's NPU graphs cannot run on [device], or null: the SoCs come from the manifest
     * ([BundleManifest.npuSocModels]), never from a table of targets, so a new target keeps its NPU.
     */
    private fun npuBlocker(manifest: BundleManifest, device: DeviceInfo): String? {
        val socs = manifest.npuSocModels
        if (socs.isEmpty()) {
            // NPU graphs but no SoC named (a schema 1.0 bundle, or a broken export): no phone takes them
            val why = if (manifest.schemaVersion.endsWith(".0")) {
                "the bundle (schema ${manifest.schemaVersion}) does not name the phone SoC its NPU graphs were compiled for"
            } else {
                "the bundle has NPU graphs but names no phone SoC for them (npu_soc_models is empty)"
            }
            return "$why; re-export it with `toolchain export`"
        }
        val soc = device.socModel ?: return null // before API 31 the SoC is unknown: try and let QNN decide
        if (socs.none { it.equals(soc, ignoreCase = true) }) {
            return "the bundle's NPU graph is for ${socs.joinToString("/")} (${manifest.target}), this phone's SoC is $soc"
        }
        return null
    }

    /**
     * Opens the first candidate of [plan] that [open] can build, recording every failure
     * (exception message) after [FallbackPlan.skipped]. Throws [EnhanceError.NoAccelerator]
     * when none opens.
     */
    fun <R> openFirst(plan: FallbackPlan, open: (Candidate) -> R): Opened<R> {
        val attempts = plan.skipped.toMutableList()
        for (candidate in plan.candidates) {
            try {
                return Opened(open(candidate), candidate, attempts.toList())
            } catch (error: Exception) {
                val detail = error.message?.lineSequence()?.firstOrNull()?.takeIf { it.isNotBlank() } ?: error.javaClass.simpleName
                attempts += FallbackAttempt(candidate.accelerator, "${candidate.kind.label} failed: $detail", candidate.graph.file)
            }
        }
        throw EnhanceError.NoAccelerator(attempts)
    }
}
