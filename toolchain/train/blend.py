"""Network interpolation: a checkpoint between a fidelity model and its adversarial fine-tune.

ESRGAN's answer to the perception-distortion trade-off: rather than retraining at many GAN
weights, interpolate every weight linearly between the L1-trained model (``alpha`` = 0) and its
adversarially fine-tuned copy (``alpha`` = 1). ESRGAN found intermediate ``alpha`` to keep
fewer artifacts than retraining at a lower GAN weight; here its use is that one adversarial run
gives the whole curve, so the operating point is chosen on held-out validation after training
(benchmarks/blend_sweep.py; what it bought the nano default is in benchmarks/ablations.md).
"""

from __future__ import annotations

from pathlib import Path

import torch

from toolchain.errors import ToolchainError
from toolchain.model.edge_sdsr import EdgeSDSR


def blend_models(start: EdgeSDSR, tuned: EdgeSDSR, alpha: float) -> EdgeSDSR:
    """A new model whose floating-point weights are ``(1 - alpha) * start + alpha * tuned``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"blend alpha must be in [0, 1], got {alpha}")
    if start.config != tuned.config:
        raise ToolchainError(
            "cannot blend checkpoints of different architectures or latent scaling; "
            "blend a stage's output with the checkpoint it started from"
        )
    tuned_state = tuned.state_dict()
    blended = {
        name: torch.lerp(value, tuned_state[name], alpha) if value.is_floating_point() else tuned_state[name]
        for name, value in start.state_dict().items()
    }
    model = EdgeSDSR(tuned.config)
    model.load_state_dict_strict(blended, "blend")
    return model


def blend_checkpoints(start: Path, tuned: Path, alpha: float, out: Path) -> Path:
    """Write ``blend_models`` of two checkpoint folders to ``out`` (atomically); returns ``out``."""
    model = blend_models(EdgeSDSR.from_pretrained(start), EdgeSDSR.from_pretrained(tuned), alpha)
    model.save_pretrained(out, extra={"blend": {"start": str(start), "tuned": str(tuned), "alpha": alpha}})
    return out
