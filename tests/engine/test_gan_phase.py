"""The GAN phase: the paper's variants as documented in the manual (docs/training.md), the
rule that a discriminator trains exactly where an adversarial weight is set, the adversarial
loss forms and feature matching, and choosing best.pdparams by NIQE."""
import json
import re
import shlex

import numpy as np
import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan import losses
from paddle_srgan.config import ConfigError, load_config
from paddle_srgan.engine.curves import read_scalars
from paddle_srgan.engine.step import NanGuard, PhaseStep, build_networks
from paddle_srgan.engine.trainer import Trainer
from paddle_srgan.errors import UserError
from paddle_srgan.models import Discriminator

from conftest import ROOT, SET5, manual_text, run_tool, tiny_config


def manual_variants():
    """{variant: [override, ...]} from the manual's table of the paper's variants."""
    text = manual_text()
    rows = re.findall(r"^\| (SR(?:ResNet|GAN)-\w+) \| `-o ([^`]+)`[^|]*\|", text, re.M)
    return {name: shlex.split(overrides) for name, overrides in rows}


VARIANTS = manual_variants()


def tiny_paper_config(tmp_path, train_images, overrides):
    """configs/srgan.yml shrunk (random VGG, tiny networks and crops) with a variant's
    overrides, then every phase cut to 2 iterations."""
    path = tmp_path / "tiny_paper.yml"
    path.write_text(
        f"base: {ROOT / 'configs' / 'srgan.yml'}\n"
        f"output_dir: {tmp_path / 'runs'}\ndevice: cpu\n"
        "network_g: {num_feat: 8, num_block: 1}\n"
        "network_d: {num_feat: 8, fc_size: 16}\n"
        "vgg: {weights: none}\n"
        f"datasets: {{train: {{hr_dir: {train_images}, hr_crop: 32, patches_per_image: 2,"
        f" num_workers: 0}}, val: {{hr_dir: {SET5 / 'HR'}, max_images: 1}}}}\n"
        "train: {batch_size: 2, log_interval: 1, num_samples: 0}\n")
    cfg = load_config(path, overrides)
    cut = [f"train.phases.{i}.iters=2" for i in range(len(cfg["train"]["phases"]))]
    cut += [f"train.phases.{i}.lr_milestones=[]" for i in range(len(cfg["train"]["phases"]))]
    return load_config(path, overrides + cut)


def test_the_manual_lists_the_papers_five_variants_and_srresnet_vgg54():
    assert sorted(VARIANTS) == ["SRGAN-MSE", "SRGAN-VGG22", "SRGAN-VGG54", "SRResNet-MSE",
                                "SRResNet-VGG22", "SRResNet-VGG54"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_paper_variant_trains(name, tmp_path, train_images):
    cfg = tiny_paper_config(tmp_path, train_images, VARIANTS[name])
    phases = cfg["train"]["phases"]
    adversarial = [p["losses"]["adversarial"] > 0 for p in phases]
    assert adversarial == [False] + [name.startswith("SRGAN")] * (len(phases) - 1)
    assert cfg["vgg"]["layer"] == ("relu2_2" if name.endswith("VGG22") else "relu5_4")
    summary = Trainer(cfg).run()
    assert summary["iteration"] == 2 * len(phases) and summary["stopped_by"] is None
    scalars = read_scalars(str(tmp_path / "runs" / "srgan_x4" / "scalars.jsonl"))
    last = {tag: values[-1] for tag, (_, values) in scalars.items()}
    # phase 2's terms: the content loss it names, D's loss exactly when it is an SRGAN
    content = "train/g_pixel" if name.endswith("MSE") else "train/g_perceptual"
    assert np.isfinite(last[content])
    assert ("train/d_loss" in scalars) == name.startswith("SRGAN")
    assert ("train/g_adversarial" in scalars) == name.startswith("SRGAN")


def test_a_discriminator_trains_wherever_an_adversarial_weight_is_set(tmp_path, train_images):
    """Whatever the phase is called: a phase named 'mse' with an adversarial weight trains D
    (before, D was built but never updated), a 'gan' phase without one builds no D."""
    cfg = load_config(tiny_config(tmp_path, train_images), [
        "train.phases.0.losses.adversarial=0.01", "train.phases.1.losses.adversarial=0"])
    nets = build_networks(cfg)
    guard = NanGuard(True, 5)
    mse = PhaseStep(nets, cfg["train"]["phases"][0], cfg["train"], cfg["losses"], (4,), guard)
    before = {k: v.numpy().copy() for k, v in nets.D.state_dict().items()}
    terms = mse({"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])})
    assert {"g_adversarial", "d_loss"} <= set(terms)
    assert any(not np.array_equal(v.numpy(), before[k]) for k, v in nets.D.state_dict().items())
    cfg = load_config(tiny_config(tmp_path, train_images), ["train.phases.1.losses.adversarial=0"])
    nets = build_networks(cfg)
    assert nets.D is None
    gan = PhaseStep(nets, cfg["train"]["phases"][1], cfg["train"], cfg["losses"], (4,), guard)
    assert "d_loss" not in gan({"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])})


def test_feature_matching_needs_an_adversarial_term_in_its_phase(tmp_path, train_images):
    with pytest.raises(ConfigError, match="feature_matching' needs an adversarial weight"):
        load_config(tiny_config(tmp_path, train_images),
                    ["train.phases.0.losses.feature_matching=1"])
    with pytest.raises(ConfigError, match="must be one of 'vanilla', 'relativistic'"):
        load_config(tiny_config(tmp_path, train_images), ["losses.adversarial.form=wgan"])


def bce(logit, label):
    """-[y log s(x) + (1 - y) log(1 - s(x))], by hand."""
    p = 1 / (1 + np.exp(-logit))
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_relativistic_losses_against_the_ragan_formulas():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(4, 1)), rng.normal(size=(4, 1)) - 1
    rt, ft = paddle.to_tensor(real), paddle.to_tensor(fake)
    d = (bce(real - fake.mean(), 1).mean() + bce(fake - real.mean(), 0).mean()) / 2
    g = (bce(real - fake.mean(), 0).mean() + bce(fake - real.mean(), 1).mean()) / 2
    assert float(losses.adversarial_d_terms(rt, ft, "relativistic")[0]) == pytest.approx(
        d, rel=1e-6)
    assert float(losses.adversarial_g_loss(ft, rt, "relativistic")) == pytest.approx(g, rel=1e-6)
    assert float(losses.adversarial_d_terms(rt, ft)[0]) == pytest.approx(
        bce(real, 1).mean() + bce(fake, 0).mean(), rel=1e-6)


def test_feature_matching_compares_every_block_of_the_discriminator():
    paddle.seed(0)
    d = Discriminator(num_feat=4, num_block=4, fc_size=8)
    d.eval()
    hr, sr = paddle.rand([2, 3, 32, 32]) * 2 - 1, paddle.rand([2, 3, 32, 32]) * 2 - 1
    hr_maps, hr_logits = d.forward_features(hr)
    assert len(hr_maps) == 4 and np.allclose(hr_logits.numpy(), d(hr).numpy())
    sr_maps, _ = d.forward_features(sr)
    by_hand = np.mean([np.abs(a.numpy() - b.numpy()).mean() for a, b in zip(sr_maps, hr_maps)])
    assert float(losses.feature_matching_loss(sr_maps, hr_maps)) == pytest.approx(by_hand,
                                                                                  rel=1e-5)
    assert float(losses.feature_matching_loss(hr_maps, hr_maps)) == 0.0
    # through the objective: gradients reach the SR image, not D's weights
    sr.stop_gradient = False
    objective = losses.GeneratorObjective({"adversarial": 1.0, "feature_matching": 1.0},
                                          {"criterion": "mse", "eps": 1e-3}, discriminator=d,
                                          adversarial_form="relativistic")
    total, terms = objective(sr, hr)
    total.backward()
    assert set(terms) == {"adversarial", "feature_matching"} and sr.grad is not None
    assert all(p.grad is None for p in d.parameters())


def test_best_checkpoint_by_niqe_and_the_psnr_floor(tmp_path, train_images):
    """best_metric niqe: the lowest validation NIQE wins (not the highest); with a PSNR floor
    no validation below it can win, and a floor nothing reaches writes no best.pdparams."""
    config = tiny_config(tmp_path, train_images, **{"train.best_metric": "niqe",
                                                    "train.val_interval": 2})
    run_tool("train", "-c", config)
    run_dir = tmp_path / "runs" / "tiny"
    scalars = read_scalars(str(run_dir / "scalars.jsonl"))
    steps, niqe = scalars["val/niqe"]
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "niqe" and best["iteration"] == steps[int(np.argmin(niqe))]
    assert best["value"] == pytest.approx(min(niqe)) and "psnr" in best
    out = run_tool("train", "-c", config, "-o", "experiment=floor",
                   "train.best_min_psnr_gain=50").stdout
    assert not (tmp_path / "runs" / "floor" / "checkpoints" / "best.pdparams").exists()
    assert "no validation reached train.best_min_psnr_gain" in out


def test_best_metric_niqe_needs_niqe(tmp_path, train_images):
    with pytest.raises(ConfigError, match="'train.val_niqe' is false"):
        load_config(tiny_config(tmp_path, train_images),
                    ["train.best_metric=niqe", "train.val_niqe=false"])


def test_ema_starts_at_the_pretrained_generator(tmp_path, train_images):
    """A GAN-only run from train.pretrained_g with an EMA: the average starts at the loaded
    weights (it started at the random init, so the saved 'EMA' generator was mostly noise),
    so after one step EMA = d * pretrained + (1 - d) * G."""
    paddle.seed(3)
    pretrained = build_networks(load_config(tiny_config(tmp_path, train_images))).G
    weights = tmp_path / "pretrained.pdparams"
    paddle.save(pretrained.state_dict(), str(weights))
    config = tiny_config(tmp_path, train_images, **{
        "train.pretrained_g": str(weights), "train.ema_decay": 0.9,
        "train.phases": [{"name": "gan", "iters": 1, "lr": 1e-3}]})
    trainer = Trainer(load_config(config))
    trainer.run()
    w = "head_conv.weight"
    start = pretrained.state_dict()[w].numpy()
    raw = trainer.nets.G.state_dict()[w].numpy()
    assert not np.allclose(raw, start)  # the step moved G
    np.testing.assert_allclose(trainer.nets.G_ema.state_dict()[w].numpy(),
                               0.9 * start + 0.1 * raw, rtol=1e-5, atol=1e-7)


def test_discriminator_starts_from_pretrained_d(tmp_path, train_images):
    """train.pretrained_d (a plain state dict, as convert_weights writes one) is D's start: a
    step at lr 1e-12 leaves the loaded weights, far from a fresh D's; the run's checkpoint
    gives its D back the same way; the config refuses it without a phase that trains D."""
    rng = np.random.default_rng(0)
    d = build_networks(load_config(tiny_config(tmp_path, train_images))).D
    start = {k: rng.normal(0, 0.05, v.shape).astype("float32") for k, v in d.state_dict().items()
             if not k.endswith(("_mean", "_variance"))}
    d.set_state_dict({**{k: v.numpy() for k, v in d.state_dict().items()}, **start})
    weights = tmp_path / "d.pdparams"
    paddle.save(d.state_dict(), str(weights))
    config = tiny_config(tmp_path, train_images, **{
        "train.pretrained_d": str(weights), "train.phases": [{"name": "gan", "iters": 1,
                                                              "lr": 1e-12}]})
    trainer = Trainer(load_config(config))
    trainer.run()
    trained = trainer.nets.D.state_dict()
    for key, value in start.items():
        np.testing.assert_allclose(trained[key].numpy(), value, atol=1e-6, err_msg=key)
    again = build_networks(load_config(config)).D
    assert not np.allclose(again.state_dict()["features.0.weight"].numpy(),
                           start["features.0.weight"], atol=1e-3)  # a fresh D is elsewhere
    checkpoints = sorted((tmp_path / "runs" / "tiny" / "checkpoints").glob("iter_*.pdparams"))
    ckpt.load_network_weights(again, str(checkpoints[-1]), "D")
    for key, value in trained.items():
        np.testing.assert_array_equal(again.state_dict()[key].numpy(), value.numpy())
    with pytest.raises(ConfigError, match=r"'train.pretrained_d' is set but no phase of "
                                          r"'train.phases' trains a discriminator"):
        load_config(config, ["train.phases=[{name: mse, iters: 1}]"])


def test_network_interpolation_blends_the_phase_end_with_its_start(tmp_path, train_images):
    """PhaseStep.finish: G = w * trained + (1 - w) * G at the phase start (ESRGAN); the start
    travels in the step's state (a checkpoint) so that a resumed phase blends with it, not
    with the weights it was resumed at."""
    cfg = load_config(tiny_config(tmp_path, train_images))
    nets = build_networks(cfg)
    phase = dict(cfg["train"]["phases"][1], network_interpolation=0.25)
    step = PhaseStep(nets, phase, cfg["train"], cfg["losses"], (4,), NanGuard(True, 3))
    start = {k: v.numpy().copy() for k, v in nets.G.state_dict().items()}
    batch = {"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])}
    step(batch)
    state = step.state_dict()
    resumed = PhaseStep(nets, phase, cfg["train"], cfg["losses"], (4,), NanGuard(True, 3))
    resumed.set_state_dict(state)  # built from the trained weights, as a resume is
    trained = {k: v.numpy().copy() for k, v in nets.G.state_dict().items()}
    w = "head_conv.weight"
    assert not np.allclose(trained[w], start[w])
    resumed.finish()
    for name, value in nets.G.state_dict().items():
        np.testing.assert_allclose(value.numpy(), 0.25 * trained[name] + 0.75 * start[name],
                                   rtol=1e-5, atol=1e-7)
    plain = PhaseStep(nets, cfg["train"]["phases"][1], cfg["train"], cfg["losses"], (4,),
                      NanGuard(True, 3))
    assert plain.state_dict()["g_start"] is None  # w = 1: nothing kept, finish changes nothing
    before = nets.G.state_dict()[w].numpy().copy()
    plain.finish()
    np.testing.assert_array_equal(nets.G.state_dict()[w].numpy(), before)
    with pytest.raises(UserError, match="holds no phase-start generator"):
        resumed.set_state_dict(plain.state_dict())


def test_network_interpolation_in_a_run_and_its_resume(tmp_path, train_images):
    """The GAN phase's file is the blend, also when the phase was resumed from a checkpoint
    in its middle (iteration 9 of 6 + 6)."""
    config = tiny_config(tmp_path, train_images,
                         **{"train.phases": [{"name": "mse", "iters": 6, "lr": 1e-3},
                                             {"name": "gan", "iters": 6, "lr": 1e-3,
                                              "network_interpolation": 0.5}]})
    run_tool("train", "-c", config)
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    mse = paddle.load(str(checkpoints / "mse_G.pdparams"))
    gan = paddle.load(str(checkpoints / "gan_G.pdparams"))
    end = paddle.load(str(checkpoints / "iter_00000012.pdparams"))
    w = "head_conv.weight"
    np.testing.assert_array_equal(end["G"][w].numpy(), gan[w].numpy())
    # the blend's other end is the GAN phase's start: the pixel phase's generator
    middle = paddle.load(str(checkpoints / "iter_00000009.pdparams"))
    np.testing.assert_array_equal(middle["step"]["g_start"][w].numpy(), mse[w].numpy())
    (checkpoints / "iter_00000012.pdparams").unlink()
    run_tool("train", "-c", config, "--resume")
    again = paddle.load(str(checkpoints / "gan_G.pdparams"))
    np.testing.assert_allclose(again[w].numpy(), gan[w].numpy(), atol=1e-6)


def test_network_interpolation_values(tmp_path, train_images):
    config = tiny_config(tmp_path, train_images)
    for value in (0, 1.5):
        with pytest.raises(ConfigError, match=r"network_interpolation' must be a number > 0 "
                                              r"and <= 1"):
            load_config(config, [f"train.phases.1.network_interpolation={value}"])
    with pytest.raises(ConfigError, match="both average generator weights"):
        load_config(config, ["train.phases.1.network_interpolation=0.5",
                             "train.ema_decay=0.99"])


def test_missing_pretrained_weights_stop_the_start_before_a_run_folder_exists(tmp_path,
                                                                            train_images):
    """configs/esrgan.yml starts from esrgan_psnr's G: run before that stage, the start is one
    line naming the file, and no run folder is left behind to resume by mistake."""
    for key in ("pretrained_g", "pretrained_d"):
        config = tiny_config(tmp_path, train_images, **{
            f"train.{key}": str(tmp_path / "missing.pdparams"),
            "train.phases": [{"name": "gan", "iters": 1, "lr": 1e-3}]})
        proc = run_tool("train", "-c", config, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: weights file not found: {tmp_path / 'missing.pdparams'}"], proc.stderr
        assert not (tmp_path / "runs").exists()
