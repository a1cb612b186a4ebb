"""MS-SSIM (metrics/multiscale.py) against a direct re-implementation of Wang, Simoncelli and
Bovik (2003) written here from the paper: scipy's Gaussian correlation for SSIM's statistics,
block means for the 2x2 averaging; and its identities (x vs x is 1, more noise scores lower)."""
import numpy as np
import pytest
from scipy.ndimage import correlate

from paddle_srgan.data.colour import rgb_to_y
from paddle_srgan.metrics.multiscale import msssim, msssim_fits
from paddle_srgan.metrics.table import metric

from conftest import SET5, read_rgb

PAPER_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def msssim_from_the_paper(x, y):
    """MS-SSIM of two float [H, W] images in [0, 255]: at scales 1..5, c_j * s_j =
    (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2) averaged over the 'valid' 11x11 Gaussian
    (sigma 1.5) windows, and at scale 5 the full SSIM l * c * s; product of the terms raised
    to the published weights; each next scale is the 2x2 block mean of the last (odd sides:
    the last row/column repeated)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    t = np.arange(11) - 5.0
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    result = 1.0
    for j, weight in enumerate(PAPER_WEIGHTS):
        def mean(img):  # correlate centres the window: keep the 'valid' part only
            return correlate(img, window, mode="constant")[5:-5, 5:-5]
        mx, my = mean(x), mean(y)
        vx, vy, cxy = mean(x * x) - mx ** 2, mean(y * y) - my ** 2, mean(x * y) - mx * my
        term = (2 * cxy + c2) / (vx + vy + c2)
        if j == len(PAPER_WEIGHTS) - 1:
            term = term * (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
        result *= term.mean() ** weight
        x, y = (np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)), mode="edge") for a in (x, y))
        x, y = (a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3)) for a in (x, y))
    return result


@pytest.fixture(scope="module")
def butterfly():
    return read_rgb(SET5 / "HR" / "butterfly.png")  # 256x256 RGB


def noisy(img, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("sigma", [3, 20])
def test_msssim_equals_the_papers_formula_on_y(butterfly, sigma):
    distorted = noisy(butterfly, sigma)
    expected = msssim_from_the_paper(rgb_to_y(butterfly)[4:-4, 4:-4],
                                     rgb_to_y(distorted)[4:-4, 4:-4])
    assert msssim(butterfly, distorted, crop_border=4) == pytest.approx(expected, abs=1e-10)


def test_odd_sides_and_gray_images(butterfly):
    """A 203x177 gray image: odd sides at several scales (the last row/column repeated)."""
    gray = rgb_to_y(butterfly)[:203, :177].round()
    distorted = noisy(gray, 10).astype(np.float64)
    assert msssim(gray, distorted) == pytest.approx(msssim_from_the_paper(gray, distorted),
                                                    abs=1e-10)


def test_identity_monotony_and_size(butterfly):
    assert msssim(butterfly, butterfly, crop_border=4) == pytest.approx(1.0, abs=1e-12)
    scores = [msssim(butterfly, noisy(butterfly, s), crop_border=4) for s in (2, 8, 24, 64)]
    assert all(a > b for a, b in zip(scores, scores[1:])) and 0 < scores[-1] < scores[0] < 1
    # 161 pixels keep the 11x11 window at the fifth scale (161 -> 81 -> 41 -> 21 -> 11)
    assert msssim_fits((169, 169), 4) and not msssim_fits((168, 300), 4)
    msssim(butterfly[:161, :161], butterfly[:161, :161])
    with pytest.raises(ValueError, match="ms-ssim needs at least 161x161 pixels after cropping"):
        msssim(butterfly[:160], butterfly[:160])


def test_msssim_is_an_entry_of_the_metrics_table(butterfly):
    """The table's entry scores through the function, higher is better, on the luma."""
    entry = metric("msssim")
    distorted = noisy(butterfly, 8)
    assert entry(butterfly, distorted, crop_border=4, y_channel=True, gray=False, period=4,
                 net=None) == msssim(butterfly, distorted, crop_border=4)
    assert entry.reference and not entry.lower_is_better and entry.channels == "luma"
    assert entry.better(0.9, 0.8) and not entry.fit((160, 400), 0)
