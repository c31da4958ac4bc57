"""The names of the LR degradations a user picks (``toolchain degrade --kind`` / ``--probe``, a
recipe's degradation kind), apart from the torch code that applies them
(:mod:`toolchain.data.degradations`, :mod:`toolchain.data.probes`): this module imports no torch,
so the CLI builds these options before torch loads.
"""

from __future__ import annotations

import enum

PROBE_SCALE = 4


class DegradationKind(enum.StrEnum):
    """How LR training inputs are made from HR crops."""

    REALESRGAN = "realesrgan"  # two random stages + final step (degradations.py's module docstring)
    BICUBIC = "bicubic"  # antialiased bicubic downscale only (datasets.downscale_bicubic)


class Probe(enum.StrEnum):
    """One fixed LR degradation of held-out HR crops (x4; :func:`toolchain.data.probes.probe_lr`)."""

    SENSOR = "sensor"  # area (box) downscale: a sensor's pixel integration, sharper than bicubic's
    CAMERA_NOISE = "camera-noise"  # bicubic, Gaussian noise sigma 4/255 (colour), JPEG quality 80
    REGISTRATION = "registration"  # bicubic of the HR moved by (1, 1) HR px (edges replicated)

    @property
    def scale(self) -> int:
        return PROBE_SCALE
