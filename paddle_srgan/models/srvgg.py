"""SRVGGNetCompact, Real-ESRGAN's compact generator (realesr-animevideov3,
realesr-general-x4v3), in the layout of BasicSR's `basicsr/archs/srvgg_arch.py`:

    LR [N,C,h,w] in [0,1]
      -> conv3 (C -> F), act -> num_conv x (conv3 (F -> F), act) -> conv3 (F -> C*s*s)
      -> PixelShuffle(s)  + nearest-upsampled LR
    SR [N,C,h*s,w*s], meant to be in [0,1]

All convolutions run at LR, so it is a fraction of RRDBNet's cost; the network learns the
residual to the nearest upsampling. Parameters are `body.N` as in BasicSR (convs at even N,
activations at odd N); a per-channel PReLU's slopes are Paddle's `body.N._weight` (PyTorch:
`body.N.weight`), the one renaming a converted file needs.
"""
from ..compat import import_paddle
from .blocks import check_input, make_activation, nearest_upsample

paddle = import_paddle()
nn = paddle.nn

# BasicSR's act_type -> blocks.make_activation's kind (BasicSR 'prelu' is per channel; its
# 'leakyrelu' has slope 0.1)
ACT_TYPES = {"prelu": "prelu_channel", "leakyrelu": "leakyrelu", "relu": "relu"}
LEAKY_SLOPE = 0.1


class SRVGGNetCompact(nn.Layer):
    """Real-ESRGAN's compact VGG-style generator (see the module docstring).

    Args:
        in_channels: channels of the LR input (3 RGB, 1 single channel).
        out_channels: channels of the output; must equal `in_channels` (the upsampled input
            is added to it); defaults to it.
        num_feat: width (published: 64).
        num_conv: F -> F convolutions between the first and the last (published: 16 for
            realesr-animevideov3, 32 for realesr-general-x4v3).
        scale: upscaling factor (an integer >= 1; PixelShuffle(scale) at the end).
        act_type: 'prelu' (one learned slope per channel, published), 'leakyrelu' (0.1) or
            'relu'.
    Input:  lr [N, in_channels, h, w] float32 in [0, 1], any size.
    Output: sr [N, in_channels, h*scale, w*scale] float32, meant to be in [0, 1].
    """

    output_range = (0.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, num_feat=64, num_conv=16, scale=4,
                 act_type="prelu"):
        super().__init__()
        if act_type not in ACT_TYPES:
            raise ValueError(f"SRVGGNetCompact act_type must be one of {list(ACT_TYPES)}, "
                             f"got {act_type!r}")
        if out_channels not in (None, in_channels):
            raise ValueError(f"SRVGGNetCompact adds the upsampled input to its output, so "
                             f"out_channels must equal in_channels ({in_channels}), got "
                             f"{out_channels}")
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f"SRVGGNetCompact scale must be an integer >= 1, got {scale!r}")
        self.in_channels = self.out_channels = in_channels
        self.scale = scale
        layers, width = [], in_channels
        for _ in range(num_conv + 1):
            layers += [nn.Conv2D(width, num_feat, 3, padding=1),
                       make_activation(ACT_TYPES[act_type], num_feat, LEAKY_SLOPE)]
            width = num_feat
        layers.append(nn.Conv2D(num_feat, in_channels * scale * scale, 3, padding=1))
        self.body = nn.LayerList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, lr):
        check_input(lr, self.in_channels, "SRVGGNetCompact")
        out = lr
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + nearest_upsample(lr, self.scale)
