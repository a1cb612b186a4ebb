"""RRDBNet, the ESRGAN generator (Wang et al. 2018, "ESRGAN", section 3.1, Fig. 4), in the
layout of BasicSR's `basicsr/archs/rrdbnet_arch.py`, which Real-ESRGAN's RRDB files use too:

    LR [N,C,h,w] in [0,1]   (x2 / x1: pixel-unshuffled by 2 / 4 first, C*4 / C*16 channels)
      -> conv_first ----------------------------------.  (trunk skip)
      -> num_block x RRDB -> conv_body ---------------+
      -> 2 x (nearest x2, conv_up1 / conv_up2, LeakyReLU 0.2)
      -> conv_hr, LeakyReLU 0.2 -> conv_last
    SR [N,C_out,h*s,w*s], meant to be in [0,1] (no output activation; evaluation clips)

An RRDB is three residual dense blocks (rdb1..rdb3), each five 3x3 convs densely connected
(every conv sees the block input and all earlier outputs, `num_grow_ch` channels each) with
LeakyReLU 0.2 after the first four, its residual scaled by 0.2; the RRDB's own residual is
scaled by 0.2 again. No batch norm (section 3.1: BN brings artefacts when the training and
test statistics differ). Parameter names are BasicSR's (conv_first, body.N.rdb1.conv1,
conv_body, conv_up1, conv_up2, conv_hr, conv_last), so a BasicSR / Real-ESRGAN state dict
loads without renaming.
"""

from ..compat import import_paddle
from .blocks import (
    check_input,
    crop_to,
    default_init_weights,
    nearest_upsample,
    pad_to_multiple,
    pixel_unshuffle,
)

paddle = import_paddle()
nn = paddle.nn

# scale -> the pixel-unshuffle factor that makes it the x4 network (Real-ESRGAN's x2plus)
UNSHUFFLE = {4: 1, 2: 2, 1: 4}
# BasicSR's residual scaling of the dense blocks and RRDBs, and its LeakyReLU slope
RESIDUAL_SCALE = 0.2
NEGATIVE_SLOPE = 0.2


class ResidualDenseBlock(nn.Layer):
    """conv1..conv5 (3x3), conv k sees the input and the outputs of convs 1..k-1 concatenated;
    x + 0.2 * conv5(...). [N, num_feat, h, w] -> same shape."""

    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        self.convs = [nn.Conv2D(num_feat + k * num_grow_ch, num_grow_ch, 3, padding=1)
                      for k in range(4)]
        self.convs.append(nn.Conv2D(num_feat + 4 * num_grow_ch, num_feat, 3, padding=1))
        for k, conv in enumerate(self.convs, 1):
            self.add_sublayer(f"conv{k}", conv)  # BasicSR's names: rdbN.conv1 ... conv5
        self.lrelu = nn.LeakyReLU(NEGATIVE_SLOPE)
        default_init_weights(self, 0.1)

    def forward(self, x):
        feats = [x]
        for conv in self.convs[:4]:
            feats.append(self.lrelu(conv(paddle.concat(feats, axis=1))))
        return self.convs[4](paddle.concat(feats, axis=1)) * RESIDUAL_SCALE + x


class RRDB(nn.Layer):
    """Residual in residual dense block: x + 0.2 * rdb3(rdb2(rdb1(x))), shape kept."""

    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


class RRDBNet(nn.Layer):
    """ESRGAN's generator (see the module docstring).

    Args:
        in_channels: channels of the LR input (3 RGB, 1 single channel).
        out_channels: channels of the output; defaults to `in_channels`.
        scale: 4 (ESRGAN), 2 or 1 (Real-ESRGAN's x2plus / x1: the input is pixel-unshuffled
            by 2 / 4 into in_channels*4 / *16 channels, then the x4 network runs on it).
        num_feat: trunk width (paper: 64).
        num_block: RRDBs (paper: 23).
        num_grow_ch: channels each dense conv adds (paper: 32).
    Input:  lr [N, in_channels, h, w] float32 in [0, 1], any h, w >= 1: for x2 / x1 it is
        padded at the bottom and right to a multiple of 2 / 4 (replicating the border, see
        blocks.pad_to_multiple) and the output cropped to h*scale x w*scale, so export,
        the predictor and ONNX take any size as they do for x4. The unshuffle makes x2 / x1
        shift-equivariant only by multiples of 2 / 4 LR pixels: a tile whose window starts
        elsewhere sees its pixels grouped differently from the whole image, so
        deploy/tiling.py starts windows at multiples of the measured shift period.
    Output: sr [N, out_channels, h*scale, w*scale] float32, meant to be in [0, 1].
    """

    output_range = (0.0, 1.0)

    def __init__(self, in_channels=3, out_channels=None, scale=4, num_feat=64, num_block=23,
                 num_grow_ch=32):
        super().__init__()
        if scale not in UNSHUFFLE:
            raise ValueError(f"RRDBNet scale must be 1, 2 or 4, got {scale}")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.scale = scale
        self.unshuffle = UNSHUFFLE[scale]
        self.conv_first = nn.Conv2D(in_channels * self.unshuffle ** 2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2D(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2D(num_feat, self.out_channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, lr):
        check_input(lr, self.in_channels, "RRDBNet")
        x = lr
        if self.unshuffle > 1:
            x = pixel_unshuffle(pad_to_multiple(lr, self.unshuffle), self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(nearest_upsample(feat, 2)))
        feat = self.lrelu(self.conv_up2(nearest_upsample(feat, 2)))
        sr = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return crop_to(sr, lr, self.scale) if self.unshuffle > 1 else sr
