"""ESRGAN's discriminator: BasicSR's VGGStyleDiscriminator (`basicsr/archs/discriminator_arch.py`)
for 128x128 crops (or 256x256 with one more stage), as the ESRGAN recipe trains it.

    img [N,C,128,128]
      -> conv0_0 (3x3, bias), LeakyReLU 0.2 -> conv0_1 (4x4 stride 2), BN, LeakyReLU
      -> for i in 1..4 (5 at 256): conv{i}_0 (3x3), BN, LReLU -> conv{i}_1 (4x4 s2), BN, LReLU
         widths F, 2F, 4F, 8F, 8F (F = num_feat; 8F for stage 5)
      -> flatten [N, 8F*4*4] -> linear1 (100), LeakyReLU 0.2 -> linear2 (1)
    logits [N, 1]

Names are BasicSR's. Paddle stores BatchNorm's running statistics as `_mean` / `_variance`
(PyTorch: running_mean / running_var, and no num_batches_tracked) and Linear weights as
[in, out] (PyTorch: [out, in]). Paddle updates the running variance with the biased batch
variance, PyTorch with the unbiased one: train-mode outputs are the same, the running
variance after a step differs in its batch part by n / (n - 1), n = N*H*W values per channel
(1.03 at the last stage's 4x4 maps with a batch of 2).
"""
from ..compat import import_paddle
from .blocks import BN_MOMENTUM, check_input

paddle = import_paddle()
nn = paddle.nn

INPUT_SIZES = (128, 256)


class VGGStyleDiscriminator(nn.Layer):
    """Real/fake critic of fixed-size crops (see the module docstring).

    Args:
        in_channels: image channels (3 RGB, 1 single channel).
        num_feat: width of the first stage (ESRGAN: 64).
        input_size: 128 (ESRGAN) or 256 (one more stride-2 stage): the crop side it takes.
    Input:  img [N, in_channels, input_size, input_size] float32 (in G's output range).
    Output: logits [N, 1] float32 (> 0 means "real"); forward_features: also the maps.
    """

    def __init__(self, in_channels=3, num_feat=64, input_size=128):
        super().__init__()
        if input_size not in INPUT_SIZES:
            raise ValueError(f"VGGStyleDiscriminator input_size must be one of "
                             f"{list(INPUT_SIZES)}, got {input_size}")
        self.in_channels = in_channels
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8, num_feat * 8]
        stages = 5 if input_size == 128 else 6
        self.conv0_0 = nn.Conv2D(in_channels, num_feat, 3, padding=1)
        self.conv0_1 = nn.Conv2D(num_feat, num_feat, 4, stride=2, padding=1, bias_attr=False)
        self.bn0_1 = nn.BatchNorm2D(num_feat, momentum=BN_MOMENTUM)
        self.stages = [(self.conv0_1, self.bn0_1)]
        for i in range(1, stages):
            for j, (kernel, stride, width_in) in enumerate([(3, 1, widths[i - 1]),
                                                            (4, 2, widths[i])]):
                conv = nn.Conv2D(width_in, widths[i], kernel, stride=stride, padding=1,
                                 bias_attr=False)
                norm = nn.BatchNorm2D(widths[i], momentum=BN_MOMENTUM)
                self.add_sublayer(f"conv{i}_{j}", conv)
                self.add_sublayer(f"bn{i}_{j}", norm)
                self.stages.append((conv, norm))
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, img):
        return self.forward_features(img)[1]

    def forward_features(self, img):
        """(feature maps, logits): the activation after each convolution ([N, C_i, H_i, W_i],
        the inputs of a feature-matching content loss) and the logits of `forward`."""
        check_input(img, self.in_channels, "VGGStyleDiscriminator")
        if list(img.shape[2:]) != [self.input_size] * 2:
            raise ValueError(f"VGGStyleDiscriminator takes {self.input_size}x{self.input_size} "
                             f"crops (input_size), got shape {list(img.shape)}")
        maps = [self.lrelu(self.conv0_0(img))]
        for conv, norm in self.stages:
            maps.append(self.lrelu(norm(conv(maps[-1]))))
        feat = self.lrelu(self.linear1(paddle.flatten(maps[-1], start_axis=1)))
        return maps, self.linear2(feat)
