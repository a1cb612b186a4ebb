"""Image-quality metrics as used in the super-resolution literature.

table.py: the metrics table, one entry a metric (name, function, direction, switch, ...),
read by evaluation, validation, the results files and best-checkpoint selection; it imports
nothing, so the config reads it without numpy. scores.py: PSNR / SSIM (MATLAB protocol), the
NIQE / grid / LPIPS entry points and the protocol tags; naturalness.py (NIQE), artifacts.py
(the pixel-shuffle grid), multiscale.py (MS-SSIM). This file imports nothing on purpose.
"""
