"""paddle_srgan.metrics against published Set5 numbers and hand-computed values."""

import json
import math
import warnings

import numpy as np
import pytest

from paddle_srgan.data.colour import rgb_to_y
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.transforms import mod_crop
from paddle_srgan.metrics.scores import GRAY_PROTOCOL, protocol, psnr, remove_border, ssim

from conftest import SET5, read_rgb

# data/benchmarks/Set5/README.md: MATLAB bicubic x4, 4-pixel border.
# name: (PSNR Y, SSIM Y, PSNR RGB, SSIM RGB)
SET5_BICUBIC_X4 = {
    "baby": (31.7842, 0.85754, 30.3651, 0.82846),
    "bird": (30.1815, 0.87357, 28.2124, 0.84841),
    "butterfly": (22.0996, 0.73746, 20.8637, 0.70107),
    "head": (31.6133, 0.75461, 28.8905, 0.67328),
    "woman": (26.4665, 0.83250, 25.1291, 0.81422),
}
SET5_MEAN = (28.4290, 0.81114, 26.6921, 0.77309)
PSNR_TOL, SSIM_TOL = 0.005, 0.0003


@pytest.fixture(scope="module")
def set5_scores():
    """name -> (PSNR Y, SSIM Y, PSNR RGB, SSIM RGB) of MATLAB-bicubic x4 upsampling."""
    scores = {}
    for name in SET5_BICUBIC_X4:
        hr = read_rgb(SET5 / "HR" / f"{name}.png")
        sr = imresize(read_rgb(SET5 / "LR_bicubic" / "X4" / f"{name}.png"), 4)
        scores[name] = (psnr(sr, hr, crop_border=4), ssim(sr, hr, crop_border=4),
                        psnr(sr, hr, crop_border=4, y_channel=False),
                        ssim(sr, hr, crop_border=4, y_channel=False))
    return scores


def assert_scores(got, expected):
    for i, (g, e) in enumerate(zip(got, expected)):
        tol = PSNR_TOL if i % 2 == 0 else SSIM_TOL
        assert g == pytest.approx(e, abs=tol), (i, got, expected)


@pytest.mark.parametrize("name", sorted(SET5_BICUBIC_X4))
def test_set5_bicubic_x4_per_image(set5_scores, name):
    assert_scores(set5_scores[name], SET5_BICUBIC_X4[name])


def test_set5_bicubic_x4_means_match_readme_and_literature(set5_scores):
    means = np.mean(list(set5_scores.values()), axis=0)
    assert_scores(means, SET5_MEAN)
    # VDSR / EDSR / RCAN tables: 28.42 dB / 0.8104 (SSIM implementations differ by ~0.001).
    assert means[0] == pytest.approx(28.42, abs=0.01)
    assert means[1] == pytest.approx(0.8104, abs=0.001)


def test_set5_variants_from_readme():
    """Two documented variants pin down the protocol's choices: unrounded Y, and LR from
    MATLAB's per-pass rounding rather than the float port's single rounding."""
    rounded_y, float_port = [], []
    for name in SET5_BICUBIC_X4:
        hr = read_rgb(SET5 / "HR" / f"{name}.png")
        sr = imresize(read_rgb(SET5 / "LR_bicubic" / "X4" / f"{name}.png"), 4)
        # MATLAB rgb2ycbcr on uint8 rounds Y half away from zero; as gray images the
        # rounded Y planes are scored as they are.
        y_sr, y_hr = (np.floor(rgb_to_y(img) + 0.5) for img in (sr, hr))
        rounded_y.append((psnr(y_sr, y_hr, crop_border=4), ssim(y_sr, y_hr, crop_border=4)))
        sr_float = imresize(imresize(hr, 0.25, exact=False), 4, exact=False)
        float_port.append((psnr(sr_float, hr, crop_border=4), ssim(sr_float, hr, crop_border=4)))
    assert_scores(np.mean(rounded_y, axis=0), (28.4165, 0.81008))
    assert_scores(np.mean(float_port, axis=0), (28.4314, 0.81127))


def test_rgb_to_y_hand_values():
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                        [128, 128, 128]]], np.uint8)
    expected = [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966, 16 + 219 * 128 / 255]
    y = rgb_to_y(pixels)
    assert y.dtype == np.float64 and y.shape == (1, 6)
    np.testing.assert_allclose(y[0], expected, atol=1e-9)
    np.testing.assert_array_equal(rgb_to_y(pixels.astype(np.float32)), y)
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(pixels[..., :2])


def test_identical_images_give_inf_psnr_and_unit_ssim_silently():
    img = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(img, img.copy()) == float("inf")
        assert psnr(img, img, y_channel=False) == float("inf")
        assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_a_constant_offset():
    img = np.random.default_rng(1).integers(0, 250, (16, 20, 3), dtype=np.uint8)
    brighter = img + np.uint8(5)
    assert psnr(img, brighter, y_channel=False) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    # On Y the offset becomes 5 * (65.481 + 128.553 + 24.966) / 255 = 5 * 219 / 255.
    y_offset = 5 * 219 / 255
    assert psnr(img, brighter) == pytest.approx(10 * math.log10(255 ** 2 / y_offset ** 2))
    # Same data in [0, 1] with max_value=1 scores the same.
    assert psnr(img / 255.0, brighter / 255.0, max_value=1.0) == pytest.approx(psnr(img, brighter))


def test_crop_border_excludes_the_border():
    img = np.full((20, 20, 3), 100, np.uint8)
    other = img.copy()
    other[:3] = 0
    other[:, -3:] = 255
    assert math.isfinite(psnr(img, other, crop_border=2))
    assert psnr(img, other, crop_border=3) == float("inf")
    assert ssim(img, other, crop_border=3) == pytest.approx(1.0)
    assert ssim(img, other, crop_border=2) < 0.99


def test_gray_images_are_scored_as_they_are():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (30, 30)).astype(np.uint8)
    b = np.clip(a + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2)
    expected = 10 * math.log10(255 ** 2 / mse)
    for y_channel in (True, False):
        assert psnr(a, b, y_channel=y_channel) == pytest.approx(expected)
        assert psnr(a[..., None], b[..., None], y_channel=y_channel) == pytest.approx(expected)
    assert ssim(a, b) == ssim(a[..., None], b[..., None], y_channel=False)


def test_ssim_matches_scikit_image():
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    # skimage's Gaussian mode with population statistics is Wang et al.'s ssim_index.
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ref_rgb = structural_similarity(a.astype(float), b.astype(float), channel_axis=2, **kwargs)
    assert ssim(a, b, y_channel=False) == pytest.approx(ref_rgb, abs=1e-9)
    ref_y = structural_similarity(rgb_to_y(a), rgb_to_y(b), **kwargs)
    assert ssim(a, b) == pytest.approx(ref_y, abs=1e-9)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(10, 10, 3\).*\(10, 12, 3\)"):
        psnr(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(16, 16\).*\(16, 16, 3\)"):
        ssim(np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.uint8))


def test_bad_inputs_raise_clear_errors():
    img = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="crop border 10 leaves nothing of a 20x20"):
        psnr(img, img, crop_border=10)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(img, img, crop_border=5)
    with pytest.raises(ValueError, match="4 channels"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)))
    with pytest.raises(TypeError, match="uint16"):
        psnr(img.astype(np.uint16), img.astype(np.uint16))
    with pytest.raises(ValueError, match="crop border"):
        remove_border(img, -1)


def test_mod_crop_and_remove_border_shapes():
    img = np.arange(10 * 13 * 3).reshape(10, 13, 3)
    assert mod_crop(img, 4).shape == (8, 12, 3)
    assert mod_crop(img[..., 0], 3).shape == (9, 12)
    np.testing.assert_array_equal(mod_crop(img, 4), img[:8, :12])
    np.testing.assert_array_equal(remove_border(img, 2), img[2:8, 2:11])
    assert remove_border(img, 0) is img
    with pytest.raises(ValueError, match="scale"):
        mod_crop(img, 0)


def test_protocol_describes_the_literature_setting():
    described = protocol(4)
    assert described == {"y_channel": True, "y": "matlab-rgb2ycbcr-bt601-float",
                         "gray_images": GRAY_PROTOCOL,
                         "crop_border": 4, "psnr": "10*log10(255^2/mse)",
                         "ssim": "matlab-gaussian-11-1.5", "lr_from": "matlab-bicubic"}
    assert json.loads(json.dumps(protocol(2, y_channel=False)))["y"] is None
