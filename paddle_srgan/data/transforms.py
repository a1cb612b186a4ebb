"""Training-patch transforms on numpy [H, W, C] arrays: aligned crops, flips/rotations, the
conversion to the networks' float32 [C, H, W] in [0, 1], and back from their outputs to
integer images (`to_image`).

Randomness always comes from a ``numpy.random.Generator`` passed in by the caller, never from
global state, so a patch is a function of the generator's seed alone (see
datasets.TrainPatches for why that matters).
"""
import numpy as np

from ..errors import InputError
from .imresize import INTEGER_MAX, imresize

__all__ = ["random_crop", "paired_random_crop", "augment", "downscale", "to_chw_float",
           "to_image"]



def _check_fits(shape, crop, what):
    if shape[0] < crop or shape[1] < crop:
        raise InputError(f"{what} of {shape[0]}x{shape[1]} pixels is smaller than the "
                         f"{crop}x{crop} crop")


def random_crop(img, crop, rng):
    """A random crop x crop window of ``img``.

    Args:
        img: [H, W, ...] array, H and W >= crop.
        crop: int, side of the square window.
        rng: numpy.random.Generator (two integers are drawn: y, then x).

    Returns:
        View of ``img``, [crop, crop, ...].
    """
    _check_fits(img.shape, crop, "image")
    y = int(rng.integers(0, img.shape[0] - crop + 1))
    x = int(rng.integers(0, img.shape[1] - crop + 1))
    return img[y:y + crop, x:x + crop]


def paired_random_crop(hr, lr, hr_crop, scale, rng):
    """Random aligned crops of an HR image and its LR version.

    The LR window of side hr_crop // scale starts at (y, x); the HR window of side hr_crop
    starts at (y * scale, x * scale), so both cover the same part of the scene.

    Args:
        hr: [H, W, C] array.
        lr: [H / scale, W / scale, C] array (exactly; mod-crop HR first if needed).
        hr_crop: int, a multiple of ``scale``.
        scale: int >= 1.
        rng: numpy.random.Generator (two integers are drawn: y, then x).

    Returns:
        (hr patch [hr_crop, hr_crop, C], lr patch [hr_crop/scale, hr_crop/scale, C]), views.
    """
    if hr_crop % scale:
        raise InputError(f"HR crop {hr_crop} is not a multiple of the scale {scale}")
    if hr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
        raise InputError(f"LR {lr.shape[:2]} x {scale} does not match HR {hr.shape[:2]} "
                         f"(HR shape {hr.shape}, LR shape {lr.shape})")
    lr_crop = hr_crop // scale
    _check_fits(lr.shape, lr_crop, "LR image")
    y = int(rng.integers(0, lr.shape[0] - lr_crop + 1))
    x = int(rng.integers(0, lr.shape[1] - lr_crop + 1))
    return (hr[y * scale:(y + lr_crop) * scale, x * scale:(x + lr_crop) * scale],
            lr[y:y + lr_crop, x:x + lr_crop])


def augment(imgs, flip, rot90, rng):
    """The same random flips and 90-degree rotation applied to every array of a list.

    Horizontal flip, vertical flip and transpose, each with probability 1/2, generate all 8
    symmetries of the square (rotations by 0/90/180/270 degrees, with and without mirroring).

    Args:
        imgs: list of [H, W, ...] arrays (e.g. [hr, lr] patches).
        flip: bool, allow horizontal and vertical flips.
        rot90: bool, allow the transpose (which turns flips into rotations).
        rng: numpy.random.Generator; three floats are drawn whatever the flags, so turning
            one option off does not change the others' draws.

    Returns:
        list of views, in the order of ``imgs``.
    """
    hflip, vflip, transpose = rng.random(3) < 0.5
    out = []
    for img in imgs:
        if flip and hflip:
            img = img[:, ::-1]
        if flip and vflip:
            img = img[::-1]
        if rot90 and transpose:
            img = img.swapaxes(0, 1)
        out.append(img)
    return out


def downscale(hr, scale):
    """The LR image of the SR literature: MATLAB ``imresize(hr, 1/scale, 'bicubic')``.

    Args:
        hr: [H, W, C] uint8/uint16 (exact MATLAB rounding) or float array, H and W multiples
            of ``scale`` (metrics.mod_crop first).
        scale: int >= 1.

    Returns:
        [H / scale, W / scale, C] array of ``hr``'s dtype.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"downscale: image sides {h}x{w} are not multiples of {scale} "
                         f"(mod-crop it first)")
    # Asking for the output shape gives the kernel the factor (H/s)/H == 1/s (the same
    # double MATLAB uses) while ruling out ceil(H * (1/s)) landing one pixel too far when
    # 1/s is not a binary fraction.
    return imresize(hr, output_shape=(h // scale, w // scale))


def to_chw_float(img):
    """[H, W, C] image -> float32 [C, H, W] in [0, 1], C-contiguous (what the networks eat).

    Args:
        img: uint8 (divided by 255), uint16 (divided by 65535) or float (taken to be in
            [0, 1] already).

    Returns:
        New float32 array [C, H, W].
    """
    if img.ndim != 3:
        raise ValueError(f"to_chw_float needs an [H, W, C] image, got shape {img.shape}")
    max_value = INTEGER_MAX.get(img.dtype)
    if max_value is None and not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"to_chw_float needs uint8, uint16 or float pixels, got {img.dtype}")
    chw = np.array(img.transpose(2, 0, 1), dtype=np.float32, order="C")
    if max_value is not None:
        chw /= np.float32(max_value)
    return chw


def to_image(sr, value_range=(-1.0, 1.0), dtype=np.uint8):
    """[C, H, W] or [1, C, H, W] float tensor/array in `value_range` -> [H, W, C] integer image
    (the inverse of to_chw_float: network output -> picture).

    Rounds half away from zero after clipping, like MATLAB's im2uint8.
    """
    arr = sr.numpy() if hasattr(sr, "numpy") else np.asarray(sr)
    arr = arr.reshape(arr.shape[-3:]).transpose(1, 2, 0)
    lo, hi = value_range
    peak = np.iinfo(dtype).max
    unit = np.clip((arr.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return np.floor(unit * peak + 0.5).astype(dtype)


def to_uint8(img):
    """uint8/uint16 image -> uint8 for display (16-bit scaled by 255 / 65535, rounded)."""
    if img.dtype == np.uint8:
        return img
    return (img.astype(np.float64) / np.iinfo(img.dtype).max * 255 + 0.5).astype(np.uint8)
