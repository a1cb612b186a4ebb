"""SRResNet, the SRGAN generator (Ledig et al. 2017, Fig. 4, top).

    LR [N,C,h,w] in [0,1]
      -> 9x9 conv + PReLU ---------------------------.  (global skip)
      -> num_block x ResidualBlock                    |
      -> 3x3 conv + BN  ------------------------------+
      -> log2(scale) x (3x3 conv C->4C, PixelShuffle(2), PReLU)
      -> 9x9 conv -> tanh
    SR [N,C_out,h*s,w*s] in [-1,1]

The paper scales HR targets to [-1,1] and LR inputs to [0,1]; tanh bounds the output to the
target range. The layout and parameter count (1,549,462 at defaults) match the sgrvinod PyTorch
tutorial, so its checkpoints convert key by key (`paddle_srgan.convert`).
"""
import math

from ..compat import import_paddle

paddle = import_paddle()
nn = paddle.nn

# Paddle's BatchNorm momentum weighs the OLD statistics (running = m * running + (1-m) * batch),
# PyTorch's weighs the NEW ones; Paddle 0.9 == PyTorch's default 0.1.
BN_MOMENTUM = 0.9


def check_input(x, channels, who):
    """Raise a clear ValueError unless `x` is a float tensor [N, channels, H, W]."""
    if len(x.shape) != 4:
        raise ValueError(f"{who} expects a 4-D tensor [N, C, H, W], got shape {list(x.shape)}")
    if x.shape[1] not in (-1, channels):  # -1: dynamic dim while tracing with paddle.jit
        raise ValueError(f"{who} expects {channels} channel(s) in dim 1, got shape {list(x.shape)}")


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


class ResidualBlock(nn.Layer):
    """conv3-BN-PReLU-conv3-BN plus identity; [N,F,h,w] -> [N,F,h,w]."""

    def __init__(self, num_feat, kernel_size):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad)
        self.bn1 = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)
        self.act = nn.PReLU(num_parameters=1)
        self.conv2 = nn.Conv2D(num_feat, num_feat, kernel_size, padding=pad)
        self.bn2 = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class UpsampleBlock(nn.Layer):
    """Sub-pixel convolution x2: [N,F,h,w] -> conv3 -> [N,4F,h,w] -> PixelShuffle -> [N,F,2h,2w]."""

    def __init__(self, num_feat, kernel_size):
        super().__init__()
        self.conv = nn.Conv2D(num_feat, num_feat * 4, kernel_size, padding=kernel_size // 2)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(num_parameters=1)

    def forward(self, x):
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Layer):
    """The SRGAN generator.

    Args:
        in_channels: channels of the LR input (3 for RGB, 1 for a single channel).
        out_channels: channels of the SR output; defaults to `in_channels`.
        num_feat: feature width (paper: 64).
        num_block: residual blocks (paper: 16).
        scale: 2, 4 or 8 (one x2 sub-pixel block per factor of 2).
        head_kernel: kernel of the first and last conv (paper: 9).
        body_kernel: kernel of the residual and upsampling convs (paper: 3).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32 in [-1, 1].
    """

    output_range = (-1.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4,
                 head_kernel=9, body_kernel=3):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet scale must be 2, 4 or 8, got {scale}")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.scale = scale
        self.head_conv = nn.Conv2D(in_channels, num_feat, head_kernel, padding=head_kernel // 2)
        self.head_act = nn.PReLU(num_parameters=1)
        self.body = nn.Sequential(*[ResidualBlock(num_feat, body_kernel) for _ in range(num_block)])
        self.body_conv = nn.Conv2D(num_feat, num_feat, body_kernel, padding=body_kernel // 2)
        self.body_bn = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)
        self.upsample = nn.Sequential(
            *[UpsampleBlock(num_feat, body_kernel) for _ in range(int(math.log2(scale)))])
        self.tail_conv = NarrowConv2D(num_feat, self.out_channels, head_kernel)

    def forward(self, lr):
        check_input(lr, self.in_channels, "SRResNet")
        feat = self.head_act(self.head_conv(lr))
        feat = feat + self.body_bn(self.body_conv(self.body(feat)))
        return paddle.tanh(self.tail_conv(self.upsample(feat)))
