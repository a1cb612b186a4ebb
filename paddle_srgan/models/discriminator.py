"""SRGAN discriminator (Ledig et al. 2017, Fig. 4, bottom).

8 conv3 blocks with widths F,F,2F,2F,4F,4F,8F,8F (F = 64), stride 2 on every second block, BN
from block 2 on, LeakyReLU(0.2); adaptive average pool to 6x6 (the paper's 96x96 crops give 6x6
after four stride-2 blocks; the pool lets 384 crops and other sizes through unchanged in
meaning); dense 1024, LeakyReLU(0.2), dense 1. Returns logits: the sigmoid lives in the BCE loss,
which is numerically safer. 23,565,505 parameters at defaults, like the PyTorch reference.
"""
from ..compat import import_paddle
from .blocks import BN_MOMENTUM, check_input

paddle = import_paddle()
nn = paddle.nn


class Discriminator(nn.Layer):
    """Real/fake critic.

    Args:
        in_channels: image channels (3 RGB, 1 single channel).
        num_feat: width of the first block (paper: 64).
        num_block: conv blocks (paper: 8, an even number).
        fc_size: width of the hidden dense layer (paper: 1024).
        pool_size: side of the adaptive average pool before the dense layers (6).
    Input:  img [N, in_channels, H, W] float32 in [-1, 1] (HR range), H, W >= 16.
    Output: logits [N, 1] float32 (>0 means "real").
    """

    def __init__(self, in_channels=3, num_feat=64, num_block=8, fc_size=1024, pool_size=6):
        super().__init__()
        self.in_channels = in_channels
        layers, channels = [], in_channels
        for i in range(num_block):
            out = num_feat * 2 ** (i // 2)
            layers.append(nn.Conv2D(channels, out, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2D(out, momentum=BN_MOMENTUM))
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2D(pool_size)
        self.fc1 = nn.Linear(channels * pool_size * pool_size, fc_size)
        self.act = nn.LeakyReLU(0.2)
        self.fc2 = nn.Linear(fc_size, 1)

    def forward(self, img):
        return self.forward_features(img)[1]

    def forward_features(self, img):
        """(feature maps, logits): the activation after each conv block ([N, C_i, H_i, W_i],
        the inputs of a feature-matching content loss) and the logits of `forward`."""
        check_input(img, self.in_channels, "Discriminator")
        maps, x = [], img
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                maps.append(x)
        feat = paddle.flatten(self.pool(x), start_axis=1)
        return maps, self.fc2(self.act(self.fc1(feat)))
