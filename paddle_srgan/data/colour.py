"""Colour and number conversions of images: the one place luma is defined, integer pixels
become the networks' floats and back, and 16-bit images meet 8-bit scales. numpy only.

    rgb_to_y        MATLAB rgb2ycbcr luma (BT.601, studio range 16..235): what SR papers score
    rgb_to_gray     the same luma on the scale of gray pixel values (0.299 R + 0.587 G + 0.114 B)
    to_chw_float    integer [H, W, C] -> float32 [C, H, W] in [0, 1] (network input)
    to_image        network output [C, H, W] in its value range -> integer [H, W, C]
    output_image    the same, with a gray input's 3-channel output made gray: what inference returns
    on_8bit_scale   integer image -> float64 on the 0..255 scale (how 16-bit images are scored)
    to_uint8        integer image -> uint8 (for display)
"""
import numpy as np

from .imresize import INTEGER_MAX

__all__ = ["rgb_to_y", "rgb_to_gray", "to_chw_float", "to_image", "output_image", "on_8bit_scale",
           "to_uint8"]

# MATLAB rgb2ycbcr (ITU-R BT.601), luma row, for RGB in [0, 255].
_Y_OFFSET = 16.0
_Y_COEFFS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(img):
    """Luma of MATLAB ``rgb2ycbcr`` (BT.601): Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.

    Args:
        img: [H, W, 3] RGB, uint8 or float with values in [0, 255].

    Returns:
        float64 [H, W], Y in [16, 235], not rounded (rounding it, as MATLAB does for uint8
        input, lowers Set5 bicubic x4 PSNR by ~0.01 dB).
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y needs an [H, W, 3] RGB image, got shape {img.shape}")
    return _Y_OFFSET + img.astype(np.float64) @ _Y_COEFFS


def rgb_to_gray(img):
    """BT.601 luma on the scale of gray pixel values: 0.299 R + 0.587 G + 0.114 B.

    This is rgb_to_y without the studio-range mapping, (Y - 16) * 255 / 219, so an image with
    R = G = B = v maps back to v. It is how an RGB network's output is scored against a gray
    HR image: the literature's MATLAB scripts apply rgb2ycbcr only to 3-channel images and
    score a gray image on its own values, so the SR output must be on that scale too.

    Args:
        img: [H, W, 3] RGB, uint8 or float; any value scale (the weights sum to 1).

    Returns:
        float64 [H, W] on the input's scale, not rounded.
    """
    return (rgb_to_y(img) - _Y_OFFSET) * (255.0 / 219.0)


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


def to_image(sr, output_range=(-1.0, 1.0), dtype=np.uint8):
    """[C, H, W] or [1, C, H, W] float tensor/array in `output_range` -> [H, W, C] integer image
    (the inverse of to_chw_float: network output -> picture).

    Rounds half away from zero after clipping, like MATLAB's im2uint8.
    """
    arr = sr.numpy() if hasattr(sr, "numpy") else np.asarray(sr)
    arr = arr.reshape(arr.shape[-3:]).transpose(1, 2, 0)
    lo, hi = output_range
    peak = np.iinfo(dtype).max
    unit = np.clip((arr.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return np.floor(unit * peak + 0.5).astype(dtype)


def output_image(sr, output_range, dtype, gray):
    """A network's float output -> the integer picture inference returns for it (deploy's
    tiling, and eval's figures and saved images, which show what inference returns).

    Args:
        sr: float [C, H, W] in `output_range` (a whole image or a tile).
        dtype: the input image's integer type (np.uint8 / np.uint16).
        gray: the input was gray ([H, W] or [H, W, 1]): a 3-channel output then becomes
            its BT.601 luma on the gray scale (rgb_to_gray, range kept), as
            gray comes back gray.
    Returns:
        [H, W, C] of `dtype` (C = 1 for gray).
    """
    if gray and sr.shape[0] == 3:
        sr = rgb_to_gray(sr.transpose(1, 2, 0))[None]  # weights sum to 1: range kept
    return to_image(sr, output_range, dtype)


def on_8bit_scale(image):
    """float64 copy of an integer image on the 8-bit scale (16-bit values / 257): every
    metric scores 16-bit images that way, so numbers compare with 8-bit results."""
    return image.astype(np.float64) * (255.0 / np.iinfo(image.dtype).max)


def to_uint8(img):
    """uint8/uint16 image -> uint8 for display (16-bit scaled by 255 / 65535, rounded)."""
    if img.dtype == np.uint8:
        return img
    return np.floor(on_8bit_scale(img) + 0.5).astype(np.uint8)
