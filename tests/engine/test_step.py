"""engine/step.py: one PhaseStep (the NaN guard, no host sync per step, EMA) and its state
through a checkpoint."""

import numpy as np
import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan.config import load_config
from paddle_srgan.engine.logger import LossMeter
from paddle_srgan.engine.step import NanGuard, PhaseStep, TrainingError, build_networks

from conftest import (
    assert_same_weights,
    tiny_config,
)

# the trainer's best-metric record before any validation
NO_BEST = {"metric": "psnr", "value": None, "iteration": None}


def test_nan_guard_skips_steps_then_stops(tmp_path, train_images):
    cfg = load_config(tiny_config(tmp_path, train_images, **{"train.max_nan_steps": 3}))
    nets = build_networks(cfg)
    warnings = []
    guard = NanGuard(True, cfg["train"]["max_nan_steps"], warn=warnings.append)
    gan = dict(cfg["train"]["phases"][1],
               losses={"pixel": 1.0, "perceptual": 0.0, "adversarial": 1e-3})
    step = PhaseStep(nets, gan, cfg["train"], cfg["losses"], (4,), guard)
    before = {k: v.numpy().copy() for k, v in {**nets.G.state_dict(),
                                              **nets.D.state_dict()}.items()}
    batch = {"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.full([2, 3, 32, 32], float("nan"))}
    assert step(batch) is None and step(batch) is None
    for k, v in {**nets.G.state_dict(), **nets.D.state_dict()}.items():
        np.testing.assert_array_equal(v.numpy(), before[k])  # BN statistics included
    assert warnings == [f"warning: non-finite generator loss at iteration {i}; step skipped "
                        f"({i} in a row)" for i in (1, 2)]
    good = {"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])}
    terms = step(good)
    assert {"g_pixel", "g_adversarial", "d_loss"} <= set(terms) and guard.streak == 0
    for _ in range(2):
        step(batch)
    with pytest.raises(TrainingError, match="3 consecutive non-finite losses at iteration 6"):
        step(batch)


@pytest.fixture
def host_reads(monkeypatch):
    """Records each outermost call of a tensor method that copies a value to the host (on a
    GPU, a wait for the device): a list of method names."""
    reads, depth = [], [0]
    for name in ("numpy", "item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(paddle.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            if not depth[0]:
                reads.append(_name)
            depth[0] += 1
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(paddle.Tensor, name, counted)
    return reads


@pytest.mark.parametrize("nan_guard, per_step", [(False, 0), (True, 2)])
def test_a_training_step_does_not_wait_for_the_device(tmp_path, train_images, host_reads,
                                                      nan_guard, per_step):
    """Users train on GPUs: a GAN step (with EMA) and the loss meter read nothing back to the
    host, but for the NaN guard's verdicts (one per G step, one per D step); the meter's
    means are read once per log line."""
    cfg = load_config(tiny_config(tmp_path, train_images, **{"train.ema_decay": 0.9}))
    nets = build_networks(cfg)
    gan = dict(cfg["train"]["phases"][1],
               losses={"pixel": 1.0, "perceptual": 1.0, "adversarial": 1e-3})
    step = PhaseStep(nets, gan, cfg["train"], cfg["losses"], (4,),
                     NanGuard(nan_guard, 3))
    meter = LossMeter()
    batch = {"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])}
    step(batch)  # the first step creates Adam's accumulators
    host_reads.clear()
    for _ in range(3):
        meter.add(step(batch), 0.0)
    assert host_reads == ["__bool__"] * (3 * per_step)
    host_reads.clear()
    means, _, _ = meter.pop()
    assert host_reads and {"g_pixel", "g_perceptual", "g_adversarial", "d_loss"} <= set(means)

def test_ema_update_maths_and_checkpoint(tmp_path, train_images):
    cfg = load_config(tiny_config(tmp_path, train_images, **{"train.ema_decay": 0.9}))
    nets = build_networks(cfg)
    step = PhaseStep(nets, cfg["train"]["phases"][0], cfg["train"], cfg["losses"],
                     (4,), NanGuard(True, 3))
    ema0 = {k: v.numpy().copy() for k, v in nets.G_ema.state_dict().items()}
    batch = {"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])}
    step(batch)
    raw = {k: v.numpy() for k, v in nets.G.state_dict().items()}
    ema = {k: v.numpy() for k, v in nets.G_ema.state_dict().items()}
    w = "head_conv.weight"
    assert not np.allclose(raw[w], ema0[w])  # the step moved G
    np.testing.assert_allclose(ema[w], 0.9 * ema0[w] + 0.1 * raw[w], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ema["body.0.bn1._mean"], raw["body.0.bn1._mean"])  # copied
    assert nets.G_eval is nets.G_ema
    run_dir = str(tmp_path / "run")
    path = ckpt.save_checkpoint(ckpt.training_state(1, 0, nets, step, NO_BEST, {}, 0, cfg),
                                run_dir, 1)
    from paddle_srgan.models import build_generator
    g = ckpt.load_generator_weights(build_generator(cfg), path, use_ema=True)
    np.testing.assert_allclose(g.head_conv.weight.numpy(), ema[w], atol=1e-7)
    plain = str(tmp_path / "plain.pdparams")
    paddle.save(nets.G.state_dict(), plain)
    with pytest.raises(ckpt.CheckpointError, match="holds no EMA generator"):
        ckpt.load_generator_weights(build_generator(cfg), plain, use_ema=True)


def test_phase_step_state_round_trips_through_a_checkpoint(tmp_path, train_images):
    """A PhaseStep's optimizers, schedules and scalers come back from a checkpoint: the next
    step then moves the weights exactly as the uninterrupted step does."""
    cfg = load_config(tiny_config(tmp_path, train_images))
    phase = dict(cfg["train"]["phases"][1], lr_milestones=[1])  # gan phase, lr drop after 1
    batches = [{"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])}
               for _ in range(2)]

    def make():
        paddle.seed(3)
        nets = build_networks(cfg)
        return nets, PhaseStep(nets, phase, cfg["train"], cfg["losses"], (4,),
                               NanGuard(True, 3))
    nets, step = make()
    step(batches[0])
    path = ckpt.save_checkpoint(ckpt.training_state(1, 1, nets, step, NO_BEST, {}, 0, cfg),
                                str(tmp_path / "run"), 1)
    step(batches[1])
    state = ckpt.load_checkpoint(path)
    assert step.learning_rates() == {"lr_g": pytest.approx(1e-4), "lr_d": pytest.approx(1e-4)}
    nets2, step2 = make()
    step2.set_state_dict(ckpt.restore_training_state(state, nets2)["step"])
    step2(batches[1])
    for a, b in [(nets.G, nets2.G), (nets.D, nets2.D)]:
        assert_same_weights({k: v.numpy() for k, v in a.state_dict().items()},
                            {k: v.numpy() for k, v in b.state_dict().items()})
