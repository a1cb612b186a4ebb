"""ESRGAN and Real-ESRGAN training steps against PyTorch: tests/fixtures/esrgan/*_steps.npz hold
3 iterations of BasicSR's optimize_parameters (tests/fixtures/make_esrgan_steps.py, README
there) in float64. Our PhaseStep, built from a config that states each recipe, starts from the
fixture's weights (VGG19: the seeded random weights it names) and runs the 3 iterations on its
batch: every loss term and the weight updates of G and D must follow."""
import importlib.util
import json

import numpy as np
import paddle
import pytest

from paddle_srgan.config import load_config
from paddle_srgan.engine.step import NanGuard, PhaseStep, build_networks

from conftest import FIXTURES, load_torch_state, paddle_key

_spec = importlib.util.spec_from_file_location("lpips_random_weights",
                                               FIXTURES / "lpips_random_weights.py")
lpips_random_weights = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lpips_random_weights)

TINY_RRDBNET = "network_g={type: RRDBNet, num_feat: 8, num_block: 1, num_grow_ch: 4}"
BASICSR_ADAM = ["train.beta1=0.9", "train.beta2=0.99"]  # lr 1e-4: each phase's
BASICSR_L1 = ["losses.pixel.criterion=l1", "losses.perceptual.criterion=l1",
              "vgg.feature_scale=1"]
# The two recipes as a user writes them (BasicSR options/train/ESRGAN/train_ESRGAN_x4.yml and
# Real-ESRGAN's train_realesrgan_x4plus.yml, shrunk); weights as the fixture's meta records.
RECIPES = {
    "esrgan": [
        TINY_RRDBNET, "network_d={type: VGGStyleDiscriminator, num_feat: 2}",
        "vgg.layer=conv5_4", "losses.adversarial.form=relativistic",
        "train.phases=[{name: gan, iters: 3, lr: 0.0001,"
        " losses: {pixel: 0.01, perceptual: 1, adversarial: 0.005}}]",
    ],
    # USM stays off: the fixture's gt already stands for the sharpened target
    "realesrgan": [
        TINY_RRDBNET, "network_d={type: UNetDiscriminatorSN, num_feat: 4}",
        "vgg.layer={conv1_2: 0.1, conv2_2: 0.1, conv3_4: 1, conv4_4: 1, conv5_4: 1}",
        "losses.adversarial.form=vanilla",
        "train.phases=[{name: gan, iters: 3, lr: 0.0001,"
        " losses: {pixel: 1, perceptual: 1, adversarial: 0.1}}]",
    ],
}
# Our step's terms (unweighted, but for the totals) -> the fixture's (weighted) names.
G_TERMS = {"l_g_pix": "g_pixel", "l_g_percep": "g_perceptual", "l_g_gan": "g_adversarial",
           "l_g_total": "g_total"}
D_TERMS = {"l_d_real": "d_real", "l_d_fake": "d_fake", "l_d_total": "d_loss"}
WEIGHT_OF = {"g_pixel": "pixel", "g_perceptual": "perceptual", "g_adversarial": "adversarial"}

# Tolerances (issue 27, as the SRGAN step): losses of the first iteration 1e-4 relative, later
# ones 1e-3 relative or 1e-5 absolute (a D loss tending to 0); weight updates (after - init)
# 1e-3 relative for G and D together (Frobenius, as the fixture's meta measures torch's own
# float32 run: 7e-5 ESRGAN, 5e-5 Real-ESRGAN) and 5% for each tensor (torch float32: 3.5%,
# 2.2%): checked against each fixture's meta below. Measured here (Paddle 3.3.1 / 2.6.2):
# losses within 1e-5; updates 9e-5 / 1.1e-4 together and 4.1% / 4.0% worst (ESRGAN D's
# linear1.bias, torch float32's worst too). G alone is ~6e-3 from the float64 run in torch
# float32 and here alike: Adam's first steps are ~lr x sign(gradient), and two weights of
# ESRGAN's G whose gradients are ~0 flip with rounding.
FIRST_RTOL, LATER_RTOL, LATER_ATOL = 1e-4, 1e-3, 1e-5
MODEL_UPDATE_RTOL, TENSOR_UPDATE_RTOL = 1e-3, 0.05


def fixture(name):
    with np.load(FIXTURES / "esrgan" / f"{name}_steps.npz") as z:
        return {k: z[k] for k in z.files}


def state(z, prefix):
    """The fixture's PyTorch state dict under `prefix` ('g/', 'd_after/', ...)."""
    return {k[len(prefix):]: v for k, v in z.items()
            if k.startswith(prefix) and not k.endswith("num_batches_tracked")}


def seeded_vgg(vgg, seed):
    """Put the fixture's VGG19 weights (regenerated from its seed) into our VGGFeatures."""
    own = vgg.state_dict()
    names = sorted(own, key=lambda k: (int(k.split(".")[1]), k.endswith(".bias")))
    weights = lpips_random_weights.random_weights(names, [own[k].shape for k in names], seed)
    vgg.set_state_dict({k: paddle.to_tensor(v) for k, v in weights.items()})


def run_recipe(name, z):
    """(our terms per iteration [{name: float}], G and D after the 3 iterations)."""
    cfg = load_config(None, RECIPES[name] + BASICSR_ADAM + BASICSR_L1
                      + ["vgg.weights=none", "device=cpu"])
    meta = json.loads(str(z["meta"]))
    phase = cfg["train"]["phases"][0]
    weights = phase["losses"]
    assert (weights["pixel"], weights["adversarial"]) == (meta["pixel_weight"],
                                                          meta["gan_weight"])
    with pytest.warns(UserWarning, match="RANDOM VGG19"):
        nets = build_networks(cfg)
    assert nets.perceptual.layer_weights == meta["layer_weights"]
    load_torch_state(nets.G, state(z, "g/"))
    load_torch_state(nets.D, state(z, "d/"))
    seeded_vgg(nets.perceptual.vgg, meta["vgg_seed"])
    nets.G.train()
    nets.D.train()
    step = PhaseStep(nets, phase, cfg["train"], cfg["losses"], (4,), NanGuard(True, 1))
    batch = {"lr": paddle.to_tensor(z["lq_uint8"].astype(np.float32) / 255),
             "hr": paddle.to_tensor(z["gt_uint8"].astype(np.float32) / 255)}
    history = []
    for _ in range(meta["steps"]):
        terms = {k: float(v) for k, v in step(batch).items()}
        history.append({k: v * weights[WEIGHT_OF[k]] if k in WEIGHT_OF else v
                        for k, v in terms.items()})
    return history, nets


def update_errors(z, nets):
    """({tensor: relative error of our update}, relative error of the update of all tensors
    together), as make_esrgan_steps.update_error measures torch's float32 run (meta): updates
    = after - init over G and D, errors = ||ours - reference|| / ||reference|| (Frobenius);
    a tensor the reference leaves still (ESRGAN D's linear2.bias: RaGAN sees differences of
    logits only, its gradient is 0 up to rounding, which Adam's first steps blow up to ~lr)
    counts in the whole only. BN running variances are left out: Paddle updates them with the
    biased batch variance, PyTorch with the unbiased one (the fixtures' README)."""
    errors, num, den = {}, 0.0, 0.0
    for prefix, net in (("g", nets.G), ("d", nets.D)):
        init, after = state(z, f"{prefix}/"), state(z, f"{prefix}_after/")
        ours = {k: v.numpy().astype(np.float64) for k, v in net.state_dict().items()}
        for key, ref_after in after.items():
            if key.endswith("running_var"):
                continue
            mine = ours[paddle_key(key)]
            if key.startswith("linear") and key.endswith(".weight"):
                mine = mine.T
            ref = ref_after.astype(np.float64) - init[key]
            diff = mine - init[key] - ref
            num, den = num + np.sum(diff ** 2), den + np.sum(ref ** 2)
            if np.linalg.norm(ref) > 0:
                errors[f"{prefix}/{key}"] = float(np.linalg.norm(diff) / np.linalg.norm(ref))
    return errors, float(np.sqrt(num / den))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_training_steps_match_basicsr(name):
    z = fixture(name)
    meta = json.loads(str(z["meta"]))
    # the bounds hold for torch's own float32 run against the float64 reference
    assert meta["f32_vs_f64_update_rel_worst_tensor"] < TENSOR_UPDATE_RTOL
    assert meta["f32_vs_f64_update_rel_all"] < MODEL_UPDATE_RTOL
    history, nets = run_recipe(name, z)
    names = {**G_TERMS, **D_TERMS}
    compared = [k for k in names if f"loss/{k}" in z]
    assert len(compared) == (7 if name == "esrgan" else 6)
    for i, terms in enumerate(history):
        for key in compared:
            ours, ref = terms[names[key]], float(z[f"loss/{key}"][i])
            if i == 0:
                assert ours == pytest.approx(ref, rel=FIRST_RTOL), (key, i)
            else:
                assert ours == pytest.approx(ref, rel=LATER_RTOL, abs=LATER_ATOL), (key, i)
    if "loss/l_d_total" not in z:  # Real-ESRGAN: D's loss is its two terms' sum
        assert history[0]["d_loss"] == pytest.approx(
            float(z["loss/l_d_real"][0] + z["loss/l_d_fake"][0]), rel=FIRST_RTOL)
    per_tensor, whole = update_errors(z, nets)
    assert whole <= MODEL_UPDATE_RTOL, whole
    worst = max(per_tensor, key=per_tensor.get)
    assert per_tensor[worst] <= TENSOR_UPDATE_RTOL, (worst, per_tensor[worst])


TINY_DISCRIMINATORS = {
    "Discriminator": "{type: Discriminator, num_feat: 4, num_block: 4, fc_size: 8}",
    "VGGStyleDiscriminator": "{type: VGGStyleDiscriminator, num_feat: 2}",
    "UNetDiscriminatorSN": "{type: UNetDiscriminatorSN, num_feat: 4}",
}


def test_the_tiny_discriminators_are_the_whole_table():
    from paddle_srgan.models import DISCRIMINATORS
    assert set(TINY_DISCRIMINATORS) == {cls.__name__ for cls in DISCRIMINATORS}


@pytest.mark.parametrize("network_d", sorted(TINY_DISCRIMINATORS))
@pytest.mark.parametrize("form, feature_matching", [("vanilla", 0), ("relativistic", 0),
                                                    ("vanilla", 1)])
def test_every_discriminator_trains_in_every_gan_form(network_d, form, feature_matching):
    """One step of a GAN phase whose only G terms look through D: G moves (the gradient went
    through D), D moves, every term is finite; per-pixel logits (U-Net) included."""
    cfg = load_config(None, [
        TINY_RRDBNET, f"network_d={TINY_DISCRIMINATORS[network_d]}", "device=cpu",
        f"losses.adversarial.form={form}",
        "train.phases=[{name: gan, iters: 1, losses: {pixel: 0, perceptual: 0,"
        f" adversarial: 0.1, feature_matching: {feature_matching}}}}}]"])
    paddle.seed(8)
    nets = build_networks(cfg)
    before = {f"{n}/{k}": v.numpy().copy() for n, net in (("G", nets.G), ("D", nets.D))
              for k, v in net.state_dict().items()}
    step = PhaseStep(nets, cfg["train"]["phases"][0], cfg["train"], cfg["losses"], (4,),
                     NanGuard(True, 1))
    terms = step({"lr": paddle.rand([2, 3, 32, 32]), "hr": paddle.rand([2, 3, 128, 128])})
    expected = {"g_adversarial", "g_total", "d_loss", "d_real", "d_fake"}
    if feature_matching:
        expected.add("g_feature_matching")
    assert expected <= set(terms)
    assert all(np.isfinite(float(v)) for v in terms.values())
    after = {f"{n}/{k}": v.numpy() for n, net in (("G", nets.G), ("D", nets.D))
             for k, v in net.state_dict().items()}
    for net in ("G", "D"):
        moved = [k for k in after if k.startswith(net)
                 and not np.array_equal(after[k], before[k])]
        assert len(moved) > len([k for k in after if k.startswith(net)]) // 2, net
