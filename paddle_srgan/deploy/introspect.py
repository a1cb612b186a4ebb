"""What a generator is, seen from outside: how far its output reaches into its input (the
exact tile padding) and by which input shifts its output shifts alike (where tiles may start),
both measured from the network's own response, and the layer that exports only its full-scale
output.
"""
import copy

import numpy as np

from ..compat import import_paddle
from ..models import final_level

paddle = import_paddle()

# A reach past this many LR pixels counts as unbounded (global pooling, attention): the
# output then depends on the whole image and no tile padding reproduces it.
MAX_RADIUS = 512
FIRST_SIDE = 33  # LR pixels of the first probe strip; doubled while the support reaches its ends
# The input shifts a network may need for an output shifted alike (RRDBNet x2 / x1 group its
# input into 2x2 / 4x4 cells by pixel-unshuffling it)
PERIODS = (1, 2, 4, 8)
# float64 outputs that differ by less than this (relative to the output's size) count as equal:
# the batch elements of one run sum in the same order, a misgrouped input differs by far more
SAME_OUTPUT = 1e-9
PERIOD_SPAN = 16  # LR pixels of the strip's middle compared in shift_period


def receptive_field_radius(generator):
    """Radius, in LR pixels, of the LR region that the HR output of one LR pixel depends on,
    measured from the network: the support of the gradient of that output w.r.t. the input.

    The generator itself is not touched: float64 copies in eval mode (BatchNorm's running
    statistics) are probed on one-row and one-column random LR strips; the gradient of the HR
    output of two adjacent central LR pixels (a stride-2 layer would reach differently from
    each; the first sits at a multiple of PERIODS[-1], where a pixel-unshuffle cell starts: the
    cell's first pixel reaches farthest, to the far end of the last cell on its right)
    w.r.t. the strip marks the input pixels they depend on, and the strip doubles until
    that support stays off both of its ends. Two copies are probed and the larger reach kept:
    the real weights, and the same architecture with every parameter drawn positive (no zero
    weight, every derivative along a path positive: no dependence cancels or vanishes in a
    saturated tanh, as with random paper-size weights, or in a ReLU these inputs leave off).
    Convolutions, transposed and resize convolutions, poolings, paddings of any mode, skips
    and branches all count as the network computes them. One row suffices when each layer
    reaches farthest along the row through its centre, as dense, dilated, transposed and
    resize kernels do. A max pooling passes the gradient to one pixel of its window: the
    random inputs make missing its far end unlikely, not impossible. Float64, because a
    float32 gradient through tens of layers of small weights can underflow to 0.
    Cost: paper SRResNet x4 about 1.5 s on 2 busy CPU cores (x8: 2.3 s).

    Returns: int >= 0 (paper SRResNet: 40 at x2, x4 and x8), or None when the support still
        reaches the strip's ends past MAX_RADIUS: the output depends on the whole image, and
        no tile padding reproduces it (a NaN gradient counts as dependence, so a failed probe
        refuses tiling rather than under-pads).
    """
    probes = [_positive_copy(generator), _float64_copy(generator)]
    side = FIRST_SIDE
    while True:
        reach = _reach_at(probes, generator.in_channels, generator.scale, side)
        if reach is not None:
            return reach
        if side // 2 > MAX_RADIUS:
            return None
        side = 2 * side + 1


def _reach_at(probes, channels, scale, side):
    """The largest _strip_reach of the probe models along either axis, or None when one
    support touches an end of the strip (a longer strip is needed; the rest is skipped)."""
    reach = 0
    for model in probes:
        for axis in (2, 3):
            probe_reach, clipped = _strip_reach(model, channels, scale, side, axis)
            if clipped:
                return None
            reach = max(reach, probe_reach)
    return reach


def _float64_copy(generator):
    model = copy.deepcopy(generator)
    model.eval()
    model.to(dtype="float64")
    return model


def _positive_copy(generator):
    """A float64 copy of `generator` with every parameter uniform in [0.5, 1.5], weights of
    two or more dimensions divided by twice their fan-in (numel / shape[0]): each layer then
    has a gain of about 0.5, so activations stay O(1) (no tanh saturates) through any depth."""
    model = _float64_copy(generator)
    rng = np.random.default_rng(1)
    for param in model.parameters():
        shape = list(param.shape)
        values = rng.uniform(0.5, 1.5, shape)
        if len(shape) >= 2:
            values *= 0.5 * shape[0] / np.prod(shape)
        param.set_value(values)
    return model


def _strip_reach(model, channels, scale, side, axis):
    """(reach, clipped) of `model` on a random LR strip [2, channels, side, 1] (axis 2) or
    [2, channels, 1, side] (axis 3): the farthest distance, in LR pixels along the strip,
    from LR pixel c + b (c: side // 2 rounded down to a multiple of PERIODS[-1]) to an input
    pixel that the HR output of that pixel
    in batch element b depends on; clipped when the support touches an end of the strip."""
    shape = [2, channels, 1, 1]
    shape[axis] = side
    rng = np.random.default_rng(0)
    lr = paddle.to_tensor(rng.random(shape), dtype="float64", stop_gradient=False)
    out = final_level(model(lr))
    cotangent = np.zeros(out.shape)
    centre = side // 2 // PERIODS[-1] * PERIODS[-1]
    for b in (0, 1):
        index = [b, slice(None), slice(None), slice(None)]
        index[axis] = slice((centre + b) * scale, (centre + b + 1) * scale)
        cotangent[tuple(index)] = rng.uniform(0.5, 1.5, cotangent[tuple(index)].shape)
    grad, = paddle.grad([out], [lr], [paddle.to_tensor(cotangent)])
    depends = (grad.numpy() != 0).any(axis=1).reshape(2, side)
    reach, clipped = 0, False
    for b in (0, 1):
        where = np.flatnonzero(depends[b])
        if where.size:
            reach = max(reach, int(np.abs(where - (centre + b)).max()))
            clipped = clipped or where[0] == 0 or where[-1] == side - 1
    return reach, clipped


def shift_period(generator, radius):
    """The smallest p of PERIODS such that shifting the LR input by p pixels shifts the HR
    output by p * scale pixels, away from the borders, along both axes: tiles whose windows
    start at multiples of p give the untiled output (SRResNet, RRDBNet x4: 1; RRDBNet x2: 2,
    x1: 4, whose pixel-unshuffle groups the input into cells from its top-left corner).

    Measured on the probes of receptive_field_radius (the generator is not touched): random
    float64 LR strips of one row / one column, each in a batch with its copies shifted by every
    p; the outputs of the LR pixels farther than `radius` + PERIODS[-1] from the strip's ends
    (their output sees neither end) are compared, equal up to SAME_OUTPUT.
    Args: radius: the generator's receptive_field_radius (int), or None (unbounded).
    Returns: 1, 2, 4 or 8; None when no p holds (the output depends on where a pixel lies) or
        `radius` is None (no output pixel is away from the borders).
    """
    if radius is None:
        return None
    margin = radius + PERIODS[-1]
    side = 2 * margin + PERIOD_SPAN
    period = 1
    for model in (_positive_copy(generator), _float64_copy(generator)):
        for axis in (2, 3):
            holds = _shifts_that_hold(model, generator.in_channels, generator.scale, side,
                                      margin, axis)
            if not holds:
                return None
            period = max(period, holds[0])
    return period


def _shifts_that_hold(model, channels, scale, side, margin, axis):
    """The p of PERIODS for which `model`'s output on a random LR strip (one row or column,
    `axis` 2 or 3, `side` long) shifted by p is its output on the strip shifted by p * scale,
    over the LR pixels [margin, side - margin) of the shifted strip."""
    rng = np.random.default_rng(2)
    strip = rng.random([channels, side + PERIODS[-1]])
    batch = np.stack([strip[:, p:p + side] for p in (0,) + PERIODS])  # [1 + len, C, side]
    batch = np.expand_dims(batch, 5 - axis)  # [N, C, side, 1] (axis 2) or [N, C, 1, side]
    out = final_level(model(paddle.to_tensor(batch))).numpy()
    out = np.moveaxis(out, axis, -1).reshape(len(batch), -1, side * scale)  # [N, ., side*s]
    tolerance = SAME_OUTPUT * max(1.0, np.abs(out).max())
    lo, hi = margin * scale, (side - margin) * scale
    return [p for k, p in enumerate(PERIODS, 1)
            if np.abs(out[k, :, lo:hi] - out[0, :, lo + p * scale:hi + p * scale]).max()
            <= tolerance]


class FinalLevel(paddle.nn.Layer):
    """`generator` reduced to its full-scale output (models.final_level): what gets exported,
    so predictors, which read output 0, get the finest level of LapSRN too."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, lr):
        return final_level(self.generator(lr))


__all__ = ["MAX_RADIUS", "PERIODS", "receptive_field_radius", "shift_period", "FinalLevel"]
