"""SRResNet, the SRGAN generator (Ledig et al. 2017, Fig. 4, top), and the published networks
built on its skeleton, one class each; `published_weights` imports their weights key by key.

    LR [N,C,h,w] in [0,1]
      -> 9x9 conv + PReLU ---------------------------.  (global skip)
      -> num_block x ResidualBlock (conv-BN-PReLU-conv-BN)
      -> 3x3 conv + BN  ------------------------------+
      -> log2(scale) x (3x3 conv C->4C, PixelShuffle(2), PReLU)
      -> 9x9 conv -> output activation
    SR [N,C_out,h*s,w*s]

* SRResNet: the paper's network, output tanh in [-1, 1] (the paper scales HR targets to
  [-1, 1] and LR inputs to [0, 1]). Layout and parameter count (1,549,462 at defaults) match
  the sgrvinod PyTorch tutorial, so its checkpoints convert key by key.
* OnnxSRResNet: PyTorch's ONNX-example SRResNet (test/onnx/model_defs/srresnet.py, which the
  SRGAN authors' circulating weights fit): per-channel PReLU, bias-free convs before BN, no
  output activation (trained for [-1, 1]).
* LeftthomasSRGAN: leftthomas/SRGAN's Generator: 5 blocks, output (tanh + 1) / 2 in [0, 1].
* MSRResNet: BasicSR's "modified SRResNet" of the ESRGAN paper: no BN, 3x3 head and tail,
  an HR conv, the output the residual to bilinear(lr) (its own skeleton, see the class).

The three BN networks share `BNResNetTrunk`, whose layer names are the state-dict keys the
weight importer maps onto (published_weights/pytorch_networks.py).
"""
from ..compat import import_paddle
from .blocks import (
    BN_MOMENTUM,
    UPSAMPLERS,
    BilinearUpsample,
    NarrowConv2D,
    ResidualBlock,
    ResidualBlockNoBN,
    check_choice,
    check_input,
    check_scale,
    default_init_weights,
    make_activation,
    upsample_steps,
)
from .vgg import IMAGENET_MEAN, IMAGENET_STD

paddle = import_paddle()
nn = paddle.nn

INPUT_NORMS = ("none", "imagenet")


class BNResNetTrunk(nn.Layer):
    """The skeleton SRResNet, OnnxSRResNet and LeftthomasSRGAN share, up to the last conv:
    lr [N, in_channels, h, w] -> [N, out_channels, h*scale, w*scale], before the output
    activation each of them applies in its forward.

    Args (each subclass fixes those its published network fixes):
        act: 'prelu' (one slope per layer) or 'prelu_channel' (one per channel).
        conv_bias: bias in the convs of the residual blocks and the body end.
        body_end: after the residual blocks, 'conv_norm' (3x3 conv + BN) or 'conv_act'
            (3x3 conv + PReLU: older leftthomas/SRGAN files).
        upsampler: see blocks.UpsampleBlock; the resize-convolutions need body_kernel 3.
    """

    def __init__(self, in_channels, out_channels, num_feat, num_block, scale, head_kernel=9,
                 body_kernel=3, act="prelu", conv_bias=True, body_end="conv_norm",
                 upsampler="pixelshuffle"):
        super().__init__()
        who = type(self).__name__
        check_scale(scale, who)
        check_choice(who, "upsampler", upsampler, UPSAMPLERS)
        if upsampler != "pixelshuffle" and body_kernel != 3:
            raise ValueError(f"{who} upsampler {upsampler!r} needs body_kernel 3, got "
                             f"{body_kernel}")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.scale = scale
        self.body_end = body_end
        self.head_conv = nn.Conv2D(in_channels, num_feat, head_kernel, padding=head_kernel // 2)
        self.head_act = make_activation(act, num_feat)
        self.body = nn.Sequential(*[ResidualBlock(num_feat, body_kernel, act, conv_bias)
                                    for _ in range(num_block)])
        self.body_conv = nn.Conv2D(num_feat, num_feat, body_kernel, padding=body_kernel // 2,
                                   bias_attr=None if conv_bias else False)
        if body_end == "conv_norm":
            self.body_bn = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)
        else:
            self.body_act = make_activation(act, num_feat)
        self.upsample = upsample_steps(num_feat, scale, body_kernel, act, upsampler=upsampler)
        self.tail_conv = NarrowConv2D(num_feat, self.out_channels, head_kernel)

    def trunk(self, x):
        """[N, in_channels, h, w] -> [N, out_channels, h*scale, w*scale], the last conv's
        output (no output activation)."""
        head = self.head_act(self.head_conv(x))
        feat = self.body_conv(self.body(head))
        feat = self.body_bn(feat) if self.body_end == "conv_norm" else self.body_act(feat)
        return self.tail_conv(self.upsample(head + feat))


class SRResNet(BNResNetTrunk):
    """The SRGAN generator (the paper's network; the sgrvinod tutorial's SRResNet).

    Args:
        in_channels: channels of the LR input (3 for RGB, 1 for a single channel).
        out_channels: channels of the SR output; defaults to `in_channels`.
        num_feat: feature width (paper: 64).
        num_block: residual blocks (paper: 16).
        scale: 2, 4 or 8 (one x2 upsampling step per factor of 2).
        head_kernel: kernel of the first and last conv (paper: 9).
        body_kernel: kernel of the residual, body-end and upsampling convs (paper: 3).
        input_norm: 'none' (paper: the network sees LR in [0, 1]) or 'imagenet' (the network
            sees (lr - ImageNet mean) / std, as weights trained by the sgrvinod tutorial's
            scripts expect; RGB only). Either way the input given to forward is in [0, 1].
        upsampler: how each x2 step upsamples: 'pixelshuffle' (paper: sub-pixel conv),
            'nearest' or 'bilinear' (resize, then conv; see blocks.UpsampleBlock).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32 in [-1, 1] (tanh); trainer and
        evaluator map it to [0, 1] with `output_range`.
    """

    output_range = (-1.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4,
                 head_kernel=9, body_kernel=3, input_norm="none", upsampler="pixelshuffle"):
        check_choice("SRResNet", "input_norm", input_norm, INPUT_NORMS)
        if input_norm == "imagenet" and in_channels != 3:
            raise ValueError(f"SRResNet input_norm 'imagenet' needs 3 input channels, "
                             f"got {in_channels}")
        super().__init__(in_channels, out_channels, num_feat, num_block, scale, head_kernel,
                         body_kernel, upsampler=upsampler)
        self.input_norm = input_norm
        if input_norm == "imagenet":
            self.register_buffer("norm_mean", paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]),
                                 persistable=False)
            self.register_buffer("norm_std", paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]),
                                 persistable=False)

    def forward(self, lr):
        check_input(lr, self.in_channels, "SRResNet")
        x = (lr - self.norm_mean) / self.norm_std if self.input_norm == "imagenet" else lr
        return paddle.tanh(self.trunk(x))


class OnnxSRResNet(BNResNetTrunk):
    """PyTorch's ONNX-example SRResNet (pytorch test/onnx/model_defs/srresnet.py): the paper's
    skeleton with one PReLU slope per channel, bias-free convs before each BN, and no output
    activation; the weights that fit it were trained for outputs in [-1, 1].

    Args: in_channels, out_channels, num_feat, num_block, scale as SRResNet.
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32, meant to be in [-1, 1]
        (unbounded: evaluation clips it).
    """

    output_range = (-1.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4):
        super().__init__(in_channels, out_channels, num_feat, num_block, scale,
                         act="prelu_channel", conv_bias=False)

    def forward(self, lr):
        check_input(lr, self.in_channels, "OnnxSRResNet")
        return self.trunk(lr)


class LeftthomasSRGAN(BNResNetTrunk):
    """leftthomas/SRGAN's Generator (model.py): the paper's skeleton with 5 residual blocks
    and the output (tanh + 1) / 2 in [0, 1].

    Args: in_channels, out_channels, num_feat, num_block, scale as SRResNet, and
        body_end: 'conv_norm' (the repository's block7: conv + BN) or 'conv_act' (conv +
            PReLU, as its older netG_epoch_*.pth files have it).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32 in [0, 1].
    """

    output_range = (0.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=5, scale=4,
                 body_end="conv_norm"):
        check_choice("LeftthomasSRGAN", "body_end", body_end, ("conv_norm", "conv_act"))
        super().__init__(in_channels, out_channels, num_feat, num_block, scale,
                         body_end=body_end)

    def forward(self, lr):
        check_input(lr, self.in_channels, "LeftthomasSRGAN")
        return (paddle.tanh(self.trunk(lr)) + 1) / 2


# MSRResNet in the options of the one SRResNet class that emulated every layout before
# (models.legacy reads configs written then).
MSRRESNET_OPTIONS = {"head_kernel": 3, "norm": "none", "act": "leakyrelu", "negative_slope": 0.1,
                     "block_act": "relu", "body_end": "none", "global_skip": False,
                     "hr_conv": True, "input_skip": "bilinear", "output_act": "none",
                     "output_range": (0.0, 1.0)}


class MSRResNet(nn.Layer):
    """BasicSR's MSRResNet (basicsr/archs/srresnet_arch.py, the "modified SRResNet" of
    ESRGAN, Wang et al. 2018, section 3.1): SRResNet without BatchNorm, learning the residual
    to the bilinearly upsampled input.

        LR [N,C,h,w] in [0,1] -> 3x3 conv + LReLU(0.1) -> num_block x ResidualBlockNoBN
          -> log2(scale) x upsampling step (LReLU(0.1)) -> 3x3 conv + LReLU(0.1) at HR
          -> 3x3 conv, + bilinear(lr)
        SR [N,C,h*s,w*s], meant to be in [0, 1]

    No BN (whose train/test statistics gap makes small-batch training erratic), no skip past
    the residual blocks, no output activation. Every conv starts from Kaiming-normal weights
    scaled by 0.1 (BasicSR's `default_init_weights(..., 0.1)`), so a fresh network outputs
    almost exactly the bilinear upsampling and only has to learn the detail bilinear misses:
    that is why it trains in minutes where the paper's network needs hours.

    Args: in_channels, out_channels (must equal in_channels: the skip adds the input),
        num_feat, num_block, scale, upsampler as SRResNet.
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: sr [N, out_channels, h*scale, w*scale] float32, meant to be in [0, 1]
        (unbounded: evaluation clips it).
    """

    output_range = (0.0, 1.0)
    # As the former options spelt it (MSRRESNET_OPTIONS): no skip from the head features
    # past the residual blocks; the output is the residual to bilinear(lr).
    global_skip = False
    input_skip = "bilinear"

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_block=16, scale=4,
                 upsampler="pixelshuffle"):
        super().__init__()
        check_scale(scale, "MSRResNet")
        check_choice("MSRResNet", "upsampler", upsampler, UPSAMPLERS)
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        if self.out_channels != in_channels:
            raise ValueError(f"MSRResNet input_skip 'bilinear' needs out_channels == "
                             f"in_channels, got {self.out_channels} and {in_channels}")
        self.scale = scale
        self.head_conv = nn.Conv2D(in_channels, num_feat, 3, padding=1)
        self.head_act = nn.LeakyReLU(0.1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.upsample = upsample_steps(num_feat, scale, 3, "leakyrelu", 0.1, upsampler)
        self.hr_conv = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.hr_act = nn.LeakyReLU(0.1)
        self.tail_conv = NarrowConv2D(num_feat, self.out_channels, 3)
        self.input_upsample = BilinearUpsample(in_channels, scale)
        default_init_weights(self, 0.1)

    def forward(self, lr):
        check_input(lr, self.in_channels, "MSRResNet")
        feat = self.upsample(self.body(self.head_act(self.head_conv(lr))))
        return self.tail_conv(self.hr_act(self.hr_conv(feat))) + self.input_upsample(lr)
