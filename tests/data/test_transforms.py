"""data/transforms.py and data/colour.py: mod-crop, aligned paired crops, flips and
rotations, float conversion, the MATLAB-bicubic downscale."""


import numpy as np
import pytest

from paddle_srgan.data.colour import to_chw_float
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.transforms import (
    augment,
    downscale,
    paired_random_crop,
    random_crop,
)

from conftest import natural, nearest_pair

# --------------------------------------------------------------------------- transforms


def test_paired_random_crop_windows_are_aligned():
    hr, lr = nearest_pair(natural("astronaut", 37, 41), 4)
    positions = set()
    for seed in range(40):
        hr_patch, lr_patch = paired_random_crop(hr, lr, 32, 4, np.random.default_rng(seed))
        assert hr_patch.shape == (32, 32, 3) and lr_patch.shape == (8, 8, 3)
        np.testing.assert_array_equal(hr_patch, nearest_pair(lr_patch, 4)[0])
        positions.add(lr_patch.tobytes())
    assert len(positions) > 20  # positions really vary


def test_paired_random_crop_matches_matlab_lr_of_the_same_region():
    hr = natural("astronaut", 192, 192, 100, 150)
    lr = imresize(hr, 0.25)
    hr_patch, lr_patch = paired_random_crop(hr, lr, 96, 4, np.random.default_rng(3))
    # Away from the patch border the LR of the HR patch is the LR patch (the kernel reaches
    # 2 LR pixels out; inside it the two resizes see the same HR pixels).
    diff = np.abs(imresize(np.ascontiguousarray(hr_patch), 0.25).astype(int) - lr_patch)
    assert diff[3:-3, 3:-3].max() <= 1


def test_paired_random_crop_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(10, 11\).*\(40, 48\)"):
        paired_random_crop(np.zeros((40, 48, 3)), np.zeros((10, 11, 3)), 8, 4,
                           np.random.default_rng(0))
    with pytest.raises(ValueError, match="multiple"):
        paired_random_crop(np.zeros((40, 44, 3)), np.zeros((10, 11, 3)), 10, 4,
                           np.random.default_rng(0))


def test_random_crop_too_small_image():
    with pytest.raises(ValueError, match="20x30 pixels is smaller than the 32x32"):
        random_crop(np.zeros((20, 30, 3)), 32, np.random.default_rng(0))


def test_augment_applies_the_same_transform_to_the_pair_and_reaches_all_8():
    hr, lr = nearest_pair(natural("coffee", 6, 6), 2)
    seen = set()
    for seed in range(64):
        hr_aug, lr_aug = augment([hr, lr], True, True, np.random.default_rng(seed))
        np.testing.assert_array_equal(hr_aug, nearest_pair(lr_aug, 2)[0])
        seen.add(lr_aug.tobytes())
    assert len(seen) == 8
    for seed in range(8):
        same, = augment([lr], False, False, np.random.default_rng(seed))
        np.testing.assert_array_equal(same, lr)


def test_to_chw_float_ranges():
    img8 = np.array([[[0, 128, 255]]], np.uint8)
    out = to_chw_float(img8)
    assert out.dtype == np.float32 and out.shape == (3, 1, 1) and out.flags.c_contiguous
    np.testing.assert_array_equal(out.ravel(), np.array([0, 128, 255], np.float32) / 255)
    out16 = to_chw_float(np.array([[[0, 257, 65535]]], np.uint16))
    np.testing.assert_allclose(out16.ravel(), [0, 1 / 255, 1], rtol=1e-6)
    flt = np.full((2, 3, 1), 0.25, np.float32)
    out = to_chw_float(flt)
    assert out.shape == (1, 2, 3) and not np.shares_memory(out, flt)


def test_downscale_is_matlab_imresize_and_refuses_non_multiples():
    hr = natural("chelsea", 120, 96)
    np.testing.assert_array_equal(downscale(hr, 4), imresize(hr, 0.25))
    assert downscale(hr, 3).shape == (40, 32, 3)
    with pytest.raises(ValueError, match="mod-crop"):
        downscale(natural("chelsea", 121, 96), 4)


