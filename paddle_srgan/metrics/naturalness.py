"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE SPL 2013).

A no-reference score: how far an image's local statistics are from those of pristine natural
photographs; lower is more natural (HR photos score about 3-5, bicubic x4 upsamplings 7-8).
This follows the authors' MATLAB release (niqe_release.zip, `computequality.m`) step by step:

    image -> luma of the 8-bit image, border cropped, rounded
          -> cut to whole 96x96 blocks (no overlap)
          -> for scale 1 and 1/2 (MATLAB bicubic half size, antialiased):
               MSCN coefficients (I - mu) / (sigma + 1), mu and sigma from a 7x7 Gaussian
               per block: 18 features: an AGGD fit of the coefficients (shape, mean scale)
               and of their products with the 4 neighbours (shape, mean, left and right scale)
          -> a multivariate Gaussian over the blocks' 36 features
          -> distance to the pristine model: sqrt((mu_p - mu)^T pinv((C_p + C) / 2) (mu_p - mu))

The pristine model (mean 1x36, covariance 36x36 and the 7x7 window) is data: the authors'
parameters as shipped in `niqe_pris_params.npz` (see NOTICE.md beside this file). Checked
against BasicSR 1.4.2's implementation in tests/metrics/test_niqe.py (agreement within 1e-3; BasicSR
reports MATLAB R2021a's 5.7296 on Set14's baboon and 5.7296 for itself).

numpy + OpenCV only; about 10-40 ms per 256x256 crop on one CPU core.
"""
import functools
import math
import os

import cv2
import numpy as np

from ..data.imresize import imresize
from .scores import UndefinedScore

BLOCK = 96  # block side of the MATLAB release's pristine model
_PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "niqe_pris_params.npz")
# the AGGD shape is looked up on this grid, as in the MATLAB release (estimateaggdparam.m)
_SHAPES = np.arange(0.2, 10.001, 0.001)
# neighbours whose products with each coefficient are fitted: right, down, two diagonals
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.lru_cache(maxsize=1)
def pristine_model():
    """(mu [36], cov [36, 36], window [7, 7]) float64: the authors' pristine MVG model."""
    with np.load(_PARAMS) as params:
        return (params["mu_pris_param"].ravel(), params["cov_pris_param"],
                params["gaussian_window"])


@functools.lru_cache(maxsize=1)
def _shape_ratios():
    """Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) on the shape grid: the generalised Gaussian's
    (E|x|)^2 / E[x^2] as a function of its shape a."""
    gamma = np.vectorize(math.gamma)
    return gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))


def aggd_fit(x):
    """Asymmetric generalised Gaussian fit by moment matching (Lasmar et al. 2009).

    Args:
        x: float64 array of coefficients, any shape.
    Returns:
        (shape, left scale, right scale). A side without samples (a flat block) gives NaN
        scales and the first shape of the grid, as MATLAB's `min` over all-NaN differences
        does; such blocks count in the features' mean but not in their covariance.
    """
    x = x.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        left = math.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else math.nan
        right = math.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else math.nan
        g = left / right
        r = np.mean(np.abs(x)) ** 2 / np.mean(x ** 2)
        r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    shape = float(_SHAPES[0] if math.isnan(r_norm)
                  else _SHAPES[np.argmin((_shape_ratios() - r_norm) ** 2)])
    k = math.sqrt(math.gamma(1 / shape) / math.gamma(3 / shape))
    return shape, left * k, right * k


def block_features(block):
    """The 18 NIQE features of one block of MSCN coefficients (float64 [b, b])."""
    shape, left, right = aggd_fit(block)
    features = [shape, (left + right) / 2]
    for shift in _SHIFTS:
        # neighbours wrap around inside the block, as MATLAB's circshift does
        shape, left, right = aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        mean = (right - left) * math.gamma(2 / shape) / math.gamma(1 / shape)
        features += [shape, mean, left, right]
    return features


def mscn(img, window):
    """Mean-subtracted contrast-normalised coefficients (I - mu) / (sigma + 1), mu and sigma
    local Gaussian-weighted statistics with replicated borders (MATLAB imfilter 'replicate').

    Args:
        img: float64 [H, W] in [0, 255].
    """
    def smooth(a):  # the window is symmetric: correlation = convolution
        return cv2.filter2D(a, cv2.CV_64F, window, borderType=cv2.BORDER_REPLICATE)
    mu = smooth(img)
    sigma = np.sqrt(np.abs(smooth(img * img) - mu * mu))
    return (img - mu) / (sigma + 1)


def niqe_of_luma(luma):
    """NIQE of a luma image already border-cropped and rounded.

    Args:
        luma: float64 [H, W] in [0, 255], at least 2 blocks of 96x96.
    Returns:
        float >= 0, lower is more natural.
    Raises:
        UndefinedScore: fewer than two blocks have texture on both sides of their mean (a
            flat block has no MSCN statistics, so the blocks' covariance does not exist; the
            MATLAB release's nancov gives NaN there and its pinv fails).
    """
    mu_p, cov_p, window = pristine_model()
    rows, cols = luma.shape[0] // BLOCK, luma.shape[1] // BLOCK
    if rows * cols < 2:
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks after the border "
                         f"crop, got a {luma.shape[0]}x{luma.shape[1]} image")
    img = luma[:rows * BLOCK, :cols * BLOCK]
    per_scale = []
    for step in (1, 2):
        coeffs, b = mscn(img, window), BLOCK // step
        per_scale.append([block_features(coeffs[i * b:(i + 1) * b, j * b:(j + 1) * b])
                          for i in range(rows) for j in range(cols)])
        if step == 1:
            img = imresize(img / 255.0, scale=0.5) * 255.0
    features = np.concatenate([np.asarray(f, np.float64) for f in per_scale], axis=1)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise UndefinedScore(f"NIQE needs at least two 96x96 blocks with texture, got "
                             f"{len(complete)} of {len(features)} (a flat image)")
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = mu_p - mu
    return float(math.sqrt(diff @ np.linalg.pinv((cov_p + cov) / 2) @ diff))
