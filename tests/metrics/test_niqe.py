"""NIQE and the periodic-artifact score (paddle_srgan.metrics): against BasicSR 1.4.2's own
NIQE (tests/fixtures/niqe_basicsr.json, made by make_niqe_fixture.py), and by construction."""
import json

import cv2
import numpy as np
import pytest
import skimage.data

from paddle_srgan.metrics import scores as metrics
from paddle_srgan.metrics.naturalness import BLOCK, aggd_fit, pristine_model

from conftest import FIXTURES, SET5, read_rgb

REFERENCE = json.loads((FIXTURES / "niqe_basicsr.json").read_text())["niqe"]


def fixture_image(name):
    """The image a fixture entry was computed on (make_niqe_fixture.images), RGB or gray."""
    if name == "skimage/camera":
        return skimage.data.camera()
    stem = name.split("/")[1].replace("_opencv_bicubic_x4", "")
    if name.endswith("_opencv_bicubic_x4"):
        lr = cv2.imread(str(SET5 / "LR_bicubic" / "X4" / f"{stem}.png"), cv2.IMREAD_COLOR)
        return cv2.resize(lr, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)[:, :, ::-1]
    return read_rgb(SET5 / "HR" / f"{stem}.png")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_niqe_equals_basicsr_in_double_precision(name):
    # BasicSR's algorithm with its resize in float64 (MATLAB's precision): the same numbers
    ours = metrics.niqe(fixture_image(name), crop_border=4)
    assert ours == pytest.approx(REFERENCE[name]["basicsr_float64"], abs=1e-4)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_niqe_near_basicsr_as_shipped(name):
    """BasicSR as shipped computes in float32. With >= 20 blocks the two agree to 1e-2 (most
    to 1e-3); with 4 blocks (the 36x36 covariance then has rank 3 and its pseudo-inverse
    magnifies rounding) they can differ by 0.34 (Set5 head)."""
    img = fixture_image(name)
    blocks = ((img.shape[0] - 8) // BLOCK) * ((img.shape[1] - 8) // BLOCK)
    ours, shipped = metrics.niqe(img, crop_border=4), REFERENCE[name]["basicsr"]
    assert ours == pytest.approx(shipped, abs=1e-2 if blocks >= 20 else 0.4)


def test_niqe_ranks_sharp_photos_above_their_bicubic_upsamplings():
    for stem in ("baby", "bird", "butterfly", "woman"):
        hr = metrics.niqe(fixture_image(f"Set5/{stem}"), 4)
        blurry = metrics.niqe(fixture_image(f"Set5/{stem}_opencv_bicubic_x4"), 4)
        assert hr + 1.5 < blurry, stem


def test_niqe_input_forms():
    rgb = read_rgb(SET5 / "HR" / "baby.png")
    assert metrics.niqe(rgb.astype(np.float32), 4) == metrics.niqe(rgb, 4)
    gray = skimage.data.camera()
    value = metrics.niqe(gray)
    assert metrics.niqe(gray[..., None]) == value
    # an RGB output for a gray source is scored on the gray scale (rgb_to_gray), as PSNR is
    assert metrics.niqe(np.repeat(gray[..., None], 3, axis=2), gray=True) == \
        pytest.approx(value, abs=1e-9)


def test_niqe_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="at least two 96x96 blocks"):
        metrics.niqe(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8 or float"):
        metrics.niqe(np.zeros((200, 200), np.int32))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        metrics.niqe(np.zeros((200, 200, 4), np.uint8))


@pytest.mark.parametrize("level", [0, 128])
def test_flat_images_have_no_niqe_or_grid_score(level):
    """A flat image has no MSCN statistics and no spectrum: both scores are undefined, said so
    (metrics.UndefinedScore, a ValueError) instead of an SVD failure or -inf dB."""
    flat = np.full((256, 256, 3), level, np.uint8)
    with np.errstate(all="raise"):  # and no divide-by-zero on the way
        with pytest.raises(metrics.UndefinedScore, match="two 96x96 blocks with texture"):
            metrics.niqe(flat)
        with pytest.raises(metrics.UndefinedScore, match="flat"):
            metrics.periodic_artifacts(flat)


def test_niqe_needs_two_textured_blocks_not_a_textured_image():
    """One textured block among flat ones is still no covariance; two are enough. The texture
    stays 12 pixels inside its block, so neither the 7x7 window nor the half-size resize
    carries it into a neighbour."""
    camera = skimage.data.camera().astype(np.float64)
    img = np.full((BLOCK, 4 * BLOCK), 128.0)
    inner = slice(12, BLOCK - 12)
    img[inner, inner] = camera[inner, inner]
    with pytest.raises(metrics.UndefinedScore, match="got 1 of 4"):
        metrics.niqe(img)
    img[inner, 2 * BLOCK + 12:3 * BLOCK - 12] = camera[inner, 200:200 + BLOCK - 24]
    assert np.isfinite(metrics.niqe(img))


def test_aggd_fit_recovers_a_known_distribution():
    # an asymmetric Laplacian (AGGD of shape 1) with left and right scales 1 and 2: each side
    # is exponential with its scale, holding a share of the mass proportional to it
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(1.0, 100000), rng.exponential(2.0, 200000)])
    shape, left, right = aggd_fit(x)
    assert shape == pytest.approx(1.0, abs=0.03)
    assert (left, right) == pytest.approx((1.0, 2.0), rel=0.02)


def test_pristine_model_is_the_published_one():
    mu, cov, window = pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36) and window.shape == (7, 7)
    np.testing.assert_allclose(cov, cov.T, atol=1e-12)
    assert window.sum() == pytest.approx(1.0) and window[3, 3] == window.max()


def test_periodic_artifacts_see_a_period_4_grid_and_nothing_else():
    photo = read_rgb(SET5 / "HR" / "baby.png").astype(np.float64)
    clean = metrics.periodic_artifacts(photo, crop_border=4)
    assert clean < 4
    # a faint pattern repeating every 4 pixels (+-2 gray levels): what two pixel shuffles leave
    yy, xx = np.mgrid[:photo.shape[0], :photo.shape[1]]
    grid = 2.0 * np.sign(np.cos(np.pi * xx / 2) * np.cos(np.pi * yy / 2) + 0.1)
    assert metrics.periodic_artifacts(photo + grid[..., None], crop_border=4) > clean + 10
    # the same strength at period 5 is not what the score looks for
    grid5 = 2.0 * np.sign(np.cos(2 * np.pi * xx / 5) * np.cos(2 * np.pi * yy / 5) + 0.1)
    assert metrics.periodic_artifacts(photo + grid5[..., None], crop_border=4) < clean + 1


def test_a_x1_network_has_no_grid_score():
    """The grid score looks for a pattern repeating every `period` pixels; a x1 network (period
    1) builds no sub-pixel pattern, so the score is undefined, not the mean of no harmonics
    (NaN with a numpy warning, which x1 training validation printed)."""
    photo = skimage.data.astronaut()
    with np.errstate(all="raise"):
        with pytest.raises(metrics.UndefinedScore, match="period of 1"):
            metrics.periodic_artifacts(photo, period=1)
    assert np.isfinite(metrics.periodic_artifacts(photo, period=2))
