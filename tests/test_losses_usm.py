"""Real-ESRGAN's USM-sharpened targets (paddle_srgan/usm.py, losses.usm): the Paddle USMSharp
against a NumPy / OpenCV implementation of Real-ESRGAN's definition on a real photo, and the
training step giving the sharpened HR to exactly the terms losses.usm.targets lists."""
import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan.config import load_config
from paddle_srgan.engine.step import NanGuard, PhaseStep, build_networks
from paddle_srgan.usm import USMSharp

from conftest import natural


def usm_by_hand(img, weight=0.5, radius=50, threshold=10):
    """Real-ESRGAN's usm_sharp (BasicSR img_process_util) in NumPy / OpenCV, float64:
    img [H, W, C] in [0, 1]. cv2.GaussianBlur borders with BORDER_REFLECT_101, which is
    torch's and Paddle's 'reflect' padding."""
    size = radius + 1 if radius % 2 == 0 else radius
    img = img.astype(np.float64)
    residual = img - cv2.GaussianBlur(img, (size, size), 0)
    mask = (np.abs(residual) * 255 > threshold).astype(np.float64)
    soft = cv2.GaussianBlur(mask, (size, size), 0)
    sharp = np.clip(img + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * img


def to_nchw(hwc):
    return paddle.to_tensor(np.ascontiguousarray(hwc.transpose(2, 0, 1)[None]), "float32")


@pytest.mark.parametrize("weight, radius, threshold", [
    (0.5, 50, 10),   # Real-ESRGAN's (51 x 51 kernel, sigma 8)
    (1.0, 6, 5.3),   # an even radius made odd: OpenCV's fixed 7-tap kernel
])
def test_usm_sharp_matches_the_definition_on_a_photo(weight, radius, threshold):
    """Max difference ~1e-7 (float32 against float64). Thresholds are chosen where no pixel of
    the photo sits exactly on them: there, rounding decides either way."""
    img = natural("astronaut", 512, 512).astype(np.float64) / 255
    expected = usm_by_hand(img, weight, radius, threshold)
    got = USMSharp(weight, radius, threshold)(to_nchw(img)).numpy()[0].transpose(1, 2, 0)
    assert np.abs(expected - img).max() > 0.1  # it does sharpen
    assert np.abs(got - expected).max() < 1e-6


def test_usm_kernel_is_opencvs_gaussian():
    """The blur of an impulse is the 2-D kernel: at radius 50, 51 taps of a Gaussian with
    OpenCV's sigma for that size, 0.3 * ((51 - 1) / 2 - 1) + 0.8 = 8."""
    impulse = np.zeros([1, 1, 64, 64], np.float32)
    impulse[0, 0, 32, 32] = 1
    kernel = USMSharp().blur(paddle.to_tensor(impulse)).numpy()[0, 0, 7:58, 7:58]
    taps = np.exp(-np.arange(-25, 26) ** 2 / (2 * 8.0 ** 2))
    np.testing.assert_allclose(kernel, np.outer(taps, taps) / taps.sum() ** 2, atol=1e-8)
    flat = paddle.full([1, 3, 40, 40], 0.3)
    assert np.array_equal(USMSharp()(flat).numpy(), flat.numpy())  # nothing to sharpen
    with pytest.raises(ValueError, match=r"51x51 kernel \(losses.usm.radius\) needs images "
                                         r"larger than 25 pixels a side"):
        USMSharp()(paddle.rand([1, 3, 25, 40]))


@pytest.mark.parametrize("targets", [[], ["pixel"], ["perceptual", "adversarial"],
                                     ["pixel", "perceptual", "adversarial"]])
def test_the_step_sharpens_the_targets_of_the_listed_terms(targets):
    """g_pixel, g_perceptual and D's real term (d_real: BCE of D on the real batch) of one
    step, computed by hand against USM'd or plain HR as `losses.usm.targets` says."""
    cfg = load_config(None, [
        "network_g={type: SRResNet, num_feat: 8, num_block: 1}", "device=cpu",
        "network_d={type: Discriminator, num_feat: 4, num_block: 4, fc_size: 8}",
        "vgg.layer=relu1_2", "vgg.weights=none", f"losses.usm.targets={targets}",
        "train.phases=[{name: gan, iters: 1,"
        " losses: {pixel: 1, perceptual: 1, adversarial: 0.1}}]"])
    paddle.seed(7)
    with pytest.warns(UserWarning, match="RANDOM VGG19"):
        nets = build_networks(cfg)
    nets.G.eval()  # BN on running statistics: G(lr) and D(x) are what the step computes
    nets.D.eval()
    hr = natural("astronaut", 32, 32, 180, 200).astype(np.float64) / 255
    lr = cv2.resize(hr, (8, 8), interpolation=cv2.INTER_AREA)
    sharp = usm_by_hand(hr)
    sr = nets.G(to_nchw(lr))

    def by_hand(term, target):
        target = to_nchw(target) * 2 - 1  # SRResNet's range: [-1, 1]
        if term == "pixel":
            return float(((sr - target) ** 2).mean())
        if term == "perceptual":
            return float(nets.perceptual(sr, target))
        logits = nets.D(target)
        return float(paddle.nn.functional.binary_cross_entropy_with_logits(
            logits, paddle.ones_like(logits)))
    expected = {}
    for term, key in (("pixel", "g_pixel"), ("perceptual", "g_perceptual"),
                      ("adversarial", "d_real")):
        plain, sharpened = by_hand(term, hr), by_hand(term, sharp)
        assert sharpened != pytest.approx(plain, rel=1e-3), term  # the choice shows
        expected[key] = sharpened if term in targets else plain
    step = PhaseStep(nets, cfg["train"]["phases"][0], cfg["train"], cfg["losses"], (4,),
                     NanGuard(True, 1))
    terms = step({"lr": to_nchw(lr), "hr": to_nchw(hr)})
    for key, value in expected.items():
        assert float(terms[key]) == pytest.approx(value, rel=1e-5), key
