"""Geometry of numpy [H, W, C] images: mod-crop, aligned random crops, flips/rotations, the
MATLAB-bicubic shrink of an HR patch. (Pixel values and colour: colour.py.)

Randomness always comes from a ``numpy.random.Generator`` passed in by the caller, never from
global state, so a patch is a function of the generator's seed alone (see
datasets.TrainPatches for why that matters).
"""

from ..errors import InputError
from .imresize import imresize

__all__ = ["mod_crop", "random_crop", "paired_random_crop", "augment", "downscale"]


def mod_crop(img, scale):
    """Crop height and width down to multiples of ``scale`` (keeps the top-left corner).

    Args:
        img: [H, W] or [H, W, C] array, any dtype.
        scale: int >= 1.

    Returns:
        View of ``img``, [H - H % scale, W - W % scale, ...].
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale]


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
            of ``scale`` (mod_crop first).
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
