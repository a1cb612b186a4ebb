"""Image degradation primitives: blur kernels, blur, resize, noise and JPEG, on numpy arrays
(numpy + OpenCV only: they run in DataLoader workers, which never import Paddle).

Conventions: images are float32 [H, W, C] in [0, 1] (C = 1 or 3, RGB) unless a function says
otherwise; kernels are float64 [k, k] with odd k, summing to 1; randomness comes only from a
``numpy.random.Generator`` passed in by the caller (see datasets.TrainPatches for why).

The kernel families are those of Real-ESRGAN (Wang et al., ICCVW 2021, section 3.1) with its
parametrisation: for an offset C = (x, y) from the kernel centre and the covariance
Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T, with q = C^T Sigma^-1 C,

    gaussian              exp(-q / 2)
    generalized gaussian  exp(-q^beta / 2)        (beta = 1: the Gaussian; beta is applied
                                                   to the quadratic form, so Real-ESRGAN's
                                                   beta is half the usual shape parameter)
    plateau               1 / (1 + q^beta)
    sinc (2-D ideal low-pass, radially symmetric)  omega_c J1(omega_c r) / (2 pi r)

each divided by its sum.
"""
import cv2
import numpy as np

from .colour import rgb_to_gray

__all__ = ["anisotropic_gaussian_kernel", "generalized_gaussian_kernel", "plateau_kernel",
           "sinc_kernel", "bessel_j1", "blur", "resize", "gaussian_noise", "poisson_noise",
           "jpeg", "INTERPOLATIONS", "MAX_KERNEL_SIZE"]

# The largest blur kernel side the degradations build (Real-ESRGAN draws 7..21): the bound of
# realworld's kernel_range and of --degrade blur's sigma (side 2 ceil(3 sigma) + 1). A
# kernel's cost grows with its area: a 2000-sigma blur (a side of 12001) ran without end.
MAX_KERNEL_SIZE = 61

# name -> OpenCV flag: the random resize's interpolation choices (Real-ESRGAN: area,
# bilinear, bicubic)
INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR,
                  "bicubic": cv2.INTER_CUBIC}


def _quadratic_form(size, sigma_x, sigma_y, theta):
    """q = C^T Sigma^-1 C on the size x size grid of offsets from the centre (float64)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"kernel sigmas must be > 0, got {sigma_x}, {sigma_y}")
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = rot @ np.diag([1.0 / sigma_x ** 2, 1.0 / sigma_y ** 2]) @ rot.T
    r = np.arange(size, dtype=np.float64) - size // 2
    x, y = np.meshgrid(r, r)  # x along columns, y along rows
    return inv[0, 0] * x * x + 2 * inv[0, 1] * x * y + inv[1, 1] * y * y


def anisotropic_gaussian_kernel(size, sigma_x, sigma_y=None, theta=0.0):
    """Gaussian blur kernel, normalised.

    Args:
        size: odd int >= 1 (Real-ESRGAN: 7..21).
        sigma_x, sigma_y: > 0, standard deviations (pixels) along the rotated axes
            (sigma_y None: isotropic, = sigma_x). Real-ESRGAN: [0.2, 3] (first stage).
        theta: rotation of the x axis, radians (any; Real-ESRGAN draws [-pi, pi]).

    Returns:
        float64 [size, size], sum 1.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    k = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta))
    return k / k.sum()


def generalized_gaussian_kernel(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """Generalized Gaussian kernel exp(-q^beta / 2), normalised; beta = 1 is the Gaussian.

    Args: as anisotropic_gaussian_kernel, plus beta > 0 (Real-ESRGAN: [0.5, 4]; < 1 heavier
    tails, > 1 flatter top and sharper fall-off).

    Returns:
        float64 [size, size], sum 1.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    k = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return k / k.sum()


def plateau_kernel(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """Plateau-shaped kernel 1 / (1 + q^beta), normalised.

    Args: as anisotropic_gaussian_kernel, plus beta > 0 (Real-ESRGAN: [1, 2]).

    Returns:
        float64 [size, size], sum 1.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    k = 1.0 / (1.0 + _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return k / k.sum()


def bessel_j1(x):
    """Bessel function of the first kind, order 1 (float64, same shape as ``x``).

    Bessel's integral J1(x) = 1/pi * int_0^pi cos(t - x sin t) dt, by the trapezoidal rule:
    the integrand is even and 2 pi-periodic in t, so the rule converges exponentially once
    the node count exceeds |x| (256 nodes: error < 1e-12 for |x| < 150). No scipy needed.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.abs(x).max(initial=0.0) >= 150:
        raise ValueError("bessel_j1: |x| must be < 150")
    n = 256
    t = np.linspace(0.0, np.pi, n + 1)
    w = np.full(n + 1, np.pi / n)
    w[[0, -1]] /= 2
    return np.cos(t - x[..., None] * np.sin(t)) @ w / np.pi


def sinc_kernel(size, cutoff):
    """2-D sinc (ideal circular low-pass) kernel, normalised: removes frequencies above
    ``cutoff``, the ringing/overshoot artifacts of real images.

    Args:
        size: odd int >= 1 (Real-ESRGAN: 7..21).
        cutoff: omega_c in radians per pixel, (0, pi] (Real-ESRGAN: [pi/3, pi], or
            [pi/5, pi] for sizes >= 13).

    Returns:
        float64 [size, size], sum 1; its Fourier transform is ~1 inside the disc of radius
        ``cutoff`` and ~0 outside (up to the ripple of truncating it to ``size``).
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    if not 0 < cutoff <= np.pi:
        raise ValueError(f"sinc cutoff must be in (0, pi], got {cutoff}")
    r1 = np.arange(size, dtype=np.float64) - size // 2
    r = np.hypot(*np.meshgrid(r1, r1))
    k = np.empty_like(r)
    centre = r == 0
    k[centre] = cutoff ** 2 / (4 * np.pi)  # the limit of the formula at r = 0
    k[~centre] = cutoff * bessel_j1(cutoff * r[~centre]) / (2 * np.pi * r[~centre])
    return k / k.sum()


def _keep_channels(out, like):
    """OpenCV drops a trailing channel axis of 1: put it back."""
    return out.reshape(out.shape[:2] + like.shape[2:])


def blur(img, kernel):
    """Convolve every channel with ``kernel`` (borders mirrored without repeating the edge,
    OpenCV's BORDER_REFLECT_101).

    Args:
        img: float32 [H, W, C].
        kernel: [k, k] (symmetric kernels here, so correlation = convolution).

    Returns:
        float32 [H, W, C] (not clipped; a sinc kernel can overshoot [0, 1]).
    """
    # A rank-1 kernel (isotropic Gaussians, 45% of Real-ESRGAN's draws) is the outer product
    # of two 1-D kernels: two 1-D passes do 2k instead of k^2 multiplications per pixel, the
    # same convolution up to float32 rounding (blur was half the pipeline's time).
    u, s, vt = np.linalg.svd(kernel)
    if s.size > 1 and s[1] <= 1e-9 * s[0]:
        column, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
        out = cv2.sepFilter2D(img, -1, row.astype(np.float32), column.astype(np.float32),
                              borderType=cv2.BORDER_REFLECT_101)
    else:
        out = cv2.filter2D(img, -1, kernel.astype(np.float32),
                           borderType=cv2.BORDER_REFLECT_101)
    return _keep_channels(out, img)


def resize(img, height, width, interpolation):
    """Resize to (height, width) with one of INTERPOLATIONS' names.

    Args:
        img: float32 [H, W, C].
        height, width: ints >= 1.
        interpolation: 'area', 'bilinear' or 'bicubic' (OpenCV's, no antialiasing except
            area's averaging).

    Returns:
        float32 [height, width, C].
    """
    out = cv2.resize(img, (int(width), int(height)), interpolation=INTERPOLATIONS[interpolation])
    return _keep_channels(out, img)


def _gray_or_colour(shape, gray, draw):
    """Noise of ``shape`` [H, W, C]: drawn once and shared by the channels when ``gray``."""
    if gray:
        return np.broadcast_to(draw(shape[:2] + (1,)), shape)
    return draw(shape)


def gaussian_noise(img, sigma, gray, rng):
    """Add white Gaussian noise.

    Args:
        img: float32 [H, W, C] in [0, 1].
        sigma: standard deviation on the 0-255 scale (Real-ESRGAN: [1, 30], then [1, 25]).
        gray: the same noise in every channel (luminance noise) instead of independent noise.
        rng: numpy.random.Generator (H*W*C, or H*W when gray, normal draws).

    Returns:
        float32 [H, W, C], clipped to [0, 1].
    """
    noise = _gray_or_colour(img.shape, gray, lambda s: rng.standard_normal(s, np.float32))
    return np.clip(img + noise * np.float32(sigma / 255.0), 0.0, 1.0)


def poisson_noise(img, scale, gray, rng):
    """Add signal-dependent (shot) noise: photon counts ~ Poisson(255 * intensity).

    The noise is scale * (Poisson(255 v) / 255 - v) for an intensity v, so its mean is 0 and
    its variance scale^2 * v / 255: proportional to the intensity. With ``gray`` the counts
    are drawn for the BT.601 luma and the same noise is added to every channel.

    Args:
        img: float32 [H, W, C] in [0, 1].
        scale: >= 0 (Real-ESRGAN: [0.05, 3], then [0.05, 2.5]).
        gray: luminance noise (see above) instead of independent per-channel noise.
        rng: numpy.random.Generator.

    Returns:
        float32 [H, W, C], clipped to [0, 1].
    """
    base = rgb_to_gray(img)[:, :, None] if gray and img.shape[2] == 3 else img  # linear: [0, 1]
    counts = np.clip(base, 0.0, 1.0).astype(np.float64) * 255.0
    # numpy draws one element at a time (its PTRS sampler, ~50 ns a draw): the draws are most
    # of this stage, the slowest primitive per call (benchmarks/bench_degradations.py). A
    # vectorised PTRS was 4.5x slower, and cheaper approximations change the distribution.
    noise = ((rng.poisson(counts) - counts) / 255.0 * scale).astype(np.float32)
    return np.clip(img + noise, 0.0, 1.0)  # a [H, W, 1] noise broadcasts over RGB


def jpeg(img, quality):
    """JPEG-compress and decompress (OpenCV's libjpeg, 4:2:0 chroma subsampling for RGB).

    Args:
        img: uint8 [H, W, C] RGB (or C = 1), or float32 in [0, 1] (rounded to 8 bit first).
        quality: int 1..100 (Real-ESRGAN: [30, 95]).

    Returns:
        uint8 [H, W, C], the decoded image.
    """
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    colour = img.shape[2] == 3
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1] if colour else img[:, :, 0],
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(out[:, :, ::-1]) if colour else out[:, :, None]
