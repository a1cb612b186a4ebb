"""Resampling steps of the ESRGAN / Real-ESRGAN generators written with ops that export:
nearest upsampling by an integer factor, pixel-unshuffle, and padding to a multiple with the
crop that undoes it.

Why not F.interpolate(mode='nearest'): Paddle 3.3 traces it with its scale as a float64 array
attribute that paddle2onnx 2.1 cannot convert ("the 0th elementwise MUST be
ir::FloatAttribute"; see BilinearUpsample in srresnet.py for the bilinear case), so an
exported RRDBNet or SRVGGNetCompact had no ONNX file. Tile + PixelShuffle is the same
nearest upsampling exactly (copies, no arithmetic) and exports on Paddle 2.6 and 3.x.
"""
from ..compat import import_paddle

paddle = import_paddle()
nn = paddle.nn


def nearest_upsample(x, factor):
    """Nearest-neighbour upsampling, = F.interpolate(x, scale_factor=factor, mode='nearest').

    Input: x [N, C, h, w]. Output: [N, C, h*factor, w*factor], pixel (i, j) = x[i // factor,
    j // factor]. PixelShuffle puts channel c*f*f + a*f + b at sub-pixel (a, b) of channel c,
    so f*f consecutive copies of each channel are its nearest upsampling.
    """
    copies = paddle.tile(x.unsqueeze(2), [1, 1, factor * factor, 1, 1])  # [N, C, f*f, h, w]
    return nn.functional.pixel_shuffle(paddle.flatten(copies, start_axis=1, stop_axis=2), factor)


def pixel_unshuffle(x, factor):
    """= F.pixel_unshuffle(x, factor) (and PyTorch's): channel c*f*f + a*f + b of the output
    holds the pixels at offset (a, b) of each f x f cell of channel c.

    Why not F.pixel_unshuffle: its shape check runs when the program is traced, where h and w
    are -1 (any size), and refuses them ("Downscale factor[4] should divide both height[-1]
    and width[-1]"), so an RRDBNet x2 / x1 could not be exported.
    Input: x [N, C, h, w], h and w multiples of `factor`. Output: [N, C*f*f, h/f, w/f].
    """
    shape = paddle.shape(x)
    cells = x.reshape([0, 0, -1, factor, shape[3] // factor, factor])  # [N, C, h/f, a, w/f, b]
    return paddle.flatten(cells.transpose([0, 1, 3, 5, 2, 4]), start_axis=1, stop_axis=3)


def pad_to_multiple(x, multiple):
    """x padded at the bottom and right, by replicating its last row / column, to the next
    multiple of `multiple` in height and width (unchanged when already one).

    Replicate, not reflect (Real-ESRGAN's inference pads with reflect): reflection needs the
    image to be longer than the padding, and a 1-pixel strip (how the receptive field is
    measured, deploy/introspect.py) or a 1-3 pixel image would fail; replicate pads any size.
    It pads a fixed multiple - 1 and then crops to the multiple, so the exported program needs
    no data-dependent padding amount, only a slice with a computed end.
    Input: x [N, C, h, w]. Output: [N, C, ceil(h / multiple) * multiple, ceil(w / ...) ...].
    """
    shape = paddle.shape(x)
    padded = nn.functional.pad(x, [0, multiple - 1, 0, multiple - 1], mode="replicate")
    ends = [(shape[2] + multiple - 1) // multiple * multiple,
            (shape[3] + multiple - 1) // multiple * multiple]
    return paddle.slice(padded, axes=[2, 3], starts=[0, 0], ends=ends)


def crop_to(y, reference, scale):
    """The top-left [h*scale, w*scale] of y, where [h, w] is the size of `reference`: the
    output of a padded input cropped back to the unpadded input's (pad_to_multiple).
    Input: y [N, C, >= h*scale, >= w*scale], reference [N, *, h, w]."""
    shape = paddle.shape(reference)
    return paddle.slice(y, axes=[2, 3], starts=[0, 0], ends=[shape[2] * scale, shape[3] * scale])
