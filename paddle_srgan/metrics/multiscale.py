"""MS-SSIM (Wang, Simoncelli and Bovik 2003), as their msssim.m: SSIM's contrast-structure
term at five scales and its full SSIM at the coarsest, combined with the published weights.

Every scale uses SSIM's own window and constants (metrics.ssim: 11x11 Gaussian, sigma 1.5,
'valid' filtering, L = 255); between scales the images are halved by 2x2 averaging, as
msssim.m's ``imfilter(img, ones(2)/4, 'symmetric')`` followed by ``img(1:2:end, 1:2:end)``.
"""
import numpy as np

# the SSIM helpers of the package: MS-SSIM is SSIM's terms at several scales
from .scores import _SSIM_C1, _SSIM_C2, _SSIM_SIZE, _filter_valid, _prepare

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # the paper's exponents, finest first


def _halve(img):
    """float64 [h, w] -> [ceil(h / 2), ceil(w / 2)]: means of 2x2 blocks; an odd last row or
    column is averaged with itself (MATLAB's 'symmetric' padding repeats it)."""
    img = np.pad(img, ((0, img.shape[0] % 2), (0, img.shape[1] % 2)), mode="edge")
    return (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2]) / 4


def _smallest_side(side):
    """The side of the coarsest scale for an image side of `side` pixels."""
    for _ in WEIGHTS[1:]:
        side = -(-side // 2)
    return side


def msssim_fits(shape, crop_border=0):
    """Whether an image of `shape` ([H, W, ...]) keeps SSIM's 11x11 window at the coarsest of
    the five scales after removing `crop_border` pixels from each border (at least 161x161)."""
    return all(_smallest_side(s - 2 * crop_border) >= _SSIM_SIZE for s in shape[:2])


def _msssim_plane(img1, img2):
    """MS-SSIM of two float64 [h, w] planes in [0, 255]."""
    terms = []
    for level in range(len(WEIGHTS)):
        mu1, mu2 = _filter_valid(img1), _filter_valid(img2)
        sigma1_sq = _filter_valid(img1 * img1) - mu1 * mu1
        sigma2_sq = _filter_valid(img2 * img2) - mu2 * mu2
        sigma12 = _filter_valid(img1 * img2) - mu1 * mu2
        cs = (2 * sigma12 + _SSIM_C2) / (sigma1_sq + sigma2_sq + _SSIM_C2)
        if level == len(WEIGHTS) - 1:  # luminance only at the coarsest scale
            cs = cs * (2 * mu1 * mu2 + _SSIM_C1) / (mu1 * mu1 + mu2 * mu2 + _SSIM_C1)
        terms.append(cs.mean())
        img1, img2 = _halve(img1), _halve(img2)
    # an anti-correlated scale (negative term) counts as 0, as pytorch_msssim's relu does:
    # a negative base has no real fractional power
    return float(np.prod([max(t, 0.0) ** w for t, w in zip(terms, WEIGHTS)]))


def msssim(img1, img2, crop_border=0, y_channel=True):
    """Multi-scale SSIM (Wang et al. 2003), msssim.m's algorithm on the protocol of ``ssim``.

    Args:
        img1, img2: same shape, [H, W] or [H, W, C], RGB order, uint8 or float in [0, 255].
        crop_border: pixels removed from each border before scoring (SR papers: the scale).
        y_channel: score the BT.601 luma of RGB inputs; gray inputs are scored as they are.

    Returns:
        float in [0, 1], 1.0 for identical images; for several channels the mean over them.
    Raises:
        ValueError: fewer than 161x161 pixels after the crop (``msssim_fits``).
    """
    img1, img2 = _prepare(img1, img2, crop_border, y_channel)
    if not msssim_fits(img1.shape):
        raise ValueError(f"ms-ssim needs at least 161x161 pixels after cropping, got "
                         f"{img1.shape[0]}x{img1.shape[1]}")
    return float(np.mean([_msssim_plane(img1[..., c], img2[..., c])
                          for c in range(img1.shape[2])]))
