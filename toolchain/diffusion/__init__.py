"""Noise schedule, forward process and the one-step sampler (no network code here)."""
