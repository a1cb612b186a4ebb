"""Degradations: the primitives against closed forms and independent implementations, the
Real-ESRGAN pipeline of datasets.train.type realworld (determinism, shapes, the loader), and
the fixed evaluation specs of --degrade (data.degrade_spec)."""
import io
import math

import cv2
import numpy as np
import pytest
import yaml

from paddle_srgan.config import DEFAULTS, load_config
from paddle_srgan.data import degradations as deg
from paddle_srgan.data.datasets import build_train_loader, build_train_set
from paddle_srgan.data.degrade_spec import canonical, degraded_lr, parse_spec, spec_protocol
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.realworld import RealWorldDegradation
from paddle_srgan.errors import InputError

from conftest import SET5, read_rgb, tiny_config

DEGRADATION = DEFAULTS["datasets"]["train"]["degradation"]


def grid(size):
    r = np.arange(size) - size // 2
    return np.meshgrid(r, r)  # x (columns), y (rows)


# ---- kernels ----

def test_isotropic_gaussian_kernel_is_the_normalised_formula():
    x, y = grid(21)
    for sigma in (0.2, 1.0, 3.0):
        expected = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
        k = deg.anisotropic_gaussian_kernel(21, sigma)
        np.testing.assert_allclose(k, expected / expected.sum(), rtol=1e-12, atol=1e-300)
        assert k.sum() == pytest.approx(1, abs=1e-12)
    # OpenCV's separable Gaussian is the same kernel
    g = cv2.getGaussianKernel(9, 1.3)
    np.testing.assert_allclose(deg.anisotropic_gaussian_kernel(9, 1.3), g @ g.T, atol=1e-12)


def test_anisotropic_kernels_match_the_rotated_closed_forms():
    x, y = grid(15)
    sx, sy, theta = 2.5, 0.7, 0.6
    u = np.cos(theta) * x + np.sin(theta) * y    # coordinates along the rotated axes
    v = -np.sin(theta) * x + np.cos(theta) * y
    q = (u / sx) ** 2 + (v / sy) ** 2
    for k, ref in [(deg.anisotropic_gaussian_kernel(15, sx, sy, theta), np.exp(-q / 2)),
                   (deg.generalized_gaussian_kernel(15, sx, sy, theta, 2.0), np.exp(-q ** 2 / 2)),
                   (deg.plateau_kernel(15, sx, sy, theta, 1.5), 1 / (1 + q ** 1.5))]:
        assert k.sum() == pytest.approx(1, abs=1e-12)
        np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-10, atol=1e-300)
    # elongated along theta: the kernel is symmetric under a half turn, not a quarter turn
    k = deg.anisotropic_gaussian_kernel(15, sx, sy, theta)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    assert np.abs(k - k.T).max() > 1e-3


def test_generalized_gaussian_with_unit_beta_is_the_gaussian():
    """Real-ESRGAN writes exp(-(C^T S^-1 C)^beta / 2): beta 1 here is the usual shape
    parameter 2 (exp(-|x/a|^2)), i.e. the Gaussian."""
    for args in [(1.5,), (2.0, 0.8, -1.1)]:
        np.testing.assert_allclose(deg.generalized_gaussian_kernel(21, *args, beta=1.0) if
                                   len(args) == 3 else
                                   deg.generalized_gaussian_kernel(21, args[0], beta=1.0),
                                   deg.anisotropic_gaussian_kernel(21, *args), rtol=1e-12)
    # other betas are other shapes: heavier tails below 1, flatter top above
    g = deg.anisotropic_gaussian_kernel(21, 2.0)
    assert deg.generalized_gaussian_kernel(21, 2.0, beta=0.5)[10, 0] > g[10, 0]
    assert deg.generalized_gaussian_kernel(21, 2.0, beta=4.0)[10, 0] < g[10, 0]


def test_bessel_j1_equals_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.linspace(0, 100, 2001)
    np.testing.assert_allclose(deg.bessel_j1(x), special.j1(x), atol=1e-12)


def test_sinc_kernel_is_a_low_pass_with_the_given_cutoff():
    n = 256
    fy, fx = np.meshgrid(np.fft.fftfreq(n) * 2 * np.pi, np.fft.fftfreq(n) * 2 * np.pi,
                         indexing="ij")
    radius = np.hypot(fx, fy)
    for size, cutoff in [(21, np.pi / 3), (61, np.pi / 2), (41, 0.6 * np.pi)]:
        k = deg.sinc_kernel(size, cutoff)
        assert k.sum() == pytest.approx(1, abs=1e-12)
        np.testing.assert_allclose(k, k.T, atol=1e-15)
        padded = np.zeros((n, n))
        padded[:size, :size] = k
        response = np.abs(np.fft.fft2(padded))  # the shift only changes the phase
        passband = response[radius < 0.6 * cutoff]
        stopband = response[radius > 1.4 * cutoff]  # up to the square's corners
        assert np.abs(passband - 1).mean() < 0.06, (size, cutoff)
        assert stopband.mean() < 0.06, (size, cutoff)
    with pytest.raises(ValueError):
        deg.sinc_kernel(20, 1.0)


# ---- blur, resize, noise, JPEG ----

def correlate_by_hand(img, kernel):
    """sum over the kernel window of kernel * pixel, borders mirrored without repeating the
    edge (numpy's 'reflect' = OpenCV's BORDER_REFLECT_101), in float64."""
    r = kernel.shape[0] // 2
    padded = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    return sum(kernel[i, j] * padded[i:i + h, j:j + w]
               for i in range(kernel.shape[0]) for j in range(kernel.shape[1]))


def test_blur_equals_opencv_gaussian_blur_and_keeps_one_channel():
    rng = np.random.default_rng(0)
    img = rng.random((40, 30, 3), dtype=np.float32)
    out = deg.blur(img, deg.anisotropic_gaussian_kernel(7, 1.1))  # separable: two 1-D passes
    ref = cv2.GaussianBlur(img, (7, 7), 1.1, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # separable or not, every kernel family is the same correlation
    for kernel in (deg.anisotropic_gaussian_kernel(21, 3.0),
                   deg.anisotropic_gaussian_kernel(9, 2.0, 0.6, 0.7),
                   deg.plateau_kernel(11, 1.5, beta=1.5), deg.sinc_kernel(13, 1.2)):
        np.testing.assert_allclose(deg.blur(img, kernel), correlate_by_hand(img, kernel),
                                   atol=1e-5)
    assert deg.blur(img[:, :, :1], np.ones((3, 3)) / 9).shape == (40, 30, 1)
    assert deg.resize(img[:, :, :1], 20, 15, "area").shape == (20, 15, 1)


def test_gaussian_noise_statistics_colour_and_gray():
    flat = np.full((256, 256, 3), 0.5, np.float32)
    out = deg.gaussian_noise(flat, 10.0, False, np.random.default_rng(1))
    noise = (out - flat) * 255
    assert abs(noise.mean()) < 0.1 and noise.std() == pytest.approx(10, rel=0.02)
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.02
    gray = (deg.gaussian_noise(flat, 10.0, True, np.random.default_rng(1)) - flat) * 255
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    assert gray.std() == pytest.approx(10, rel=0.02)
    assert deg.gaussian_noise(np.zeros_like(flat), 30, False, np.random.default_rng(2)).min() == 0


def test_poisson_noise_variance_is_proportional_to_intensity():
    variances = {}
    for v in (0.1, 0.3, 0.6):  # far enough from 0 and 1 for clipping not to matter
        flat = np.full((256, 256, 3), v, np.float32)
        noise = deg.poisson_noise(flat, 1.5, False, np.random.default_rng(3)) - flat
        assert abs(noise.mean()) < 2e-4
        variances[v] = noise.var()
        assert variances[v] == pytest.approx(1.5 ** 2 * v / 255, rel=0.03)  # scale^2 v / 255
    assert variances[0.6] / variances[0.1] == pytest.approx(6, rel=0.05)
    # gray: one draw per pixel for its BT.601 luma, shared by the channels
    rgb = np.empty((256, 256, 3), np.float32)
    rgb[:] = [0.35, 0.6, 0.5]  # 5 noise sigmas from 0 and 1: no clipping
    luma = 0.299 * 0.35 + 0.587 * 0.6 + 0.114 * 0.5
    gray = deg.poisson_noise(rgb, 1.0, True, np.random.default_rng(3)) - rgb
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-6)
    assert abs(gray.mean()) < 4e-4
    assert gray[..., 0].var() == pytest.approx(luma / 255, rel=0.03)  # scale 1


def test_jpeg_equals_pillow_at_the_same_quality():
    from PIL import Image
    img = read_rgb(SET5 / "HR" / "baby.png")[:128, :160]
    for quality in (30, 75, 95):
        ours = deg.jpeg(img, quality)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)  # 4:2:0, as libjpeg
        pillow = np.asarray(Image.open(buf).convert("RGB"))
        diff = np.abs(ours.astype(int) - pillow)
        assert diff.mean() < 0.3 and diff.max() <= 4, (quality, diff.mean(), diff.max())
        assert np.abs(ours.astype(int) - img).mean() > 0.3  # and it is lossy
    gray = deg.jpeg(img[:, :, :1], 50)
    assert gray.shape == (128, 160, 1) and gray.dtype == np.uint8
    # float input is rounded to 8 bit first
    np.testing.assert_array_equal(deg.jpeg(img / np.float32(255), 60), deg.jpeg(img, 60))


# ---- the Real-ESRGAN pipeline ----

def hr_patch(size=256, seed=0):
    img = read_rgb(SET5 / "HR" / "baby.png")
    y, x = np.random.default_rng(seed).integers(0, 512 - size, 2)
    return np.ascontiguousarray(img[y:y + size, x:x + size])


@pytest.mark.parametrize("order", ["realesrgan", "shuffled"])
def test_pipeline_output_shape_dtype_range_and_determinism(order):
    degrade = RealWorldDegradation(**{**DEGRADATION, "order": order})
    hr = hr_patch()
    outs = []
    for i in range(12):
        lr = degrade(hr, 4, np.random.default_rng([5, 0, i]))
        assert lr.shape == (64, 64, 3) and lr.dtype == np.uint8
        np.testing.assert_array_equal(lr, degrade(hr, 4, np.random.default_rng([5, 0, i])))
        outs.append(lr)
    assert len({o.tobytes() for o in outs}) == len(outs)  # every index its own degradation
    # degraded, not just shrunk: further from the bicubic LR than JPEG-95 rounding would be
    clean = imresize(hr, output_shape=(64, 64)).astype(float)
    assert np.mean([np.abs(o - clean).mean() for o in outs]) > 3
    one = degrade(hr[:, :, :1], 4, np.random.default_rng(0))
    assert one.shape == (64, 64, 1)
    hr16 = hr.astype(np.uint16) * 257
    assert degrade(hr16, 4, np.random.default_rng(0)).dtype == np.uint8


def test_pipeline_refuses_bad_parameters_naming_the_key():
    for key, value in [("kernel_prob", [0.5, 0.5]), ("resize_prob2", [0.5, 0.5, 0.5]),
                       ("jpeg_range", [95, 30]), ("kernel_range", [6, 20]),
                       ("jpeg_range", [30, 101]),
                       # unbounded work: kernels of 1001 pixels, a patch grown a million times
                       ("kernel_range", [7, 1001]), ("resize_range", [0.15, 1e6]),
                       ("final_sinc_prob", 1.5), ("kernel_list", ["box"])]:
        with pytest.raises(InputError, match=f"degradation.{key}"):
            RealWorldDegradation(**{**DEGRADATION, key: value})


def realworld_config(tmp_path, train_images, **extra):
    return load_config(tiny_config(tmp_path, train_images, **{
        "datasets.train.type": "realworld", "datasets.train.hr_crop": 48, **extra}))


def test_realworld_items_are_a_function_of_seed_and_index(tmp_path, train_images):
    cfg = realworld_config(tmp_path, train_images)
    a, b = build_train_set(cfg), build_train_set(cfg)
    for k in (0, 3, 11):  # 11: a later epoch
        np.testing.assert_array_equal(a[k]["lr"], b[k]["lr"])
        np.testing.assert_array_equal(a[k]["hr"], b[k]["hr"])
    assert not np.array_equal(a[0]["lr"], a[4]["lr"])  # same image, another patch
    item = a[2]
    assert item["lr"].shape == (3, 12, 12) and item["hr"].shape == (3, 48, 48)
    assert item["lr"].dtype == np.float32 and 0 <= item["lr"].min() <= item["lr"].max() <= 1
    # the HR patch (crop, flips) is the hr_only one: the degradation draws after it
    cfg_hr = load_config(tiny_config(tmp_path, train_images, **{"datasets.train.hr_crop": 48}))
    np.testing.assert_array_equal(item["hr"], build_train_set(cfg_hr)[2]["hr"])
    lr_hr_only = build_train_set(cfg_hr)[2]["lr"]
    assert not np.array_equal(item["lr"], lr_hr_only)


def test_hr_only_ignores_the_degradation_section(tmp_path, train_images):
    plain = load_config(tiny_config(tmp_path, train_images))
    odd = load_config(tiny_config(tmp_path, train_images, **{
        "datasets.train.degradation": {"jpeg_range": [5, 10], "order": "shuffled"}}))
    a, b = build_train_set(plain), build_train_set(odd)
    for k in range(4):
        np.testing.assert_array_equal(a[k]["lr"], b[k]["lr"])
        hr = (np.rint(a[k]["hr"] * 255)).astype(np.uint8).transpose(1, 2, 0)
        expected = imresize(hr, output_shape=(8, 8)).transpose(2, 0, 1) / np.float32(255)
        np.testing.assert_array_equal(a[k]["lr"], expected.astype(np.float32))


def test_realworld_config_key_errors_name_the_key(tmp_path, train_images):
    with pytest.raises(InputError, match="unknown key 'datasets.train.degradation.jpeg_rnge'"):
        realworld_config(tmp_path, train_images,
                         **{"datasets.train.degradation": {"jpeg_rnge": [30, 95]}})
    cfg = realworld_config(tmp_path, train_images,
                           **{"datasets.train.degradation": {"resize_prob": [1, 1, 1]}})
    with pytest.raises(InputError, match="'datasets.train.degradation.resize_prob'"):
        build_train_set(cfg)


def test_realworld_loader_yields_the_same_batches_with_0_and_2_workers(tmp_path, train_images):
    batches = {}
    for workers in (0, 2):
        cfg = realworld_config(tmp_path, train_images,
                               **{"datasets.train.num_workers": workers})
        loader = iter(build_train_loader(cfg, start_iter=1))
        batches[workers] = [next(loader) for _ in range(2)]
    for b0, b2 in zip(batches[0], batches[2]):
        assert list(b0["lr"].shape) == [2, 3, 12, 12] and list(b0["hr"].shape) == [2, 3, 48, 48]
        np.testing.assert_array_equal(b0["lr"].numpy(), b2["lr"].numpy())
        np.testing.assert_array_equal(b0["hr"].numpy(), b2["hr"].numpy())


def test_realworld_config_defaults_are_real_esrgans():
    """realesrgan_x4plus.yml (Real-ESRGAN v0.3.0 options/train_realesrgan_x4plus.yml)."""
    d = DEGRADATION
    assert d["resize_prob"] == [0.2, 0.7, 0.1] and d["resize_range"] == [0.15, 1.5]
    assert d["noise_range"] == [1, 30] and d["poisson_scale_range"] == [0.05, 3]
    assert d["gray_noise_prob"] == 0.4 and d["jpeg_range"] == [30, 95]
    assert d["second_blur_prob"] == 0.8 and d["resize_prob2"] == [0.3, 0.4, 0.3]
    assert d["resize_range2"] == [0.3, 1.2] and d["noise_range2"] == [1, 25]
    assert d["blur_sigma"] == [0.2, 3] and d["blur_sigma2"] == [0.2, 1.5]
    assert d["kernel_prob"] == [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    assert d["final_sinc_prob"] == 0.8 and d["sinc_prob"] == 0.1
    assert yaml.safe_load(yaml.safe_dump(d)) == d


# ---- evaluation specs ----

def test_spec_grammar_round_trip_and_errors():
    spec = parse_spec("jpeg:50 + noise:5+blur:1.2")
    assert spec == {"blur": 1.2, "noise": 5.0, "jpeg": 50}
    assert list(spec) == ["blur", "noise", "jpeg"]  # application order
    assert canonical("jpeg:50+noise:5+blur:1.2") == "blur:1.2+noise:5+jpeg:50"
    assert parse_spec(canonical(spec)) == spec and parse_spec(None) is None
    recorded = spec_protocol("noise:5")
    assert recorded["spec"] == "noise:5" and "sha256" in recorded["seed"]
    for bad, why in [("jpeg:abc", "--degrade jpeg:abc: 'jpeg' takes an integer quality"),
                     ("jpeg:101", "--degrade jpeg:101: 'jpeg' takes"),
                     ("blur:0", "'blur' takes a Gaussian sigma in HR pixels 0.1..10"),
                     ("noise:-1", "'noise' takes"), ("sharpen:2", "unknown operation"),
                     ("noise", "'noise' needs a value"), ("jpeg:50+jpeg:60", "given twice")]:
        with pytest.raises(InputError, match=why.replace("+", r"\+")):
            parse_spec(bad)


@pytest.mark.parametrize("text, kind, expected", [
    # a 12001-pixel kernel ran without end; 100000 asked for 2.6 TiB
    ("blur:2000", "blur", "a Gaussian sigma in HR pixels 0.1..10"),
    ("blur:100000", "blur", "a Gaussian sigma in HR pixels 0.1..10"),
    ("blur:10.01", "blur", "a Gaussian sigma in HR pixels 0.1..10"),  # kernel side 63 > 61
    ("blur:1e-200", "blur", "a Gaussian sigma in HR pixels 0.1..10"),  # divided by zero
    ("noise:1e+06", "noise", "a Gaussian sigma on the 0-255 scale 0..255"),
    ("noise:nan", "noise", "a Gaussian sigma on the 0-255 scale 0..255"),
    ("noise:inf", "noise", "a Gaussian sigma on the 0-255 scale 0..255"),
    ("jpeg:0", "jpeg", "an integer quality 1..100")])
def test_spec_values_have_documented_bounds(text, kind, expected):
    value = text.partition(":")[2]
    with pytest.raises(InputError) as err:
        parse_spec(text)
    assert str(err.value) == f"--degrade {text}: '{kind}' takes {expected}, got '{value}'"


def test_a_parsed_spec_is_checked_too():
    with pytest.raises(InputError, match="'blur' takes a Gaussian sigma in HR pixels 0.1..10"):
        degraded_lr(np.zeros((8, 8, 3), np.uint8), 4, {"blur": 2000.0}, "x")


def test_the_largest_blur_builds_the_largest_kernel():
    hr = read_rgb(SET5 / "HR" / "bird.png")[:64, :64]
    assert parse_spec("blur:10") == {"blur": 10.0}
    assert 2 * math.ceil(3 * 10) + 1 == deg.MAX_KERNEL_SIZE
    assert degraded_lr(hr, 4, "blur:10", "bird").shape == (16, 16, 3)


@pytest.mark.parametrize("spec", [
    {"noise": 1e-7}, {"noise": 0.1 + 0.2}, {"noise": 254.99999999999997}, {"noise": 1e-300},
    {"blur": 0.1, "noise": 255.0, "jpeg": 1}, {"blur": 9.999999999999998, "jpeg": 100},
    {"blur": 1.2, "noise": 5.0, "jpeg": 50}])
def test_spec_text_round_trips_exactly(spec):
    """canonical -> parse_spec gives the same values: '%g' wrote '1e+06' (then split at its
    '+') and rounded to 6 digits (0.30000000000000004 came back as 0.3)."""
    assert parse_spec(canonical(spec)) == spec


def test_spec_numbers_may_carry_an_exponent():
    assert canonical({"noise": 100.0}) == "noise:100"
    assert parse_spec("noise:1e+02+jpeg:5e+01") == {"noise": 100.0, "jpeg": 50}
    assert parse_spec("blur:1E-1 +noise:2.5e+0") == {"blur": 0.1, "noise": 2.5}


def test_spec_blur_noise_jpeg_against_independent_references():
    hr = read_rgb(SET5 / "HR" / "bird.png")[:96, :128]
    clean = imresize(hr, output_shape=(24, 32))
    np.testing.assert_array_equal(degraded_lr(hr, 4, None, "bird"), clean)
    # blur: OpenCV's Gaussian blur of the HR (kernel side 2 ceil(3 sigma) + 1), then bicubic
    blurred = cv2.GaussianBlur(hr.astype(np.float32), (9, 9), 1.2,
                               borderType=cv2.BORDER_REFLECT_101)
    ref = imresize(np.clip(np.rint(blurred), 0, 255).astype(np.uint8), output_shape=(24, 32))
    got = degraded_lr(hr, 4, "blur:1.2", "bird")
    assert np.abs(got.astype(int) - ref).max() <= 1  # float32 rounding at .5 only
    # noise: std sigma on the LR, seeded by the name
    hr_big = read_rgb(SET5 / "HR" / "baby.png")
    lr = imresize(hr_big, output_shape=(128, 128)).astype(int)
    noisy = degraded_lr(hr_big, 4, "noise:5", "baby").astype(int)
    assert (noisy - lr).std() == pytest.approx(5, rel=0.05)
    np.testing.assert_array_equal(noisy, degraded_lr(hr_big, 4, "noise:5", "baby"))
    assert not np.array_equal(noisy, degraded_lr(hr_big, 4, "noise:5", "baby2"))
    # jpeg: the JPEG of the (noisy) LR
    both = degraded_lr(hr_big, 4, "noise:5+jpeg:40", "baby")
    np.testing.assert_array_equal(both, deg.jpeg(noisy.astype(np.uint8), 40))
    # a gray image stays gray
    gray = np.repeat(hr_big[:, :, 1:2], 3, axis=2)
    out = degraded_lr(gray, 4, "noise:5+jpeg:40", "g", gray=True)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
