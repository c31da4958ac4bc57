"""Edge-SD-SR toolchain: one-step Stable-Diffusion 4x super-resolution from training to the phone."""

__version__ = "0.1.0"
