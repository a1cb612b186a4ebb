"""The building blocks the networks share: input and option checks, activations, residual
blocks, upsampling steps (pixel shuffle and resize-convolution), the bilinear skip, pixel
unshuffle, nearest upsampling and padding to a multiple (the ESRGAN networks' resampling,
written with ops that export), the cheap narrow convolution and BasicSR's initialisation.

A block owns no state-dict prefix: the network that holds it names it (`body.3`, `upsample.0`),
so the keys of a published layout stay the network's business. Blocks built only from fixed
tensors (BilinearUpsample, the resize taps) keep them as non-persistable
buffers: no state-dict keys, and they export as plain convolutions (see BilinearUpsample).
"""
import math

import numpy as np

from ..compat import import_paddle
from ..config import UPSAMPLING_SCALES

paddle = import_paddle()
nn = paddle.nn

# Paddle's BatchNorm momentum weighs the OLD statistics (running = m * running + (1-m) * batch),
# PyTorch's weighs the NEW ones; Paddle 0.9 == PyTorch's default 0.1.
BN_MOMENTUM = 0.9

ACTIVATIONS = ("prelu", "prelu_channel", "leakyrelu", "relu")
UPSAMPLERS = ("pixelshuffle", "nearest", "bilinear")


def check_input(x, channels, who):
    """Raise a clear ValueError unless `x` is a float tensor [N, channels, H, W]."""
    if len(x.shape) != 4:
        raise ValueError(f"{who} expects a 4-D tensor [N, C, H, W], got shape {list(x.shape)}")
    if x.shape[1] not in (-1, channels):  # -1: dynamic dim while tracing with paddle.jit
        raise ValueError(f"{who} expects {channels} channel(s) in dim 1, got shape {list(x.shape)}")


def check_scale(scale, who):
    """ValueError unless `scale` is one of config.UPSAMPLING_SCALES ('2, 4 or 8' in the
    message): the factors of networks that upsample in log2(scale) steps."""
    if scale not in UPSAMPLING_SCALES:
        allowed = ", ".join(map(str, UPSAMPLING_SCALES[:-1])) + f" or {UPSAMPLING_SCALES[-1]}"
        raise ValueError(f"{who} scale must be {allowed}, got {scale}")


def check_choice(who, name, value, allowed):
    """ValueError naming the network and the option unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"{who} {name} must be one of {list(allowed)}, got {value!r}")


def make_activation(kind, num_feat=1, negative_slope=0.2):
    """'prelu' (one learned slope), 'prelu_channel' (one per channel), 'leakyrelu', 'relu'."""
    if kind == "prelu":
        return nn.PReLU(num_parameters=1)
    if kind == "prelu_channel":
        return nn.PReLU(num_parameters=num_feat)
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope)
    return nn.ReLU()


def default_init_weights(layer, scale=0.1):
    """BasicSR's `default_init_weights`: every conv of `layer` (in sublayer order) gets
    Kaiming-normal weights (fan in, gain sqrt(2)) times `scale`, and zero biases. With 0.1
    the residual branches start near zero, so a network whose output adds a fixed path
    (MSRResNet's bilinear skip, RRDBNet's residual-in-residual) starts near that path."""
    for sub in layer.sublayers():
        if isinstance(sub, nn.Conv2D):
            fan_in = sub.weight.shape[1] * sub.weight.shape[2] * sub.weight.shape[3]
            std = scale * math.sqrt(2.0 / fan_in)
            sub.weight.set_value(paddle.normal(0.0, std, sub.weight.shape))
            if sub.bias is not None:
                sub.bias.set_value(paddle.zeros_like(sub.bias))


class NarrowConv2D(nn.Conv2D):
    """nn.Conv2D (same parameters, same state dict) with 'same' padding, stride 1, computed
    as the equivalent transposed convolution; for layers with few output channels.

    Why: Paddle's CPU conv2d is im2col + GEMM and materialises [C_in*k*k, H*W] columns: 191 MB
    per 96x96 image for the 9x9 64->3 tail of SRResNet, which made that one layer half of a
    CPU training step. conv2d_transpose with the spatially flipped, in/out-swapped kernel is
    the same correlation and builds [C_out*k*k, H*W] columns instead: about 7x faster forward +
    backward on CPU; GPU results are identical within float rounding.
    """

    def __init__(self, in_channels, out_channels, kernel_size):
        if kernel_size % 2 != 1:
            raise ValueError(f"NarrowConv2D needs an odd kernel, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.same_padding = kernel_size // 2

    def forward(self, x):
        kernel = paddle.flip(self.weight, [2, 3]).transpose([1, 0, 2, 3])
        return nn.functional.conv2d_transpose(x, kernel, self.bias, padding=self.same_padding)


class BilinearUpsample(nn.Layer):
    """Bilinear upsampling by an even integer factor, exactly F.interpolate(mode='bilinear',
    align_corners=False) up to float rounding (max 1.2e-7 on [0, 1] inputs, tested), written as
    edge padding + a fixed depthwise transposed convolution; no parameters, no state-dict keys.

    Why not F.interpolate: Paddle 3.3 traces it with its scale stored as a float64 array
    attribute (an empty one with an output size instead of a scale), which the 3.3 CPU
    predictor (oneDNN: "ConvertPirAttribute2RuntimeAttribute not support
    pir::ArrayAttribute<pir::DoubleAttribute>") and paddle2onnx 2.1 ("the 0th elementwise MUST
    be ir::FloatAttribute") cannot read, so an exported MSRResNet did not run. pad3d and
    conv2d_transpose export and convert on Paddle 2.6 and 3.x alike.

    Half-pixel bilinear gives output pixel u of an LR pixel's s x s block (and of its
    neighbours' blocks) the weight 1 - |u + 0.5 - s/2| / s per axis: a triangle kernel of
    2s taps at stride s. Replicating the border pixel is the clamping of the source index at
    the image border.
    Input:  x [N, channels, h, w]. Output: [N, channels, h*scale, w*scale].
    """

    def __init__(self, channels, scale):
        super().__init__()
        if scale % 2:
            raise ValueError(f"BilinearUpsample needs an even scale, got {scale}")
        taps = 1 - np.abs(np.arange(2 * scale) + 0.5 - scale) / scale
        kernel = np.tile(np.outer(taps, taps)[None, None], (channels, 1, 1, 1))
        self.scale = scale
        self.channels = channels
        self.register_buffer("kernel", paddle.to_tensor(kernel, paddle.get_default_dtype()),
                             persistable=False)

    def forward(self, x):
        padded = nn.functional.pad(x, [1, 1, 1, 1], mode="replicate")
        return nn.functional.conv2d_transpose(padded, self.kernel, stride=self.scale,
                                              padding=3 * self.scale // 2, groups=self.channels)


class ResidualBlock(nn.Layer):
    """SRGAN's residual block: conv-BN-act-conv-BN plus identity; [N,F,h,w] -> [N,F,h,w].

    Paper: act 'prelu', biased convs. `conv_bias=False` drops the conv biases (redundant
    before BN, as PyTorch's ONNX-example SRResNet does); act 'prelu_channel' learns one slope
    per channel.
    """

    def __init__(self, num_feat, kernel_size=3, act="prelu", conv_bias=True):
        super().__init__()
        pad = kernel_size // 2
        bias = None if conv_bias else False  # Paddle: None = default bias, False = no bias
        self.conv1 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad, bias_attr=bias)
        self.bn1 = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)
        self.act = make_activation(act, num_feat)
        self.conv2 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad, bias_attr=bias)
        self.bn2 = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class ResidualBlockNoBN(nn.Layer):
    """EDSR's residual block (BasicSR `ResidualBlockNoBN`): conv3-ReLU-conv3 plus identity,
    no BatchNorm (whose train/test statistics gap makes small-batch training erratic);
    [N,F,h,w] -> [N,F,h,w]."""

    def __init__(self, num_feat):
        super().__init__()
        self.conv1 = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2D(num_feat, num_feat, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))


# Resize-convolution (a fixed x2 resize, then a 3x3 conv) computed at LR resolution. Per axis,
# output pixel 2i + a of the resized-then-convolved map is a 3-tap filter over LR pixels
# i-1, i, i+1 (rows) made from the conv's taps at HR offsets -1, 0, +1 (columns):
# RESIZE_TAPS[kind][a]. Nearest: HR 2i-1, 2i, 2i+1 are LR i-1, i, i (a = 0). Bilinear
# (half-pixel, as F.interpolate): HR 2i = 0.25 LR i-1 + 0.75 LR i, HR 2i+1 = 0.75 LR i +
# 0.25 LR i+1.
RESIZE_TAPS = {
    "nearest": [[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                [[0, 0, 0], [1, 1, 0], [0, 0, 1]]],
    "bilinear": [[[0.75, 0.25, 0], [0.25, 0.75, 0.75], [0, 0, 0.25]],
                 [[0.25, 0, 0], [0.75, 0.75, 0.25], [0, 0.25, 0.75]]],
}


class UpsampleBlock(nn.Layer):
    """One x2 upsampling step, [N,F,h,w] -> [N,F,2h,2w], in one of two ways:

    'pixelshuffle' (SRGAN): conv (kernel_size) -> [N,4F,h,w] -> PixelShuffle(2) -> act. Each
        of the four sub-pixel positions has its own kernel, and when they drift apart the
        output carries a period-2 pattern (the grid `metrics.periodic_artifacts` measures),
        which a discriminator then amplifies.
    'nearest' / 'bilinear' (resize-convolution, Odena et al. 2016; ESRGAN's RRDBNet uses
        nearest): x2 resize -> conv3 -> act, one F x F kernel for every output pixel, so
        the layer cannot make a checkerboard. Computed without the resized map: the four
        sub-pixel kernels the resize implies (RESIZE_TAPS, so always 3x3) run at LR and a
        PixelShuffle interleaves them, as fast as 'pixelshuffle'. Exactly F.interpolate +
        conv for 'nearest' (both zero-padded); 'bilinear' pads the LR map by replication
        (the resize's own border rule), so it differs from interpolate + zero-padded conv
        only in the outermost ring of output pixels.
    """

    def __init__(self, num_feat, kernel_size=3, act="prelu", negative_slope=0.2,
                 upsampler="pixelshuffle"):
        super().__init__()
        if upsampler == "pixelshuffle":
            self.conv = nn.Conv2D(num_feat, num_feat * 4, kernel_size, padding=kernel_size // 2)
        else:
            self.conv = nn.Conv2D(num_feat, num_feat, 3, padding=1)
            self.register_buffer("taps", paddle.to_tensor(RESIZE_TAPS[upsampler], "float32"),
                                 persistable=False)
        self.shuffle = nn.PixelShuffle(2)
        self.upsampler = upsampler
        self.act = make_activation(act, num_feat, negative_slope)

    def subpixel_kernels(self):
        """(weight [4F, F, 3, 3], bias [4F]) of the LR conv that, pixel-shuffled, is the
        resize-convolution; output channel 4c + 2a + b is channel c at sub-pixel (a, b)."""
        out_c, in_c = self.conv.weight.shape[:2]
        w = self.conv.weight.reshape([1, out_c * in_c, 3, 3])
        rows = paddle.matmul(self.taps.unsqueeze(1), w)  # [2 (a), O*I, 3, 3]
        both = paddle.matmul(rows.unsqueeze(1),          # [2 (a), 2 (b), O*I, 3, 3]
                             self.taps.transpose([0, 2, 1]).unsqueeze(1).unsqueeze(0))
        weight = both.reshape([2, 2, out_c, in_c, 3, 3]).transpose([2, 0, 1, 3, 4, 5])
        return (weight.reshape([out_c * 4, in_c, 3, 3]),
                self.conv.bias.unsqueeze(1).tile([1, 4]).reshape([out_c * 4]))

    def forward(self, x):
        if self.upsampler == "pixelshuffle":
            return self.act(self.shuffle(self.conv(x)))
        weight, bias = self.subpixel_kernels()
        if self.upsampler == "bilinear":
            x = nn.functional.pad(x, [1, 1, 1, 1], mode="replicate")
        out = nn.functional.conv2d(x, weight, bias, padding=1 if self.upsampler == "nearest" else 0)
        return self.act(self.shuffle(out))


def upsample_steps(num_feat, scale, kernel_size=3, act="prelu", negative_slope=0.2,
                   upsampler="pixelshuffle"):
    """log2(scale) UpsampleBlocks in a row: [N,F,h,w] -> [N,F,h*scale,w*scale]."""
    return nn.Sequential(*[UpsampleBlock(num_feat, kernel_size, act, negative_slope, upsampler)
                           for _ in range(int(math.log2(scale)))])


# Resampling steps of the ESRGAN / Real-ESRGAN generators written with ops that export:
# nearest upsampling by an integer factor, pixel-unshuffle, and padding to a multiple with the
# crop that undoes it.
#
# Why not F.interpolate(mode='nearest'): Paddle 3.3 traces it with its scale as a float64 array
# attribute that paddle2onnx 2.1 cannot convert ("the 0th elementwise MUST be
# ir::FloatAttribute"; BilinearUpsample above meets it in the bilinear case), so an
# exported RRDBNet or SRVGGNetCompact had no ONNX file. Tile + PixelShuffle is the same
# nearest upsampling exactly (copies, no arithmetic) and exports on Paddle 2.6 and 3.x.


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
