"""An exponential moving average of a stage's weights (the ``ema_decay`` stage switch).

Real-ESRGAN and the diffusion trainers ship the EMA of the weights, not the last iterate: it
averages out the optimizer's step-to-step noise, strongest in an adversarial stage. The average
is torch's :class:`~torch.optim.swa_utils.AveragedModel`. A stage with EMA saves the average as
its checkpoint (what the next stage starts from, what is validated and what ships) and keeps the
raw weights in its training state, so ``--resume`` continues both exactly.
"""

from __future__ import annotations

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from toolchain.model.edge_sdsr import EdgeSDSR


class WeightEMA:
    """The EMA of ``raw``, the model being trained; call :meth:`update` after each optimizer step.

    It starts as a copy of ``raw``. On resume ``raw`` is built from the saved average, so the copy
    is that average, and :meth:`load_state_dict` puts the raw weights back into ``raw``.
    """

    def __init__(self, raw: EdgeSDSR, decay: float) -> None:
        self.raw = raw
        self._averaged = AveragedModel(raw, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self._averaged.module.requires_grad_(False)

    @property
    def averaged(self) -> EdgeSDSR:
        return self._averaged.module

    def update(self) -> None:
        self._averaged.update_parameters(self.raw)

    def state_dict(self) -> dict:
        return {"raw_weights": self.raw.state_dict(), "n_averaged": int(self._averaged.n_averaged)}

    def load_state_dict(self, state: dict) -> None:
        self.raw.load_state_dict(state["raw_weights"])
        self._averaged.n_averaged.fill_(state["n_averaged"])
