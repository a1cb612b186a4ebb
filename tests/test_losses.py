import math

import numpy as np
import paddle
import pytest

from paddle_srgan.config import load_config
from paddle_srgan.losses import (
    GeneratorObjective,
    PerceptualLoss,
    adversarial_d_terms,
    adversarial_g_loss,
    charbonnier,
    feature_matching_loss,
    pixel_loss,
)
from paddle_srgan.models import Discriminator, SRResNet, VGGFeatures


def test_pixel_losses_against_hand_values():
    pred = paddle.to_tensor([[0.0, 1.0], [2.0, -1.0]])
    target = paddle.to_tensor([[0.0, 0.0], [0.0, 0.0]])
    assert float(pixel_loss(pred, target, "mse")) == pytest.approx((0 + 1 + 4 + 1) / 4)
    assert float(pixel_loss(pred, target, "l1")) == pytest.approx((0 + 1 + 2 + 1) / 4)
    eps = 0.5
    expected = np.mean([math.sqrt(d * d + eps * eps) for d in (0, 1, 2, -1)])
    assert float(charbonnier(pred, target, eps=eps)) == pytest.approx(expected, rel=1e-6)
    # eps = 1e-3: Charbonnier of a zero difference is eps, of a large one ~ |d|
    assert float(pixel_loss(target, target, "charbonnier", 1e-3)) == pytest.approx(1e-3, rel=1e-5)
    with pytest.raises(ValueError, match="losses.pixel.criterion must be one of"):
        pixel_loss(pred, target, "huber")


def test_adversarial_losses_against_hand_values():
    zero = paddle.zeros([4, 1])
    assert float(adversarial_g_loss(zero)) == pytest.approx(math.log(2), rel=1e-6)
    assert float(adversarial_d_terms(zero, zero)[0]) == pytest.approx(2 * math.log(2), rel=1e-6)
    confident = paddle.full([4, 1], 20.0)
    assert float(adversarial_d_terms(confident, -confident)[0]) < 1e-6  # D already right
    assert float(adversarial_g_loss(-confident)) == pytest.approx(20.0, rel=1e-4)


def test_perceptual_rescale_applies_to_feature_maps():
    """Scaling features by s scales an MSE by s^2 (paper: s = 1/12.75 on the maps)."""
    paddle.seed(0)
    vgg = VGGFeatures("relu2_2", weights="none")
    sr, hr = paddle.rand([1, 3, 32, 32]) * 2 - 1, paddle.rand([1, 3, 32, 32]) * 2 - 1
    plain = float(PerceptualLoss(vgg, feature_scale=1.0)(sr, hr))
    scaled = float(PerceptualLoss(vgg, feature_scale=1 / 12.75)(sr, hr))
    assert plain > 0 and scaled == pytest.approx(plain / 12.75 ** 2, rel=1e-4)
    # the [-1,1] input is mapped to VGG's [0,1]
    ref = float(((vgg((sr + 1) / 2) - vgg((hr + 1) / 2)) ** 2).mean())
    assert plain == pytest.approx(ref, rel=1e-5)


def test_every_configured_term_reaches_the_generator():
    paddle.seed(1)
    cfg = load_config()
    g = SRResNet(num_feat=8, num_block=1)
    d = Discriminator(num_feat=8, fc_size=16)
    perceptual = PerceptualLoss(VGGFeatures("relu2_2", weights="none"))
    lr, hr = paddle.rand([2, 3, 12, 12]), paddle.rand([2, 3, 48, 48]) * 2 - 1
    for term in ("pixel", "perceptual", "adversarial"):
        weights = {"pixel": 0.0, "perceptual": 0.0, "adversarial": 0.0, term: 1.0}
        objective = GeneratorObjective(weights, cfg["losses"]["pixel"], perceptual, d)
        g.clear_gradients()
        total, terms = objective(g(lr), hr)
        assert list(terms) == [term]
        total.backward()
        grad = g.head_conv.weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0, term
    with pytest.raises(ValueError, match="needs a PerceptualLoss"):
        GeneratorObjective({"perceptual": 1.0}, cfg["losses"]["pixel"])


def test_weights_combine_linearly():
    paddle.seed(2)
    cfg = load_config()
    sr, hr = paddle.rand([1, 3, 16, 16]), paddle.rand([1, 3, 16, 16])
    perceptual = PerceptualLoss(VGGFeatures("relu1_2", weights="none"))
    total, terms = GeneratorObjective({"pixel": 0.5, "perceptual": 2.0, "adversarial": 0.0},
                                      cfg["losses"]["pixel"], perceptual)(sr, hr)
    assert set(terms) == {"pixel", "perceptual"}
    assert float(total) == pytest.approx(
        0.5 * float(terms["pixel"]) + 2 * float(terms["perceptual"]), rel=1e-5)


def test_adversarial_term_leaves_no_gradient_on_the_discriminator():
    """The G step needs d adv / d sr through D, not D's weight gradients (losses.frozen)."""
    paddle.seed(3)
    cfg = load_config()
    d = Discriminator(num_feat=8, fc_size=16)
    trainable = [p for p in d.parameters() if not p.stop_gradient]  # BN statistics are not
    sr = paddle.rand([2, 3, 48, 48]) * 2 - 1
    sr.stop_gradient = False
    objective = GeneratorObjective({"adversarial": 1.0}, cfg["losses"]["pixel"], discriminator=d)
    total, _ = objective(sr, sr)
    total.backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0
    assert len(trainable) > 10 and all(p.grad is None for p in trainable)
    assert all(not p.stop_gradient for p in trainable)  # trainable again for the D step
    adversarial_d_terms(d(sr.detach()), d(sr.detach()))[0].backward()
    assert all(p.grad is not None for p in trainable)


def test_perceptual_loss_sums_its_weighted_layers():
    """BasicSR's PerceptualLoss: sum_k w_k * criterion(s * phi_k(sr), s * phi_k(hr)), images
    mapped from G's output range to VGG's [0, 1]; gradients reach sr, not hr."""
    paddle.seed(5)
    weights = {"conv1_2": 0.1, "relu2_1": 1.0, "conv2_2": 2.0}
    vgg = VGGFeatures(weights, weights="none")
    sr, hr = paddle.rand([2, 3, 24, 24]) * 2 - 1, paddle.rand([2, 3, 24, 24]) * 2 - 1
    maps_sr, maps_hr = vgg((sr + 1) / 2), vgg((hr + 1) / 2)
    for criterion, distance in (("l1", np.abs), ("mse", np.square)):
        loss = PerceptualLoss(vgg, 0.5, criterion, (-1.0, 1.0), weights)
        by_hand = sum(w * distance(0.5 * maps_sr[k].numpy() - 0.5 * maps_hr[k].numpy()).mean()
                      for k, w in weights.items())
        assert float(loss(sr, hr)) == pytest.approx(by_hand, rel=1e-5), criterion
    sr.stop_gradient = hr.stop_gradient = False
    PerceptualLoss(vgg, 1.0, "l1", (-1.0, 1.0), weights)(sr, hr).backward()
    assert float(sr.grad.abs().sum()) > 0 and hr.grad is None
    # without weights: each layer the VGG reads, weight 1
    assert PerceptualLoss(vgg).layer_weights == dict.fromkeys(weights, 1.0)
    with pytest.raises(ValueError, match=r"weighs \['conv3_1'\], which the VGG does not read"):
        PerceptualLoss(vgg, layer_weights={"conv3_1": 1.0})


def test_each_term_compares_with_its_own_target():
    """Per-term targets (Real-ESRGAN's sharpened HR for some terms only): pixel, perceptual,
    and D's real images (RaGAN's real logits, feature matching's real maps) each from their
    own entry; one tensor stands for all three."""
    paddle.seed(6)
    d = Discriminator(num_feat=8, num_block=4, fc_size=16)
    d.eval()  # BN on running statistics: D(x) is the same whenever it is called
    perceptual = PerceptualLoss(VGGFeatures("relu1_2", weights="none"))
    sr, a, b, c = (paddle.rand([2, 3, 32, 32]) * 2 - 1 for _ in range(4))
    weights = {"pixel": 1.0, "perceptual": 1.0, "adversarial": 1.0, "feature_matching": 1.0}
    objective = GeneratorObjective(weights, {"criterion": "l1", "eps": 1e-3}, perceptual, d,
                                   adversarial_form="relativistic")
    _, terms = objective(sr, {"pixel": a, "perceptual": b, "adversarial": c})
    expected = {"pixel": np.abs(sr.numpy() - a.numpy()).mean(),
                "perceptual": float(perceptual(sr, b)),
                "adversarial": float(adversarial_g_loss(d(sr), d(c), "relativistic")),
                "feature_matching": float(feature_matching_loss(d.forward_features(sr)[0],
                                                                d.forward_features(c)[0]))}
    for term, value in expected.items():
        assert float(terms[term]) == pytest.approx(value, rel=1e-5), term
    _, same = objective(sr, c)
    _, spelled = objective(sr, dict.fromkeys(("pixel", "perceptual", "adversarial"), c))
    assert {k: float(v) for k, v in same.items()} == {k: float(v) for k, v in spelled.items()}
