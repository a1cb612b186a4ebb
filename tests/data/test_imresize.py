"""paddle_srgan.data.imresize against MATLAB-made files and analytic references."""

import numpy as np
import pytest

from paddle_srgan.data.imresize import imresize, output_size

from conftest import SET5, read_rgb

SET5_NAMES = ("baby", "bird", "butterfly", "head", "woman")


@pytest.fixture(scope="module")
def set5():
    """[(name, HR uint8 RGB, MATLAB imresize(HR, 1/4) uint8 RGB)]."""
    return [(name, read_rgb(SET5 / "HR" / f"{name}.png"),
             read_rgb(SET5 / "LR_bicubic" / "X4" / f"{name}.png")) for name in SET5_NAMES]


def noise_image(shape, dtype=np.uint8, seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, info.max + 1, shape, dtype=dtype)


def test_exact_mode_reproduces_matlab_set5_x4(set5):
    differing = 0
    for name, hr, lr in set5:
        out = imresize(hr, 0.25)
        assert out.shape == lr.shape and out.dtype == np.uint8, name
        differing += int(np.count_nonzero(out != lr))
    assert differing == 0


def test_float_mode_rounds_once_and_differs_by_about_one_level(set5):
    diffs = []
    for _, hr, lr in set5:
        out = imresize(hr, 0.25, exact=False)
        # Float mode is the float computation rounded once (half up) and clipped.
        ref = np.clip(np.floor(imresize(hr.astype(np.float64), 0.25) + 0.5), 0, 255)
        np.testing.assert_array_equal(out, ref)
        diffs.append(np.abs(out.astype(int) - lr).ravel())
    diffs = np.concatenate(diffs)
    # Per-pass rounding errors (<= 0.5) pass through the second pass's weights, whose
    # absolute sum is 1.17, so a rare +-2 is possible: Set5 has exactly one (woman).
    assert 0.08 < np.mean(diffs > 0) < 0.12
    assert np.mean(diffs > 1) < 1e-4
    assert diffs.max() <= 2


def test_smaller_scale_axis_is_resized_first():
    img = noise_image((60, 50, 3))
    # MATLAB's rule depends on the factors, not on which axis is which, so transposing the
    # image and swapping the factors must transpose the result exactly.
    direct = imresize(img, (0.25, 0.5))
    swapped = imresize(img.transpose(1, 0, 2), (0.5, 0.25)).transpose(1, 0, 2)
    np.testing.assert_array_equal(direct, swapped)
    # ...and the order matters in exact mode, so the check above has teeth.
    cols_first = imresize(imresize(img, output_shape=(60, 25)), output_shape=(15, 25))
    assert np.any(cols_first != direct)


@pytest.mark.parametrize("scale", [2, 3, 1.5])
def test_upscaling_reproduces_quadratics(scale):
    # Keys' cubic with a = -0.5 interpolates polynomials of degree <= 2 exactly, so away
    # from the borders the output is the quadratic at MATLAB's sample positions.
    n = 40
    i = np.arange(1, n + 1, dtype=np.float64)
    img = np.repeat((0.5 * i ** 2 - 3 * i)[:, None], 4, axis=1)
    out = imresize(img, (scale, 1))
    u = np.arange(1, out.shape[0] + 1) / scale + 0.5 * (1 - 1 / scale)
    inner = (u >= 4) & (u <= n - 3)
    np.testing.assert_allclose(out[inner, 0], (0.5 * u ** 2 - 3 * u)[inner], atol=1e-9)
    np.testing.assert_array_equal(out[:, 0], out[:, 3])  # scale 1 along W is the identity


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3])
def test_downscaling_reproduces_ramps(scale):
    # The antialiasing kernel is symmetric and normalised: a linear ramp survives exactly.
    n = 60
    img = np.repeat(np.arange(1, n + 1, dtype=np.float64)[:, None], 3, axis=1)
    out = imresize(img, (scale, 1))
    u = np.arange(1, out.shape[0] + 1) / scale + 0.5 * (1 - 1 / scale)
    inner = (u >= 2 / scale + 2) & (u <= n - 2 / scale - 1)
    assert inner.sum() >= 3
    np.testing.assert_allclose(out[inner, 0], u[inner], atol=1e-9)


def test_symmetric_border_handling_on_upscale():
    # At the first output sample of x2 (u = 0.75) the taps reach pixels -1..2 (1-based),
    # which MATLAB folds to 2, 1, 1, 2 ... with Keys weights -0.0234375, 0.2265625,
    # 0.8671875, -0.0703125 on pixels (-1, 0, 1, 2) -> (2, 1, 1, 2).
    img = np.array([[10.0], [20.0], [40.0], [80.0]])
    out = imresize(img, (2, 1))
    expected = -0.0234375 * 20 + 0.2265625 * 10 + 0.8671875 * 10 - 0.0703125 * 20
    assert out[0, 0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("scale, expected", [
    (2, (14, 20)), (3, (21, 30)), (4, (28, 40)), (8, (56, 80)),
    (0.25, (2, 3)), (1 / 3, (3, 4)), (1.5, (11, 15)), (0.7, (5, 7)),
])
def test_output_shape_is_ceil_of_scaled_size(scale, expected):
    img = noise_image((7, 10, 3))
    assert output_size((7, 10), scale) == expected
    assert imresize(img, scale).shape == expected + (3,)


def test_explicit_output_shape_uses_that_ratio(set5):
    _, hr, lr = set5[0]
    # 512 -> 128 is exactly 1/4, so it must equal the scale call (and MATLAB).
    np.testing.assert_array_equal(imresize(hr, output_shape=lr.shape[:2]), lr)
    assert imresize(hr, output_shape=(100, 77)).shape == (100, 77, 3)


@pytest.mark.parametrize("scale", [3, 0.25, 1.7])
def test_constant_image_stays_constant(scale):
    assert np.all(imresize(np.full((13, 17, 3), 77, np.uint8), scale) == 77)
    out = imresize(np.full((13, 17), 0.3, np.float64), scale)
    np.testing.assert_allclose(out, 0.3, rtol=0, atol=1e-12)


def test_gray_and_single_channel_match_rgb_channels():
    rgb = noise_image((20, 24, 3))
    out_rgb = imresize(rgb, 0.5)
    gray = imresize(rgb[:, :, 1], 0.5)
    single = imresize(rgb[:, :, 1:2], 0.5)
    assert gray.shape == (10, 12) and single.shape == (10, 12, 1)
    np.testing.assert_array_equal(gray, out_rgb[:, :, 1])
    np.testing.assert_array_equal(single[:, :, 0], out_rgb[:, :, 1])
    assert imresize(noise_image((8, 8, 5)), 2).shape == (16, 16, 5)


def test_uint16_rounds_and_saturates_without_wrapping():
    img = noise_image((30, 30, 3), np.uint16)
    exact = imresize(img, 0.25)
    loose = imresize(img, 0.25, exact=False)
    assert exact.dtype == loose.dtype == np.uint16
    reference = np.clip(np.floor(imresize(img.astype(np.float64), 0.25) + 0.5), 0, 65535)
    np.testing.assert_array_equal(loose, reference)
    assert np.abs(exact.astype(int) - loose).max() <= 2
    # A hard edge overshoots by ~7 % both ways; the result must saturate, not wrap.
    edge = np.zeros((8, 8), np.uint16)
    edge[:, 4:] = 65535
    up = imresize(edge, 3)
    assert up.max() == 65535 and up.min() == 0
    np.testing.assert_array_equal(up[:, :9], 0)
    np.testing.assert_array_equal(up[:, -9:], 65535)


def test_float_input_is_neither_rounded_nor_clipped():
    edge = np.zeros((8, 8), np.float32)
    edge[:, 4:] = 1.0
    up = imresize(edge, 3)
    assert up.dtype == np.float32
    assert up.min() < -0.05 and up.max() > 1.05  # the cubic kernel's overshoot survives
    img = noise_image((16, 16, 3))
    as_float = imresize(img.astype(np.float64), 0.5)
    assert not np.allclose(as_float, np.round(as_float))
    np.testing.assert_array_equal(imresize(img.astype(np.float32), 0.5, exact=True),
                                  imresize(img.astype(np.float32), 0.5, exact=False))


def test_repeated_calls_are_identical():
    # Weights are cached; a caller must not be able to corrupt them through a result.
    img = noise_image((40, 40, 3))
    expected = imresize(img, 0.25).copy()
    first = imresize(img, 0.25)
    first[...] = 0
    np.testing.assert_array_equal(imresize(img, 0.25), expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(img=np.zeros((2, 4, 4, 3), np.uint8), scale=2), "HxW"),
    (dict(img=np.zeros((4,), np.uint8), scale=2), "HxW"),
    (dict(img=np.zeros((4, 4), np.int32), scale=2), "dtype"),
    (dict(img=np.zeros((4, 4), bool), scale=2), "dtype"),
    (dict(img=np.zeros((0, 4), np.uint8), scale=2), "non-empty"),
    (dict(img=np.zeros((4, 4), np.uint8), scale=0), "scale"),
    (dict(img=np.zeros((4, 4), np.uint8), scale=-2), "scale"),
    (dict(img=np.zeros((4, 4), np.uint8), scale=float("nan")), "scale"),
    (dict(img=np.zeros((4, 4), np.uint8), scale=(2, 3, 4)), "pair"),
    (dict(img=np.zeros((4, 4), np.uint8)), "exactly one"),
    (dict(img=np.zeros((4, 4), np.uint8), scale=2, output_shape=(8, 8)), "exactly one"),
    (dict(img=np.zeros((4, 4), np.uint8), output_shape=(0, 8)), "output_shape"),
    (dict(img=np.zeros((4, 4), np.uint8), output_shape=(2.5, 8)), "output_shape"),
])
def test_bad_input_raises_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imresize(**kwargs)
