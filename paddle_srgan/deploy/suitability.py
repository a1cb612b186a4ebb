"""Whether a photo suits a model: a generator trained for clean bicubic LR (metadata.CLEAN)
sharpens the 8x8 blocks a JPEG left in a photo into wormy contours and streaks (docs/results.md:
a JPEG-50 photo through the clean demo ends below bicubic), while the presets for
real-world degradations (configs/realworld.yml, configs/demo_realworld.yml) learn to remove
them. tools/infer.py and the page say so in one line (`advice`). No Paddle here.

JPEG blocking, found two ways (`jpeg_blocking`):

* a JPEG file: its quality, from the luminance quantisation table in its header (Pillow's
  `im.quantization`, nothing decoded). libjpeg's table at quality q is its standard table
  (ITU-T T.81 Annex K) times 5000 / q percent below q = 50 and (200 - 2 q) percent above,
  so the ratio of the tables' sums gives the percentage and q; cameras' own tables land near
  the quality they resemble. Quality <= JPEG_QUALITY_LIMIT counts as blocky.
* any other file (a JPEG saved again as PNG, a decoded frame): `blockiness` of its pixels,
  the mean luma step across JPEG's block boundaries (between columns 7|8, 15|16, ... and the
  same rows) over the median step at the seven other offsets, the smaller of the two axes.
  Clean photos measure about 1.0 (skimage's astronaut, camera, coffee, chelsea: 0.98-1.03;
  rocket, itself decoded from a JPEG, 1.07); the same photos saved at JPEG quality 50 measure
  1.29-1.45, at 30 1.44-1.69, at 90 1.02-1.07 (tests/deploy/test_suitability.py). The
  grid is the one a JPEG encoder starts at the image's top-left corner: a photo cropped
  after its compression is not found this way.

Noise is not judged: the median absolute Laplacian (a robust noise estimate) of skimage's
clean `grass` equals that of the other photos with Gaussian noise of sigma 10 added, so any
threshold would either miss noise or flag textured photos.
"""
import warnings

import numpy as np

from ..data.colour import rgb_to_gray
from .metadata import CLEAN

JPEG_QUALITY_LIMIT = 80  # and below: blocks a x4 model magnifies (web photos: 75-85)
BLOCKINESS_LIMIT = 1.2   # and above: an 8-pixel grid (clean photos ~1.0, JPEG q50 >= 1.29)
BLOCK = 8  # JPEG's block side in pixels
# libjpeg's luminance table at quality 50 (ITU-T T.81 Annex K.1), in any order: only its
# sum is used
STANDARD_LUMINANCE_SUM = sum([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
REALWORLD_PRESETS = "configs/realworld.yml (CPU demo: configs/demo_realworld.yml)"


def jpeg_quality(path):
    """The estimated quality (1-100) of the JPEG file at `path`, from its luminance
    quantisation table; None when the file is no JPEG (or Pillow cannot read its header)."""
    from PIL import Image
    try:
        with warnings.catch_warnings():  # a huge image's size warning: only the header is read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                tables = getattr(im, "quantization", None) if im.format == "JPEG" else None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if not tables:
        return None
    luminance = tables[min(tables)]
    percent = 100.0 * sum(luminance) / STANDARD_LUMINANCE_SUM
    quality = 5000.0 / percent if percent > 100 else (200.0 - percent) / 2
    return int(round(min(max(quality, 1.0), 100.0)))


def blockiness(image):
    """How much an 8-pixel grid starting at the top-left stands out in `image` (integer
    [H, W], [H, W, 1] or [H, W, 3+]; alpha ignored): per axis, the mean absolute step of the
    luma between pixels 8k-1 and 8k over the median of the mean steps at the other seven
    offsets; the smaller of the two axes. About 1 for clean photos, 1.3 and more for JPEGs of
    quality 50 and less; 1.0 for an image under 16 pixels on a side or a flat one."""
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0] if pixels.shape[2] < 3 else rgb_to_gray(pixels[:, :, :3])
    ratios = []
    for steps in (np.abs(np.diff(pixels, axis=1)), np.abs(np.diff(pixels, axis=0)).T):
        usable = steps.shape[1] // BLOCK * BLOCK
        if usable < 2 * BLOCK:
            return 1.0
        by_offset = steps[:, :usable].reshape(steps.shape[0], -1, BLOCK).mean(axis=(0, 1))
        others = np.median(by_offset[:BLOCK - 1])
        if others < 0.5:  # flat: no steps to compare (a quarter level on average)
            return 1.0
        ratios.append(by_offset[BLOCK - 1] / others)
    return float(min(ratios))


def jpeg_blocking(path, image):
    """What JPEG blocking the file `path` (decoded as `image`, integer [H, W(, C)]) carries,
    in words ("JPEG quality 50", "an 8x8 block grid (blockiness 1.41)"), or None."""
    quality = jpeg_quality(path)
    if quality is not None:
        return f"JPEG quality {quality}" if quality <= JPEG_QUALITY_LIMIT else None
    score = blockiness(image)
    return f"an 8x8 block grid (blockiness {score:.2f})" if score >= BLOCKINESS_LIMIT else None


def advice(trained_for, blocked):
    """The one line that says a model for clean input meets JPEG blocking, or None.

    Args:
        trained_for: the model's ModelInfo.trained_for (metadata.trained_for's words).
        blocked: [(name, jpeg_blocking's words)] of the inputs found blocky.
    """
    if trained_for != CLEAN or not blocked:
        return None
    named = ", ".join(f"{name}: {finding}" for name, finding in blocked[:3])
    more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
    return (f"warning: JPEG blocking in the input ({named}{more}); this model was trained for "
            f"{CLEAN} input and sharpens the blocks: a model trained with "
            f"{REALWORLD_PRESETS} removes them")


__all__ = ["JPEG_QUALITY_LIMIT", "BLOCKINESS_LIMIT", "REALWORLD_PRESETS", "jpeg_quality",
           "blockiness", "jpeg_blocking", "advice"]
