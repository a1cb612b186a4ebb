"""Real-ESRGAN's unsharp masking of the training target (Wang et al. 2021, section 4.3: the
generator learns to produce sharper images than the ground truth it is given), as Real-ESRGAN's
USMSharp (BasicSR basicsr/utils/img_process_util.py), in Paddle: it runs on the device inside
the training step, on the HR batch.

    blur     = G * img        G: cv2.getGaussianKernel(k, sigma 0) times its transpose, k =
                                 `radius` made odd; reflect padding (cv2's BORDER_REFLECT_101,
                                 torch's and Paddle's 'reflect'), each channel alone
    residual = img - blur
    mask     = |residual| * 255 > threshold          (0 / 1: edges, not flat noise)
    soft     = G * mask
    sharp    = clip(img + weight * residual, 0, 1)
    out      = soft * sharp + (1 - soft) * img

The 2-D Gaussian is separable: a vertical then a horizontal pass over the padded image give
the 2-D filter's values with 2k instead of k^2 multiplies a pixel (51 vs 2601 at radius 50).
"""
import cv2

from .compat import import_paddle
from .loss_settings import usm_kernel_size

paddle = import_paddle()
F = paddle.nn.functional


class USMSharp(paddle.nn.Layer):
    """Unsharp masking of images in [0, 1] (see the module docstring).

    Args:
        weight: amount of the residual added back (config `losses.usm.weight`, 0.5).
        radius: side of the Gaussian kernel, made odd (`losses.usm.radius`, 50 -> 51; its
            sigma is OpenCV's for that side and sigma 0: 8.0 at 51).
        threshold: |img - blur| in 0..255 levels above which a pixel is sharpened
            (`losses.usm.threshold`, 10).
    Input:  img [N, C, H, W] float32 in [0, 1], H and W > kernel side // 2 (reflection).
    Output: [N, C, H, W] float32 in [0, 1].
    """

    def __init__(self, weight=0.5, radius=50, threshold=10):
        super().__init__()
        self.weight, self.threshold = weight, threshold
        self.size = usm_kernel_size(radius)
        taps = cv2.getGaussianKernel(self.size, 0).reshape(-1).astype("float32")
        self.register_buffer("taps", paddle.to_tensor(taps), persistable=False)

    def blur(self, img):
        """img [N, C, H, W] -> each channel filtered by the 2-D Gaussian, same shape."""
        n, c, h, w = img.shape
        half = self.size // 2
        if min(h, w) <= half:
            raise ValueError(f"USM sharpening with a {self.size}x{self.size} kernel "
                             f"(losses.usm.radius) needs images larger than {half} pixels a "
                             f"side, got shape {list(img.shape)}")
        x = F.pad(img.reshape([n * c, 1, h, w]), [half] * 4, mode="reflect")
        x = F.conv2d(x, self.taps.reshape([1, 1, self.size, 1]))
        x = F.conv2d(x, self.taps.reshape([1, 1, 1, self.size]))
        return x.reshape([n, c, h, w])

    def forward(self, img):
        residual = img - self.blur(img)
        mask = (residual.abs() * 255 > self.threshold).astype(img.dtype)
        soft = self.blur(mask)
        sharp = paddle.clip(img + self.weight * residual, 0.0, 1.0)
        return soft * sharp + (1 - soft) * img
