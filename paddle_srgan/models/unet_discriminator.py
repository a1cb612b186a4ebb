"""Real-ESRGAN's discriminator: BasicSR's UNetDiscriminatorSN
(`basicsr/archs/discriminator_arch.py`, Real-ESRGAN paper section 4.2), a U-Net with spectral
normalisation that scores every pixel:

    img [N,C,H,W]  (H, W multiples of 8)
      -> conv0 (3x3, bias) = x0 -> conv1, conv2, conv3 (4x4 stride 2, SN) = x1, x2, x3
      -> bilinear x2, conv4 (SN) [+ x2] -> bilinear x2, conv5 (SN) [+ x1]
      -> bilinear x2, conv6 (SN) [+ x0] -> conv7, conv8 (SN) -> conv9 (3x3, bias)
    logits [N, 1, H, W]
    (LeakyReLU 0.2 after every conv but conv9; widths F, 2F, 4F, 8F, 4F, 2F, F, F, F, 1)

Spectral normalisation is paddle.nn.utils.spectral_norm, which on Paddle 2.6.2 and 3.3 is
PyTorch's torch.nn.utils.spectral_norm line for line (checked against the PyTorch fixture):
the weight is W / sigma with sigma = u . (W v); in train mode each forward first runs one power
iteration (v = normalize(W^T u), u = normalize(W v), eps 1e-12) that updates u and v in place,
in eval mode the stored u, v are used as they are. u and v are persistable buffers, so the
state dict holds `convK.weight_orig` (the learned parameter), `convK.weight_u` [out] and
`convK.weight_v` [in*kh*kw], PyTorch's names and shapes: a checkpoint restores the
power-iteration state and a resumed run continues exactly. (paddle.nn.SpectralNorm, the
layer, does not fit: its u, v are trainable parameters the optimizer would move, and it never
writes back its power iterations, so sigma would not converge across steps.)
"""
from ..compat import import_paddle
from .blocks import check_input

paddle = import_paddle()
nn = paddle.nn

SN_EPS = 1e-12  # PyTorch's and Paddle's default


def sn_conv(in_channels, out_channels, kernel, stride):
    """A bias-free Conv2D with spectral-normalised weight (one power iteration per train-mode
    forward, u / v in the state dict); padding 1."""
    conv = nn.Conv2D(in_channels, out_channels, kernel, stride=stride, padding=1,
                     bias_attr=False)
    return nn.utils.spectral_norm(conv, n_power_iterations=1, eps=SN_EPS, dim=0)


class UNetDiscriminatorSN(nn.Layer):
    """Per-pixel real/fake critic (see the module docstring).

    Args:
        in_channels: image channels (3 RGB, 1 single channel).
        num_feat: width of the first level (Real-ESRGAN: 64).
        skip_connection: add the encoder's maps to the decoder's (Real-ESRGAN: True).
    Input:  img [N, in_channels, H, W] float32 (in G's output range), H and W multiples of 8.
    Output: logits [N, 1, H, W] float32 (> 0 means "real" at that pixel); forward_features:
            also the maps.
    """

    def __init__(self, in_channels=3, num_feat=64, skip_connection=True):
        super().__init__()
        self.in_channels = in_channels
        self.skip_connection = skip_connection
        f = num_feat
        self.conv0 = nn.Conv2D(in_channels, f, 3, padding=1)
        self.conv1 = sn_conv(f, f * 2, 4, 2)
        self.conv2 = sn_conv(f * 2, f * 4, 4, 2)
        self.conv3 = sn_conv(f * 4, f * 8, 4, 2)
        self.conv4 = sn_conv(f * 8, f * 4, 3, 1)
        self.conv5 = sn_conv(f * 4, f * 2, 3, 1)
        self.conv6 = sn_conv(f * 2, f, 3, 1)
        self.conv7 = sn_conv(f, f, 3, 1)
        self.conv8 = sn_conv(f, f, 3, 1)
        self.conv9 = nn.Conv2D(f, 1, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2)

    def _up(self, x):
        return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, img):
        return self.forward_features(img)[1]

    def forward_features(self, img):
        """(feature maps, logits): the activation after each convolution but the last (the
        encoder's x0..x3, the decoder's after their skip sums, conv7's and conv8's), the
        inputs of a feature-matching content loss, and the logits of `forward`."""
        check_input(img, self.in_channels, "UNetDiscriminatorSN")
        if img.shape[2] % 8 or img.shape[3] % 8:
            raise ValueError(f"UNetDiscriminatorSN needs height and width divisible by 8 (three "
                             f"stride-2 levels), got shape {list(img.shape)}")
        maps = [self.lrelu(self.conv0(img))]
        for conv in (self.conv1, self.conv2, self.conv3):
            maps.append(self.lrelu(conv(maps[-1])))
        for conv, skip in ((self.conv4, maps[2]), (self.conv5, maps[1]), (self.conv6, maps[0])):
            x = self.lrelu(conv(self._up(maps[-1])))
            maps.append(x + skip if self.skip_connection else x)
        for conv in (self.conv7, self.conv8):
            maps.append(self.lrelu(conv(maps[-1])))
        return maps, self.conv9(maps[-1])
