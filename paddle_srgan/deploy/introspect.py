"""What a generator is, seen from outside: how far its output reaches into its input (the
exact tile padding), and the layer that exports only its full-scale output.
"""
import math
from fractions import Fraction

from ..compat import import_paddle
from ..models import final_level

paddle = import_paddle()


def _conv_reach(layer):
    """Input pixels on either side of its aligned input pixel that one output pixel of a
    convolution reads (stride-s transposed: the aligned input pixel is floor(out / s))."""
    padding = layer._padding
    pads = [padding] * 2 if isinstance(padding, int) else list(padding)
    if len(pads) != 2 or not all(isinstance(p, int) for p in pads):
        raise ValueError(f"receptive_field_radius: {type(layer).__name__} with padding "
                         f"{padding!r} is not supported; give tile_pad")
    reach = 0
    for k, d, s, p in zip(layer._kernel_size, layer._dilation, layer._stride, pads):
        span = (k - 1) * d
        if isinstance(layer, paddle.nn.Conv2DTranspose):
            reach = max(reach, -(-(span - p) // s), (p + s - 1) // s)
        elif s == 1:
            reach = max(reach, p, span - p)
        else:
            raise ValueError(f"receptive_field_radius: strided {type(layer).__name__} is not "
                             f"supported; give tile_pad")
    return reach


def receptive_field_radius(generator):
    """Radius, in LR pixels, of the LR region that the HR output of one LR pixel depends on.

    Runs the generator once (eval mode, 8x8 zeros; its mode is restored) with hooks on every
    convolution, and sums how far each reaches into its input, in LR pixels: reach / (the
    layer's input resolution / LR resolution). For a chain of layers (SRResNet) the ceiling of
    that sum is exact, the floors of the upsamplings included (tests/test_export.py checks it
    against an impulse response); for branches (LapSRN's image and feature paths) it is an
    upper bound. Functional calls in forward (F.interpolate skips) are not seen: they count
    only through the layers of the longest path, which reach further.

    Returns: int >= 0 (paper SRResNet: 40 at x2, x4 and x8).
    Raises: ValueError for strided convolutions, string paddings, pooling and nn.Upsample
        layers; give tile_pad explicitly then.
    """
    nn = paddle.nn
    unsupported = (nn.Upsample, nn.MaxPool2D, nn.AvgPool2D)
    layers = generator.sublayers()
    for layer in layers:
        if isinstance(layer, unsupported):
            raise ValueError(f"receptive_field_radius: {type(layer).__name__} is not supported; "
                             f"give tile_pad")
    side = 8
    reaches = []  # (reach in input pixels, input resolution / LR resolution)

    def record(layer, inputs, output):
        reaches.append((_conv_reach(layer), Fraction(inputs[0].shape[2], side)))

    hooks = [layer.register_forward_post_hook(record) for layer in layers
             if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose))]
    was_training = generator.training
    generator.eval()
    try:
        dtype = generator.parameters()[0].dtype
        with paddle.no_grad():
            generator(paddle.zeros([1, generator.in_channels, side, side], dtype=dtype))
    finally:
        for hook in hooks:
            hook.remove()
        if was_training:
            generator.train()
    return math.ceil(sum(Fraction(reach) / resolution for reach, resolution in reaches))


class FinalLevel(paddle.nn.Layer):
    """`generator` reduced to its full-scale output (models.final_level): what gets exported,
    so predictors, which read output 0, get the finest level of LapSRN too."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, lr):
        return final_level(self.generator(lr))


__all__ = ["receptive_field_radius", "FinalLevel"]
