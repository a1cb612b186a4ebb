"""The score functions: image-quality metrics as used in the super-resolution literature
(MATLAB protocol).

The numbers in SR papers (SRCNN, VDSR, EDSR, SRGAN, ...) come from MATLAB scripts: PSNR and
SSIM on the luma channel of ``rgb2ycbcr`` (BT.601, Y in [16, 235]), with ``scale`` pixels
removed from every border, and SSIM from Wang et al.'s ``ssim_index`` (11x11 Gaussian window,
sigma 1.5, 'valid' filtering). These functions reproduce that protocol; ``protocol()`` names
it for results files. All functions are pure and take numpy arrays in RGB channel order.
metrics/table.py lists every metric (name, function, direction, switch, ...): what
evaluation, validation, the results and best-checkpoint selection read.

Perceptual quality without a reference or a download: ``niqe`` (Mittal et al. 2013, the
MATLAB release's algorithm and pristine model; metrics/naturalness.py) and ``periodic_artifacts``
(the grid that pixel-shuffle upsampling can leave; metrics/artifacts.py), both on the same
luma as PSNR. MS-SSIM (metrics/multiscale.py) is SSIM at five scales. LPIPS (``lpips``, its
network from ``models.lpips.load_lpips``) needs Paddle, imported on first use so this package
stays numpy-only for the data pipeline.

Reference check (tests/metrics/test_metrics.py): MATLAB-bicubic x4 on Set5 scores 28.4290 dB /
0.81114 (published: 28.42 dB / 0.8104).
"""

import math
import os

import numpy as np

from ..data.colour import rgb_to_gray, rgb_to_y

__all__ = ["psnr", "ssim", "niqe", "niqe_fits", "min_scored_side", "periodic_artifacts",
           "remove_border", "protocol", "lpips", "lpips_protocol",
           "UndefinedScore"]


class UndefinedScore(ValueError):
    """A no-reference score has no value for this image (a flat image has no local statistics
    for NIQE and no spectrum for the artifact score): callers leave the score out, as for
    images too small for it, rather than report a number the formula does not define."""

# Wang et al. (2004) SSIM constants, as in their ssim_index.m and BasicSR's _ssim.
_SSIM_L = 255.0
_SSIM_C1 = (0.01 * _SSIM_L) ** 2
_SSIM_C2 = (0.03 * _SSIM_L) ** 2
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5


def _gaussian_1d(size, sigma):
    """float64 [size], sums to 1. Its outer product with itself is MATLAB's
    ``fspecial('gaussian', size, sigma)`` (the 2-D Gaussian is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


_SSIM_WINDOW = _gaussian_1d(_SSIM_SIZE, _SSIM_SIGMA)


def remove_border(img, crop_border):
    """Remove ``crop_border`` pixels from each of the four borders (the protocol's border).

    Args:
        img: [H, W] or [H, W, C] array, any dtype.
        crop_border: int >= 0, with 2 crop_border < H and 2 crop_border < W.

    Returns:
        View of ``img``, [H - 2 crop_border, W - 2 crop_border, ...].
    """
    if int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop border must be an integer >= 0, got {crop_border!r}")
    n = int(crop_border)
    h, w = img.shape[:2]
    if 2 * n >= min(h, w):
        raise ValueError(f"crop border {n} leaves nothing of a {h}x{w} image")
    return img[n:h - n, n:w - n] if n else img


def _check_dtype(img):
    """TypeError unless `img` holds uint8 or float values (taken to be in [0, 255])."""
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"images must be uint8 or float in [0, 255], got dtype {img.dtype}")


def _prepare(img1, img2, crop_border, y_channel):
    """Validate a pair of images and bring them to the space the metric is computed in.

    Gray inputs ([H, W] or [H, W, 1]) are taken to be luma already and are not converted,
    whatever ``y_channel`` says: rgb_to_y of R = G = B = v would map v to 16 + 219 v / 255
    and shift PSNR by 20 log10(255 / 219) = 1.32 dB, which no gray benchmark does.

    Returns:
        Two float64 [h, w, c] arrays (c = 1 for Y or gray, else C).
    """
    img1, img2 = np.asarray(img1), np.asarray(img2)
    if img1.shape != img2.shape:
        raise ValueError(f"image shapes differ: {img1.shape} vs {img2.shape}")
    for img in (img1, img2):
        _check_dtype(img)
    if img1.ndim == 2:
        img1, img2 = img1[..., None], img2[..., None]
    elif img1.ndim != 3:
        raise ValueError(f"images must be [H, W] or [H, W, C], got shape {img1.shape}")

    img1, img2 = remove_border(img1, crop_border), remove_border(img2, crop_border)
    channels = img1.shape[2]
    if y_channel and channels == 3:
        return rgb_to_y(img1)[..., None], rgb_to_y(img2)[..., None]
    if y_channel and channels != 1:
        raise ValueError(f"y_channel=True needs RGB or gray images, got {channels} channels")
    return img1.astype(np.float64), img2.astype(np.float64)


def psnr(img1, img2, crop_border=0, y_channel=True, max_value=255.0):
    """Peak signal-to-noise ratio, 10 log10(max_value^2 / MSE), in dB.

    Args:
        img1, img2: same shape, [H, W] or [H, W, C], RGB order, uint8 or float in
            [0, max_value].
        crop_border: pixels removed from each border before scoring (SR papers: the scale).
        y_channel: score the BT.601 luma (rgb_to_y) of RGB inputs; False scores all channels
            with one MSE over pixels and channels. Gray inputs are scored as they are.
        max_value: peak signal value, 255 for [0, 255] data (1.0 for float [0, 1] data: the
            Y offset cancels in the difference, so Y-PSNR is range-independent).

    Returns:
        float, ``inf`` for identical images.
    """
    img1, img2 = _prepare(img1, img2, crop_border, y_channel)
    mse = np.mean((img1 - img2) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * math.log10(max_value ** 2 / mse))


def _filter_valid(img):
    """Separable Gaussian filtering, 'valid' region only (MATLAB ``filter2(w, img, 'valid')``).

    Args:
        img: float64 [h, w], h and w >= the window size.

    Returns:
        float64 [h - 10, w - 10] for the 11-tap window.
    """
    k = len(_SSIM_WINDOW)
    h, w = img.shape
    rows = sum(g * img[i:h - k + 1 + i] for i, g in enumerate(_SSIM_WINDOW))
    return sum(g * rows[:, i:w - k + 1 + i] for i, g in enumerate(_SSIM_WINDOW))


def _ssim_map_mean(img1, img2):
    """Mean SSIM of two float64 [h, w] images in [0, 255] (Wang et al. 2004)."""
    mu1, mu2 = _filter_valid(img1), _filter_valid(img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(img1 * img1) - mu1_sq
    sigma2_sq = _filter_valid(img2 * img2) - mu2_sq
    sigma12 = _filter_valid(img1 * img2) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + _SSIM_C1) * (2 * sigma12 + _SSIM_C2)
                / ((mu1_sq + mu2_sq + _SSIM_C1) * (sigma1_sq + sigma2_sq + _SSIM_C2)))
    return ssim_map.mean()


def ssim(img1, img2, crop_border=0, y_channel=True):
    """Structural similarity, MATLAB ``ssim_index`` style.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, statistics over the
    'valid' region only (no padding: the map is 10 pixels smaller than the cropped image in
    each dimension), mean of the map; for several channels, the mean over channels.

    Args:
        img1, img2: same shape, [H, W] or [H, W, C], RGB order, uint8 or float in [0, 255].
        crop_border: pixels removed from each border before scoring (SR papers: the scale).
        y_channel: score the BT.601 luma of RGB inputs; gray inputs are scored as they are.

    Returns:
        float in [-1, 1], 1.0 for identical images.
    """
    img1, img2 = _prepare(img1, img2, crop_border, y_channel)
    if min(img1.shape[:2]) < _SSIM_SIZE:
        raise ValueError(f"ssim needs at least {_SSIM_SIZE}x{_SSIM_SIZE} pixels after "
                         f"cropping, got {img1.shape[0]}x{img1.shape[1]}")
    return float(np.mean([_ssim_map_mean(img1[..., c], img2[..., c])
                          for c in range(img1.shape[2])]))


def _luma(img, crop_border, gray):
    """The plane that no-reference metrics score: BT.601 Y of RGB (rgb_to_gray with `gray`,
    for RGB outputs of a gray source), or a gray image's own values; border cropped.

    Args:
        img: [H, W, 3] RGB or [H, W] / [H, W, 1] gray, uint8 or float in [0, 255].
    Returns:
        float64 [H - 2 crop_border, W - 2 crop_border].
    """
    img = np.asarray(img)
    _check_dtype(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 3:
        img = rgb_to_gray(img) if gray else rgb_to_y(img)
    elif img.ndim != 2:
        raise ValueError(f"images must be [H, W], [H, W, 1] or [H, W, 3], got shape {img.shape}")
    return remove_border(img, crop_border).astype(np.float64)


def niqe(img, crop_border=0, gray=False):
    """NIQE (Mittal et al. 2013), the MATLAB release: lower is more natural.

    Computed on the luma of the image as PSNR is (BT.601 Y; a gray image on its own values),
    border cropped and rounded to integers as MATLAB's uint8 luma is; 96x96 blocks.

    Args:
        img: [H, W, 3] RGB or [H, W] / [H, W, 1] gray, uint8 or float in [0, 255]; at least
            two 96x96 blocks after the crop (e.g. 200x104).
        crop_border: pixels removed from each border first (SR papers: the scale).
        gray: the RGB image is the output for a gray source: score rgb_to_gray, not Y.
    Returns:
        float >= 0 (HR photographs about 3-5, bicubic x4 upsamplings 7-8).
    Raises:
        UndefinedScore: fewer than two of the blocks have texture (a flat image).
    """
    from .naturalness import niqe_of_luma
    return niqe_of_luma(np.round(_luma(img, crop_border, gray)))


def min_scored_side(crop_border=0):
    """The smallest image side PSNR and SSIM can score after removing `crop_border` pixels
    from each border: SSIM's 11x11 window must fit in what is left."""
    return 2 * crop_border + _SSIM_SIZE


def niqe_fits(shape, crop_border=0):
    """Whether an image of `shape` ([H, W, ...]) holds the two 96x96 blocks NIQE needs after
    removing `crop_border` pixels from each border."""
    from .naturalness import BLOCK
    h, w = (max(s - 2 * crop_border, 0) for s in shape[:2])
    return (h // BLOCK) * (w // BLOCK) >= 2


def periodic_artifacts(img, crop_border=0, gray=False, period=4):
    """Spectral peaks at multiples of 1/period cycles per pixel, in dB (metrics/artifacts.py):
    a few dB for natural images, 10 and more for a visible pixel-shuffle grid.

    Args:
        img, crop_border, gray: as for ``niqe``.
        period: 4 for x4 networks built of two x2 pixel shuffles.
    Raises:
        UndefinedScore: the luma is flat (no spectrum to find peaks in).
    """
    from .artifacts import periodic_artifact_score
    return periodic_artifact_score(_luma(img, crop_border, gray), period)


GRAY_PROTOCOL = ("gray HR images (single-channel files) are scored on their own values, "
                 "not rgb2ycbcr; the SR output on the same scale, rgb_to_gray = "
                 "0.299 R + 0.587 G + 0.114 B")


def protocol(crop_border, y_channel=True, lr_from="matlab-bicubic"):
    """How the metrics scored on every image pair (metrics.table: full-reference, luma, no
    switch: psnr, ssim) were computed, to store next to the numbers in results files.

    Args:
        crop_border: the border passed to the metrics (SR papers: the scale factor).
        y_channel: as passed to them.
        lr_from: how the LR inputs were made ("matlab-bicubic" = data.imresize, exact mode).

    Returns:
        JSON-serialisable dict.
    """
    from .table import METRICS
    return {
        "y_channel": bool(y_channel),
        "y": "matlab-rgb2ycbcr-bt601-float" if y_channel else None,
        "gray_images": GRAY_PROTOCOL if y_channel else None,
        "crop_border": int(crop_border),
        **{k: v for m in METRICS if m.reference and m.channels == "luma" and m.switch is None
           for k, v in m.tags(crop_border).items()},
        "lr_from": lr_from,
    }


def lpips(img1, img2, net, crop_border=0):
    """LPIPS distance (Zhang et al. 2018), as the authors' ``lpips.LPIPS()(im2tensor(a),
    im2tensor(b))``: inputs mapped to [-1, 1] by x / 127.5 - 1.

    Args:
        img1, img2: same shape [H, W, 3], RGB, uint8 or float in [0, 255] (not [0, 1]).
        net: network from ``models.lpips.load_lpips``.
        crop_border: pixels removed from each border first (as for psnr/ssim).

    Returns:
        float >= 0 (0.0 for identical images); lower is more similar.
    """
    if isinstance(net, (str, os.PathLike)):
        raise TypeError(f"lpips needs the network from models.lpips.load_lpips({str(net)!r}), "
                        f"not a path")
    if np.ndim(img1) != 3 or np.shape(img1)[2] != 3:
        raise ValueError(f"lpips needs [H, W, 3] RGB images, got shape {np.shape(img1)}")
    img1, img2 = _prepare(img1, img2, crop_border, y_channel=False)
    for img in (img1, img2):
        if not (img.min() >= 0 and img.max() <= 255):
            raise ValueError(f"lpips needs images in [0, 255], got values in "
                             f"[{img.min()}, {img.max()}]")
    if min(img1.shape[:2]) < net.min_size:
        raise ValueError(f"LPIPS-{net.backbone} needs at least {net.min_size}x{net.min_size} "
                         f"pixels after cropping, got {img1.shape[0]}x{img1.shape[1]}")
    from ..compat import import_paddle
    paddle = import_paddle()

    def to_input(img):  # [H, W, 3] [0, 255] -> float32 [1, 3, H, W] in [-1, 1]
        x = img / 127.5 - 1.0
        return paddle.to_tensor(np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32))

    with paddle.no_grad():
        return float(net(to_input(img1), to_input(img2))[0])


def lpips_protocol(net, crop_border):
    """How lpips was computed, to store next to the numbers in results files."""
    return {"lpips": f"v0.1-{net.backbone}", "lpips_input": "rgb/127.5-1",
            "lpips_crop_border": int(crop_border)}
