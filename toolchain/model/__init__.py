"""Edge-SD-SR networks: LR encoder, UNet, HR encoder and decoder (no schedule math).

``DEFAULT_CHECKPOINT`` is the embedded nano checkpoint (:mod:`toolchain.model.edge_sdsr` reads and
writes the format); it is defined here, where importing it loads no torch, so the CLI shows it as
a default before torch loads.
"""

from pathlib import Path

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "nano"
