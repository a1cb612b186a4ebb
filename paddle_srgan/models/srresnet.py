"""SRResNet, the SRGAN generator (Ledig et al. 2017, Fig. 4, top), and the published variants
of it whose weights `paddle_srgan.published_weights.convert` imports.

Defaults are the paper's network:

    LR [N,C,h,w] in [0,1]
      -> 9x9 conv + PReLU ---------------------------.  (global skip)
      -> num_block x ResidualBlock                    |
      -> 3x3 conv + BN  ------------------------------+
      -> log2(scale) x (3x3 conv C->4C, PixelShuffle(2), PReLU)
      -> 9x9 conv -> tanh
    SR [N,C_out,h*s,w*s] in [-1,1]

The paper scales HR targets to [-1,1] and LR inputs to [0,1]; tanh bounds the output to the
target range. The layout and parameter count (1,549,462 at defaults) match the sgrvinod PyTorch
tutorial, so its checkpoints convert key by key (`paddle_srgan.published_weights.convert`).

The other options describe the same skeleton as other projects trained it (the options each
converter layout sets are listed in `paddle_srgan.published_weights.convert.LAYOUTS`):
* PyTorch's ONNX-example SRResNet: per-channel PReLU, bias-free convs before BN, no output
  activation (`act='prelu_channel', conv_bias=False, output_act='none', output_range=(-1, 1)`);
* BasicSR MSRResNet: no BN, LeakyReLU(0.1) outside and ReLU inside the residual blocks, no
  conv after the blocks and no global skip, a 3x3 conv + activation at HR before the last conv,
  the bilinear-upsampled input added to the output (`norm='none', act='leakyrelu',
  negative_slope=0.1, block_act='relu', body_end='none', global_skip=False, hr_conv=True,
  input_skip='bilinear', output_act='none', output_range=(0, 1)`, kernels 3);
* leftthomas/SRGAN: 5 blocks, output (tanh + 1) / 2 in [0, 1] (`output_act='tanh01'`); its
  older files end the body with conv + PReLU instead of conv + BN (`body_end='conv_act'`).
"""
import math

import numpy as np

from ..compat import import_paddle
from .vgg import IMAGENET_MEAN, IMAGENET_STD

paddle = import_paddle()
nn = paddle.nn

# Paddle's BatchNorm momentum weighs the OLD statistics (running = m * running + (1-m) * batch),
# PyTorch's weighs the NEW ones; Paddle 0.9 == PyTorch's default 0.1.
BN_MOMENTUM = 0.9

ACTIVATIONS = ("prelu", "prelu_channel", "leakyrelu", "relu")
NORMS = ("bn", "none")
BODY_ENDS = ("conv_norm", "conv_act", "none")
INPUT_SKIPS = ("none", "bilinear")
INPUT_NORMS = ("none", "imagenet")
UPSAMPLERS = ("pixelshuffle", "nearest", "bilinear")
# Output activation -> the value range it produces (None: unbounded, the weights decide).
OUTPUT_ACTS = {"tanh": (-1.0, 1.0), "tanh01": (0.0, 1.0), "none": None}


def check_input(x, channels, who):
    """Raise a clear ValueError unless `x` is a float tensor [N, channels, H, W]."""
    if len(x.shape) != 4:
        raise ValueError(f"{who} expects a 4-D tensor [N, C, H, W], got shape {list(x.shape)}")
    if x.shape[1] not in (-1, channels):  # -1: dynamic dim while tracing with paddle.jit
        raise ValueError(f"{who} expects {channels} channel(s) in dim 1, got shape {list(x.shape)}")


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"SRResNet {name} must be one of {list(allowed)}, got {value!r}")


def make_activation(kind, num_feat, negative_slope):
    """'prelu' (one learned slope), 'prelu_channel' (one per channel), 'leakyrelu', 'relu'."""
    if kind == "prelu":
        return nn.PReLU(num_parameters=1)
    if kind == "prelu_channel":
        return nn.PReLU(num_parameters=num_feat)
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope)
    return nn.ReLU()


def make_norm(kind, num_feat):
    # Identity keeps the attribute (bn1, body_bn, ...) so the forward code has no branches;
    # it has no parameters, so a norm-free network's state dict has no BN keys.
    return nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM) if kind == "bn" else nn.Identity()


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
    """conv3-norm-act-conv3-norm plus identity; [N,F,h,w] -> [N,F,h,w].

    Paper: norm 'bn', act 'prelu', biased convs. `conv_bias=False` drops the conv biases
    (redundant before BN); `norm='none'` gives the EDSR/MSRResNet block conv-act-conv.
    """

    def __init__(self, num_feat, kernel_size, norm="bn", act="prelu", conv_bias=True,
                 negative_slope=0.2):
        super().__init__()
        pad = kernel_size // 2
        bias = None if conv_bias else False  # Paddle: None = default bias, False = no bias
        self.conv1 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad, bias_attr=bias)
        self.bn1 = make_norm(norm, num_feat)
        self.act = make_activation(act, num_feat, negative_slope)
        self.conv2 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad, bias_attr=bias)
        self.bn2 = make_norm(norm, num_feat)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


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

    'pixelshuffle' (the paper): conv3 -> [N,4F,h,w] -> PixelShuffle(2) -> act. Each of the
        four sub-pixel positions has its own kernel, and when they drift apart the output
        carries a period-2 pattern (the grid `metrics.periodic_artifacts` measures), which a
        discriminator then amplifies.
    'nearest' / 'bilinear' (resize-convolution, Odena et al. 2016; ESRGAN's RRDBNet uses
        nearest): x2 resize -> conv3 -> act, one F x F kernel for every output pixel, so
        the layer cannot make a checkerboard. Computed without the resized map: the four
        sub-pixel kernels the resize implies (RESIZE_TAPS) run at LR and a PixelShuffle
        interleaves them, as fast as 'pixelshuffle'. Exactly F.interpolate + conv for
        'nearest' (both zero-padded); 'bilinear' pads the LR map by replication (the
        resize's own border rule), so it differs from interpolate + zero-padded conv only
        in the outermost ring of output pixels.
    """

    def __init__(self, num_feat, kernel_size, act="prelu", negative_slope=0.2,
                 upsampler="pixelshuffle"):
        super().__init__()
        if upsampler == "pixelshuffle":
            self.conv = nn.Conv2D(num_feat, num_feat * 4, kernel_size, padding=kernel_size // 2)
        else:
            if kernel_size != 3:
                raise ValueError(f"SRResNet upsampler {upsampler!r} needs body_kernel 3, got "
                                 f"{kernel_size}")
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


class SRResNet(nn.Layer):
    """The SRGAN generator and its published variants (see the module docstring).

    Args:
        in_channels: channels of the LR input (3 for RGB, 1 for a single channel).
        out_channels: channels of the SR output; defaults to `in_channels`.
        num_feat: feature width (paper: 64).
        num_block: residual blocks (paper: 16).
        scale: 2, 4 or 8 (one x2 sub-pixel block per factor of 2).
        head_kernel: kernel of the first and last conv (paper: 9).
        body_kernel: kernel of the residual, body-end, upsampling and HR convs (paper: 3).
        norm: 'bn' (paper) or 'none': the normalisation in the residual blocks and body end.
        conv_bias: bias in the convs of the residual blocks and body end (paper: True).
        act: activation of the head, upsampling and HR convs, and by default of the residual
            blocks: 'prelu' (paper: one slope per layer), 'prelu_channel' (one per channel),
            'leakyrelu' (slope `negative_slope`), 'relu'.
        negative_slope: slope of 'leakyrelu' for x < 0.
        block_act: activation inside the residual blocks if not `act` (MSRResNet: 'relu').
        body_end: after the residual blocks, 'conv_norm' (paper: 3x3 conv + norm),
            'conv_act' (3x3 conv + act) or 'none'.
        global_skip: add the head features to the body output (paper: True).
        hr_conv: a 3x3 conv + act at HR resolution before the last conv (paper: False).
        input_skip: 'bilinear' adds the bilinearly upsampled input to the output (needs
            out_channels == in_channels); 'none' (paper).
        output_act: 'tanh' (paper, output in [-1, 1]), 'tanh01' ((tanh + 1) / 2, in [0, 1])
            or 'none'.
        output_range: (lo, hi) the output is meant to span: given by 'tanh'/'tanh01', required
            with 'none' (the range the weights were trained for, e.g. (0, 1)).
        input_norm: 'none' (paper: the network sees LR in [0, 1]) or 'imagenet' (the network
            sees (lr - ImageNet mean) / std, as weights trained by the sgrvinod tutorial's
            scripts expect; RGB only). Either way the input given to forward is in [0, 1].
        upsampler: how each x2 step upsamples: 'pixelshuffle' (paper: sub-pixel conv),
            'nearest' or 'bilinear' (resize, then conv; see UpsampleBlock).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32 in `self.output_range`
        (paper: [-1, 1]); trainer and evaluator map it to [0, 1] with that attribute.
    """

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4,
                 head_kernel=9, body_kernel=3, norm="bn", conv_bias=True, act="prelu",
                 negative_slope=0.2, block_act=None, body_end="conv_norm", global_skip=True,
                 hr_conv=False, input_skip="none", output_act="tanh", output_range=None,
                 input_norm="none", upsampler="pixelshuffle"):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet scale must be 2, 4 or 8, got {scale}")
        block_act = block_act or act
        for name, value, allowed in [("norm", norm, NORMS), ("act", act, ACTIVATIONS),
                                     ("block_act", block_act, ACTIVATIONS),
                                     ("body_end", body_end, BODY_ENDS),
                                     ("input_skip", input_skip, INPUT_SKIPS),
                                     ("output_act", output_act, OUTPUT_ACTS),
                                     ("input_norm", input_norm, INPUT_NORMS),
                                     ("upsampler", upsampler, UPSAMPLERS)]:
            _choice(name, value, allowed)
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        if input_skip != "none" and self.out_channels != in_channels:
            raise ValueError(f"SRResNet input_skip {input_skip!r} needs out_channels == "
                             f"in_channels, got {self.out_channels} and {in_channels}")
        self.output_range = self._output_range(output_act, output_range)
        self.scale = scale
        self.global_skip = global_skip
        self.input_skip = input_skip
        self.output_act = output_act
        self.body_end = body_end
        self.input_norm = input_norm
        if input_norm == "imagenet":
            if in_channels != 3:
                raise ValueError(f"SRResNet input_norm 'imagenet' needs 3 input channels, "
                                 f"got {in_channels}")
            self.register_buffer("norm_mean", paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]),
                                 persistable=False)
            self.register_buffer("norm_std", paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]),
                                 persistable=False)
        bias = None if conv_bias else False
        slope = negative_slope

        self.head_conv = nn.Conv2D(in_channels, num_feat, head_kernel, padding=head_kernel // 2)
        self.head_act = make_activation(act, num_feat, slope)
        self.body = nn.Sequential(*[ResidualBlock(num_feat, body_kernel, norm, block_act,
                                                  conv_bias, slope) for _ in range(num_block)])
        self.body_conv = None
        if body_end != "none":
            self.body_conv = nn.Conv2D(num_feat, num_feat, body_kernel,
                                       padding=body_kernel // 2, bias_attr=bias)
            if body_end == "conv_norm":
                self.body_bn = make_norm(norm, num_feat)
            else:
                self.body_act = make_activation(act, num_feat, slope)
        self.upsample = nn.Sequential(*[UpsampleBlock(num_feat, body_kernel, act, slope,
                                                      upsampler)
                                        for _ in range(int(math.log2(scale)))])
        self.hr_conv = None
        if hr_conv:
            self.hr_conv = nn.Conv2D(num_feat, num_feat, body_kernel, padding=body_kernel // 2)
            self.hr_act = make_activation(act, num_feat, slope)
        self.tail_conv = NarrowConv2D(num_feat, self.out_channels, head_kernel)
        self.input_upsample = (BilinearUpsample(in_channels, scale) if input_skip == "bilinear"
                               else None)

    @staticmethod
    def _output_range(output_act, output_range):
        natural = OUTPUT_ACTS[output_act]
        if output_range is None:
            if natural is None:
                raise ValueError("SRResNet output_act 'none' needs output_range, the range the "
                                 "weights were trained for, e.g. [0, 1] or [-1, 1]")
            return natural
        output_range = tuple(float(v) for v in output_range)
        if len(output_range) != 2 or output_range[0] >= output_range[1]:
            raise ValueError(f"SRResNet output_range must be [lo, hi] with lo < hi, "
                             f"got {list(output_range)}")
        if natural is not None and output_range != natural:
            raise ValueError(f"SRResNet output_act {output_act!r} produces {list(natural)}, "
                             f"but output_range is {list(output_range)}")
        return output_range

    def forward(self, lr):
        check_input(lr, self.in_channels, "SRResNet")
        x = (lr - self.norm_mean) / self.norm_std if self.input_norm == "imagenet" else lr
        head = self.head_act(self.head_conv(x))
        feat = self.body(head)
        if self.body_end == "conv_norm":
            feat = self.body_bn(self.body_conv(feat))
        elif self.body_end == "conv_act":
            feat = self.body_act(self.body_conv(feat))
        if self.global_skip:
            feat = head + feat
        feat = self.upsample(feat)
        if self.hr_conv is not None:
            feat = self.hr_act(self.hr_conv(feat))
        sr = self.tail_conv(feat)
        if self.input_skip == "bilinear":  # the network then learns the residual to bilinear
            sr = sr + self.input_upsample(lr)
        if self.output_act == "tanh":
            return paddle.tanh(sr)
        if self.output_act == "tanh01":
            return (paddle.tanh(sr) + 1) / 2
        return sr


# BasicSR's MSRResNet (basicsr/archs/srresnet_arch.py, the "modified SRResNet" of the ESRGAN
# paper) in SRResNet terms. The `msrresnet` weight-import layout reads the same network.
MSRRESNET_OPTIONS = {"head_kernel": 3, "norm": "none", "act": "leakyrelu", "negative_slope": 0.1,
                     "block_act": "relu", "body_end": "none", "global_skip": False,
                     "hr_conv": True, "input_skip": "bilinear", "output_act": "none",
                     "output_range": (0.0, 1.0)}


class MSRResNet(SRResNet):
    """SRResNet without BatchNorm, learning the residual to the bilinearly upsampled input.

    The differences from the paper's generator (Wang et al. 2018, ESRGAN, section 3.1 and
    BasicSR): no BN (whose train/test statistics gap makes small-batch training erratic),
    3x3 head and tail convs, ReLU inside the residual blocks and LeakyReLU(0.1) elsewhere, an
    extra 3x3 conv at HR before the last one, no activation at the output, and
    `bilinear(lr)` added to the output. Every conv starts from Kaiming-normal weights scaled
    by 0.1 (BasicSR's `default_init_weights(..., 0.1)`), so a fresh network outputs almost
    exactly the bilinear upsampling and only has to learn the detail bilinear misses: that is
    why it trains in minutes where the paper's network needs hours.

    Args: as SRResNet (in_channels, out_channels, num_feat, num_block, scale, upsampler).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32, meant to be in [0, 1]
        (unbounded: evaluation clips it).
    """

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4,
                 upsampler="pixelshuffle"):
        super().__init__(in_channels=in_channels, out_channels=out_channels, num_feat=num_feat,
                         num_block=num_block, scale=scale, upsampler=upsampler,
                         **MSRRESNET_OPTIONS)
        for layer in self.sublayers():
            if isinstance(layer, nn.Conv2D):
                fan_in = layer.weight.shape[1] * layer.weight.shape[2] * layer.weight.shape[3]
                std = 0.1 * math.sqrt(2.0 / fan_in)
                layer.weight.set_value(paddle.normal(0.0, std, layer.weight.shape))
                layer.bias.set_value(paddle.zeros_like(layer.bias))
