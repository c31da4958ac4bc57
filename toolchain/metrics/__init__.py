"""Image-quality metrics: full-reference fidelity (PSNR/SSIM on Y) and no-reference NIQE."""
