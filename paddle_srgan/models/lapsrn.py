"""LapSRN (Lai et al., CVPR 2017): progressive x2 levels, one network for x2, x4 and x8.

    LR [N,C,h,w] in [0,1]
      feature branch: conv3 C->F + LReLU
        per level: depth x (conv3 F->F + LReLU), convT4 stride 2 F->F + LReLU  --> conv3 F->C
                                                                                   (residual)
      image branch:                        per level: convT4 stride 2 C->C (bilinear init)  +
    outputs: [x2, x4, (x8)], level k is [N, C, h*2^k, w*2^k], nominally in [0,1]

Each level predicts the residual between the bilinearly upsampled previous estimate and the
HR image at that scale, so coarse levels are supervised too (multi-scale Charbonnier loss,
losses.pixel_loss with criterion 'charbonnier', eps 1e-3).
"""
import math

import numpy as np

from ..compat import import_paddle
from .blocks import check_input, check_scale

paddle = import_paddle()
nn = paddle.nn


def bilinear_kernel(size):
    """[size, size] float32 bilinear interpolation filter of a stride size/2 upsampler."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size, dtype=np.float64)
    filt = 1 - np.abs(og - center) / factor
    return np.outer(filt, filt).astype(np.float32)


class LapSRNLevel(nn.Layer):
    """One x2 level: [N,F,h,w] features, [N,C,h,w] image -> features and image at 2h x 2w."""

    def __init__(self, channels, num_feat, depth):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Conv2D(num_feat, num_feat, 3, padding=1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2DTranspose(num_feat, num_feat, 4, stride=2, padding=1),
                   nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.residual = nn.Conv2D(num_feat, channels, 3, padding=1)
        # Image upsampling starts as bilinear x2 per channel and is learned from there.
        weight = np.zeros((channels, 1, 4, 4), np.float32)
        weight[:, 0] = bilinear_kernel(4)
        self.upsample = nn.Conv2DTranspose(
            channels, channels, 4, stride=2, padding=1, groups=channels, bias_attr=False,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Assign(weight)))

    def forward(self, feat, img):
        feat = self.features(feat)
        return feat, self.upsample(img) + self.residual(feat)


class LapSRN(nn.Layer):
    """Laplacian pyramid SR network.

    Args:
        in_channels: image channels (1 for one channel, e.g. Y or a stain; 3 for RGB).
        out_channels: must equal in_channels (the image branch upsamples the input); None = same.
        num_feat: feature width (paper: 64).
        depth: conv layers per level's feature embedding (paper: 10).
        scale: 2, 4 or 8 -> 1, 2 or 3 levels.
    Input:  lr [N, in_channels, h, w] float32 in [0, 1].
    Output: list of log2(scale) tensors, level k: [N, C, h*2^k, w*2^k], nominally in [0, 1]
            (not clipped: the loss sees the raw prediction).
    """

    output_range = (0.0, 1.0)

    def __init__(self, in_channels=1, out_channels=None, num_feat=64, depth=10, scale=4):
        super().__init__()
        check_scale(scale, "LapSRN")
        if out_channels not in (None, in_channels):
            raise ValueError(f"LapSRN out_channels ({out_channels}) must equal in_channels "
                             f"({in_channels})")
        self.in_channels = self.out_channels = in_channels
        self.scale = scale
        self.level_scales = tuple(2 ** k for k in range(1, int(math.log2(scale)) + 1))
        self.head = nn.Sequential(nn.Conv2D(in_channels, num_feat, 3, padding=1), nn.LeakyReLU(0.2))
        self.levels = nn.LayerList(
            [LapSRNLevel(in_channels, num_feat, depth) for _ in self.level_scales])

    def forward(self, lr):
        check_input(lr, self.in_channels, "LapSRN")
        feat, img, outputs = self.head(lr), lr, []
        for level in self.levels:
            feat, img = level(feat, img)
            outputs.append(img)
        return outputs
