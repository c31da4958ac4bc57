"""Export, quantization, NPU compilation and bundles for phones."""
