"""Latency benchmarks: host, device (adb) and Qualcomm AI Hub."""
