"""End-to-end training tests on a tiny config: resume determinism after kill -9, SIGTERM,
atomic saves, the NaN guard, VisualDL steps and 2-process data parallel."""
import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan.config import load_config
from paddle_srgan.data import datasets
from paddle_srgan.engine.figures import read_scalars
from paddle_srgan.engine.logger import LossMeter
from paddle_srgan.engine.step import NanGuard, PhaseStep, TrainingError, build_networks
from paddle_srgan.engine.trainer import Trainer

from conftest import ITERS, ROOT, not_blank, run_tool, tiny_config

# Runs tools/train.py with one fault injected at iteration `FAULT_AT`, by kind `FAULT`:
#   step       FAULT_SIGNAL sent to itself just before that iteration's step
#   rename     kill -9 when that iteration's checkpoint, complete in its temporary file, is
#              about to be renamed into place
#   half       kill -9 with half of that checkpoint written
#   disk_full  half of that checkpoint written, then ENOSPC (the run fails with an error)
FAULT_WRAPPER = """
import os, runpy, signal, sys
sys.path.insert(0, {root!r})
from paddle_srgan.engine import step as step_module
from paddle_srgan.compat import import_paddle
paddle = import_paddle()  # cv2 before paddle (Paddle 2.6's libpng clash; see the README)
kind, at, sig = os.environ["FAULT"], int(os.environ["FAULT_AT"]), int(os.environ["FAULT_SIGNAL"])

def this_checkpoint(path):
    return os.path.basename(path).startswith(f"iter_{{at:08d}}.pdparams")

if kind == "step":
    step = step_module.PhaseStep.__call__
    def faulty_step(self, batch):
        if self.iteration + 1 == at:
            os.kill(os.getpid(), sig)
        return step(self, batch)
    step_module.PhaseStep.__call__ = faulty_step
elif kind == "rename":
    replace = os.replace
    def faulty_replace(src, dst):
        if this_checkpoint(dst):
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst)
    os.replace = faulty_replace
else:
    save = paddle.save
    def faulty_save(obj, path, *args, **kwargs):
        if this_checkpoint(path):
            with open(path, "wb") as f:
                f.write(b"\\x80\\x04half a checkpoint")
            if kind == "half":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(28, "No space left on device")
        return save(obj, path, *args, **kwargs)
    paddle.save = faulty_save
sys.argv = ["tools/train.py"] + sys.argv[1:]
runpy.run_path({train!r}, run_name="__main__")
"""


def run_with_fault(config, at, sig=signal.SIGKILL, *args, kind="step"):
    code = FAULT_WRAPPER.format(root=str(ROOT), train=str(ROOT / "tools" / "train.py"))
    env = {**os.environ, "FAULT": kind, "FAULT_AT": str(at), "FAULT_SIGNAL": str(int(sig)),
           "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-c", code, "-c", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def generator_weights(run_dir):
    return {k: v.numpy()
            for k, v in paddle.load(str(run_dir / "checkpoints" / "gan_G.pdparams")).items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def vdl_steps(run_dir, tag):
    from visualdl import LogReader
    steps = []
    for f in sorted(glob.glob(str(run_dir / "vdl" / "vdlrecords*"))):
        steps += [r.id for r in LogReader(file_path=f).get_data("scalar", tag)]
    return steps


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, train_images):
    tmp = tmp_path_factory.mktemp("straight")
    config = tiny_config(tmp, train_images)
    out = run_tool("train", "-c", config)
    return tmp / "runs" / "tiny", out


def test_straight_run_writes_the_run_directory(straight_run):
    run_dir, out = straight_run
    assert (run_dir / "config.yml").is_file() and (run_dir / "log.txt").is_file()
    names = sorted(os.listdir(run_dir / "checkpoints"))
    # keep_last 2 of iterations 3, 6, 9, 12 + best + per-phase generators
    assert [n for n in names if n.startswith("iter_")] == ["iter_00000009.pdparams",
                                                          "iter_00000012.pdparams"]
    assert {"best.pdparams", "best.json", "mse_G.pdparams", "gan_G.pdparams"} <= set(names)
    state = ckpt.load_checkpoint(str(run_dir / "checkpoints" / "iter_00000012.pdparams"))
    assert state["iteration"] == 12 and state["phase"] == 1
    assert set(state) >= {"G", "D", "opt_g", "opt_d", "scaler_g", "scaler_d", "best", "rng",
                          "config"}
    log = (run_dir / "log.txt").read_text()
    assert "finished 12 iterations. validation PSNR" in log and "bicubic" in log
    assert "NIQE" in log and "HR images" in log
    assert not_blank(run_dir / "perception_distortion.png")
    assert "ms/it, data" in log
    # the gan phase's lr dropped x0.1 at its milestone (iteration 3 of the phase)
    assert state["opt_g"]["LR_Scheduler"]["last_lr"] == pytest.approx(1e-4)


def test_visualdl_has_every_term_with_increasing_steps(straight_run):
    run_dir, _ = straight_run
    assert vdl_steps(run_dir, "train/g_pixel") == [2, 4, 6]
    assert vdl_steps(run_dir, "train/g_adversarial") == [8, 10, 12]
    for tag in ("train/g_perceptual", "train/d_loss", "train/d_real_prob", "train/d_fake_prob",
                "train/lr_d"):
        assert vdl_steps(run_dir, tag) == [8, 10, 12], tag
    assert vdl_steps(run_dir, "train/lr_g") == vdl_steps(run_dir, "time/step_time") == \
        [2, 4, 6, 8, 10, 12]
    assert vdl_steps(run_dir, "val/psnr") == vdl_steps(run_dir, "val/niqe") == \
        vdl_steps(run_dir, "val/grid") == [4, 6, 8, 12]
    # the reference levels, once: bicubic's and the HR images' own NIQE
    assert vdl_steps(run_dir, "val_bicubic/niqe") == vdl_steps(run_dir, "val_hr/niqe") == [0]


def best_record(run_dir):
    return json.loads((run_dir / "checkpoints" / "best.json").read_text())


def test_best_checkpoint_is_the_best_validation_and_scores_it(straight_run):
    """best.json names the validation with the highest PSNR (the first of equals), and
    best.pdparams holds the generator that scored it."""
    from paddle_srgan.data.datasets import build_val_set
    from paddle_srgan.engine.evaluator import evaluate
    from paddle_srgan.models import build_generator
    run_dir, _ = straight_run
    steps, values = read_scalars(str(run_dir / "scalars.jsonl"))["val/psnr"]
    best = best_record(run_dir)
    assert best["metric"] == "psnr" and best["iteration"] == steps[int(np.argmax(values))]
    assert best["value"] == pytest.approx(max(values), abs=1e-6)
    cfg = load_config(str(run_dir / "config.yml"))
    g = ckpt.load_generator_weights(build_generator(cfg),
                                    str(run_dir / "checkpoints" / "best.pdparams"))
    g.eval()
    assert evaluate(build_val_set(cfg), cfg["scale"], g)["psnr"] == pytest.approx(best["psnr"],
                                                                                 abs=1e-6)


def test_kill9_then_resume_matches_the_uninterrupted_run(straight_run, tmp_path, train_images):
    config = tiny_config(tmp_path, train_images)
    proc = run_with_fault(config, 8, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "tiny"
    assert [i for i, _ in ckpt.list_checkpoints(run_dir)] == [3, 6]
    out = run_tool("train", "-c", config, "--resume").stdout
    assert "resumed from" in out and "iteration 6" in out
    assert_same_weights(generator_weights(run_dir), generator_weights(straight_run[0]))
    assert best_record(run_dir) == best_record(straight_run[0])  # the best survives a kill
    steps = vdl_steps(run_dir, "train/g_total")
    assert steps == sorted(steps) and steps[-1] == 12 and steps.count(8) == 1


def test_kill9_then_resume_is_exact_with_the_realworld_pipeline(tmp_path, train_images):
    """Real-world degradations draw from each patch's own generator: a run killed and resumed
    (with 2 workers) ends with the weights of an uninterrupted run (in the main process)."""
    runs = {}
    for name, workers in (("straight", 0), ("killed", 2)):
        (tmp_path / name).mkdir()
        runs[name] = tiny_config(tmp_path / name, train_images, **{
            "datasets.train.type": "realworld", "datasets.train.hr_crop": 48,
            "datasets.train.num_workers": workers})
    run_tool("train", "-c", runs["straight"])
    proc = run_with_fault(runs["killed"], 8, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert "resumed from" in run_tool("train", "-c", runs["killed"], "--resume").stdout
    assert_same_weights(generator_weights(tmp_path / "killed" / "runs" / "tiny"),
                        generator_weights(tmp_path / "straight" / "runs" / "tiny"))


def test_sigterm_saves_and_exits_cleanly_then_resumes(straight_run, tmp_path, train_images):
    config = tiny_config(tmp_path, train_images)
    proc = run_with_fault(config, 5, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "Traceback" not in proc.stderr
    run_dir = tmp_path / "runs" / "tiny"
    assert ckpt.list_checkpoints(run_dir)[-1][0] == 5
    assert "stopped by SIGTERM at iteration 5" in (run_dir / "log.txt").read_text()
    assert not_blank(run_dir / "curves.png")  # how it went so far, for a notebook
    run_tool("train", "-c", config, "--resume", run_dir / "checkpoints" / "iter_00000005.pdparams")
    assert_same_weights(generator_weights(run_dir), generator_weights(straight_run[0]))


def test_fresh_run_refuses_a_used_run_directory(straight_run, train_images):
    run_dir, _ = straight_run
    config = run_dir.parent.parent / "tiny.yml"
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2 and "already holds checkpoints" in proc.stderr
    proc = run_tool("train", "-c", config, "-o", "experiment=other", "--resume", check=False)
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr


def test_val_every_epochs_validates_on_epoch_boundaries(tmp_path, train_images):
    """4 images x 5 patches / batch 2 = 10 iterations an epoch: validation at 10, and at
    the phase ends (6, 12), not every val_interval."""
    config = tiny_config(tmp_path, train_images, **{
        "datasets.train.patches_per_image": 5, "train.val_every_epochs": 1,
        "train.val_interval": 4, "train.save_interval": 100})
    run_tool("train", "-c", config)
    steps, _ = read_scalars(str(tmp_path / "runs" / "tiny" / "scalars.jsonl"))["val/psnr"]
    assert steps == [6, 10, 12]


def test_resume_with_changed_config_warns(straight_run, tmp_path, train_images):
    config = tiny_config(tmp_path, train_images)
    run_with_fault(config, 4, signal.SIGTERM)
    out = run_tool("train", "-c", config, "--resume", "-o", "train.log_interval=3").stdout
    assert "changed config" in out and "train.log_interval: 2 -> 3" in out


def test_atomic_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run" / "checkpoints" / "iter_00000001.pdparams"
    ckpt.atomic_save({"iteration": 1, "format": ckpt.CHECKPOINT_FORMAT}, str(path))
    real_save = paddle.save

    def crash(obj, target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"half a checkpoi")
        raise OSError("disk full")
    monkeypatch.setattr(paddle, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_save({"iteration": 2}, str(path))
    monkeypatch.setattr(paddle, "save", real_save)
    assert ckpt.load_checkpoint(str(path))["iteration"] == 1
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "iter_00000003.pdparams"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ckpt.CheckpointError, match="iter_00000003.pdparams: unreadable"):
        ckpt.load_checkpoint(str(bad))


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


def test_two_process_data_parallel(tmp_path, train_images):
    """paddle.distributed.launch with 2 CPU processes: both ranks end with the same weights,
    and rank 0's checkpoint loads in a single process."""
    config = tiny_config(tmp_path, train_images, **{"train.phases": [{"name": "mse", "iters": 4}],
                                                   "train.val_interval": 100})
    dump = ("import json, sys, runpy\nsys.path.insert(0, {root!r})\n"
            "from paddle_srgan.engine import trainer\n"
            "from paddle_srgan.data import datasets\n"
            "import paddle\n"
            "run, sampled = trainer.Trainer.run, []\n"
            "iterate = datasets.EpochBatchSampler.__iter__\n"
            "def record(self):\n"
            "    for batch in iterate(self):\n"
            "        sampled.append([int(i) for i in batch])\n"
            "        yield batch\n"
            "datasets.EpochBatchSampler.__iter__ = record\n"
            "def run_and_dump(self):\n"
            "    out = run(self)\n"
            "    paddle.save(self.nets.G.state_dict(),"
            " {out!r} + f'/G_rank{{self.rank}}.pdparams')\n"
            "    json.dump(sampled, open({out!r} + f'/batches_rank{{self.rank}}.json', 'w'))\n"
            "    return out\n"
            "trainer.Trainer.run = run_and_dump\n"
            "sys.argv = ['train.py', '-c', {cfg!r}]\n"
            "runpy.run_path({train!r}, run_name='__main__')\n").format(
        root=str(ROOT), out=str(tmp_path), cfg=str(config), train=str(ROOT / "tools" / "train.py"))
    script = tmp_path / "ddp_train.py"
    script.write_text(dump)
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch",
                           "--nproc_per_node", "2",
                           "--log_dir", str(tmp_path / "ddp_logs"), str(script)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    logs = "".join(open(f).read() for f in glob.glob(str(tmp_path / "ddp_logs" / "workerlog.*")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + logs[-3000:]
    w0 = {k: v.numpy() for k, v in paddle.load(str(tmp_path / "G_rank0.pdparams")).items()}
    w1 = {k: v.numpy() for k, v in paddle.load(str(tmp_path / "G_rank1.pdparams")).items()}
    assert_same_weights(w0, w1)
    # each rank trained on its own half of every global batch: equal weights from different
    # data means the gradients were all-reduced
    ranks = [json.loads((tmp_path / f"batches_rank{r}.json").read_text()) for r in (0, 1)]
    single = datasets.EpochBatchSampler(len(datasets.build_train_set(load_config(config), (4,))),
                                        2 * load_config(config)["train"]["batch_size"], seed=7)
    for t, whole in zip(range(4), single):
        assert ranks[0][t] + ranks[1][t] == list(whole) and not set(ranks[0][t]) & set(ranks[1][t])
    run_dir = tmp_path / "runs" / "tiny"
    assert [i for i, _ in ckpt.list_checkpoints(run_dir)] == [3, 4]  # rank 0 only, no clash
    from paddle_srgan.models import build_generator
    g = ckpt.load_generator_weights(build_generator(load_config(config)),
                                    str(run_dir / "checkpoints" / "iter_00000004.pdparams"))
    np.testing.assert_allclose(g.head_conv.weight.numpy(), w0["head_conv.weight"], atol=1e-6)


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
    path = ckpt.save_checkpoint(ckpt.training_state(1, 0, nets, step, {}, {}, 0, cfg), run_dir, 1)
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
    path = ckpt.save_checkpoint(ckpt.training_state(1, 1, nets, step, {}, {}, 0, cfg),
                                str(tmp_path / "run"), 1)
    step(batches[1])
    state = ckpt.load_checkpoint(path)
    assert step.learning_rates() == {"lr_g": pytest.approx(1e-4), "lr_d": pytest.approx(1e-4)}
    nets2, step2 = make()
    ckpt.restore_training_state(state, nets2)
    step2.set_state_dict(state)
    step2(batches[1])
    for a, b in [(nets.G, nets2.G), (nets.D, nets2.D)]:
        assert_same_weights({k: v.numpy() for k, v in a.state_dict().items()},
                            {k: v.numpy() for k, v in b.state_dict().items()})


def test_a_failed_start_leaves_no_run_directory(tmp_path, train_images):
    """A bad data folder is refused before the run directory exists, so the folder does not
    linger (with the failed start's log and VisualDL file) under the next run's name."""
    config = tiny_config(tmp_path, train_images, **{"datasets.train.hr_dir": str(tmp_path / "no")})
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2 and "'datasets.train.hr_dir'" in proc.stderr
    assert not (tmp_path / "runs" / "tiny").exists()


def test_best_json_survives_a_failed_write(tmp_path, train_images, monkeypatch):
    """best.json is replaced atomically: a write that fails half way (disk full) keeps the
    previous best.json whole (it used to be truncated in place)."""
    import json
    cfg = load_config(tiny_config(tmp_path, train_images, **{
        "train.phases": [{"name": "mse", "iters": 6, "lr": 1e-3}], "train.val_interval": 2}))
    real_dump, calls = json.dump, []

    def disk_full_on_second_write(obj, f, **kwargs):
        calls.append(obj)
        if len(calls) == 2:
            f.write('{"metric": "ps')
            f.flush()
            raise OSError(28, "No space left on device")
        return real_dump(obj, f, **kwargs)
    monkeypatch.setattr(json, "dump", disk_full_on_second_write)
    trainer = Trainer(cfg)
    with pytest.raises(ckpt.CheckpointError) as err:
        trainer.run()
    assert str(err.value) == (
        f"could not write best.pdparams in {tmp_path / 'runs' / 'tiny' / 'checkpoints'} at "
        f"iteration 4 (No space left on device); the files written before are intact and "
        f"the newest checkpoint is iter_00000003.pdparams: free space, then run the same "
        f"command with --resume")
    assert len(calls) == 2  # the fault did happen (validation at 4 improved on 2)
    folder = tmp_path / "runs" / "tiny" / "checkpoints"
    assert json.loads((folder / "best.json").read_text())["iteration"] == 2
    assert not [n for n in os.listdir(folder) if ".tmp" in n]


# ------------------------------------------------------------------ process-group signals
# A long run with DataLoader workers, stopped from outside the way notebook platforms and
# `timeout` do it. Linux only: processes are found through /proc.
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")


def group_processes(pgid):
    """pids of the live (not zombie) processes of process group `pgid`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it ended meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def wait_for(condition, timeout, what):
    """Poll `condition()` until it is truthy (returned) or `timeout` seconds pass (fail)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def start_long_run(tmp_path, train_images):
    """tools/train.py in its own process group (session), with 2 DataLoader workers, running
    until stopped; returns (Popen, run_dir) once it has written a checkpoint."""
    config = tiny_config(tmp_path, train_images, **{
        "datasets.train.num_workers": 2, "train.save_interval": 5, "train.val_interval": 10 ** 6,
        "train.log_interval": 10 ** 6, "train.phases": [{"name": "mse", "iters": 10 ** 6}]})
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "train.py"), "-c", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    run_dir = tmp_path / "runs" / "tiny"
    try:
        wait_for(lambda: ckpt.list_checkpoints(run_dir) and len(group_processes(proc.pid)) >= 3,
                 300, "the first checkpoint and the two workers")
    except BaseException:
        kill_leftovers(proc)
        raise
    return proc, run_dir


def finish(proc, timeout=180):
    """(stdout, stderr) of the run once it ends; whatever happened, nothing of it is left."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        kill_leftovers(proc)


def kill_leftovers(proc):
    if group_processes(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaps it and closes the pipes


@needs_proc
@pytest.mark.parametrize("workers_first", [False, True])
def test_sigterm_to_the_process_group_saves_the_last_iteration(tmp_path, train_images,
                                                               workers_first):
    """SIGTERM to every process of the group (what notebook platforms and `timeout` do),
    also after the workers were already killed: a checkpoint of the last completed iteration,
    exit code 143, no traceback, and that checkpoint resumes."""
    proc, run_dir = start_long_run(tmp_path, train_images)
    if workers_first:  # e.g. the platform's OOM killer or a kill of the workers' pids
        for pid in group_processes(proc.pid):
            if pid != proc.pid:
                os.kill(pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    log = (run_dir / "log.txt").read_text()
    stopped = int(log.split("stopped by SIGTERM at iteration ")[1].split(";")[0])
    assert ckpt.list_checkpoints(run_dir)[-1][0] == stopped
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir)[-1][1])
    assert state["iteration"] == stopped


@needs_proc
def test_no_worker_outlives_a_killed_trainer(tmp_path, train_images):
    """kill -9 of the trainer: its DataLoader workers must not live on (they once ran for
    25 minutes, 280 MB each, reparented to init)."""
    proc, _ = start_long_run(tmp_path, train_images)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    try:
        wait_for(lambda: not group_processes(proc.pid), 10, "the workers to exit")
    finally:
        kill_leftovers(proc)


@needs_proc
def test_a_worker_killed_alone_still_leaves_the_last_iteration_saved(tmp_path, train_images):
    """A worker killed without a stop signal (the OOM killer): training cannot go on, but the
    iterations done since the last checkpoint are saved before the loader's error ends it."""
    proc, run_dir = start_long_run(tmp_path, train_images)
    worker = next(pid for pid in group_processes(proc.pid) if pid != proc.pid)
    os.kill(worker, signal.SIGKILL)
    out, err = finish(proc)
    assert proc.returncode == 1 and "DataLoader" in err, err[-3000:]
    log = (run_dir / "log.txt").read_text().splitlines()
    assert log[-1].split(" checkpoint ")[-1] == ckpt.list_checkpoints(run_dir)[-1][1]
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir)[-1][1])["iteration"] >= 5


# ------------------------------------------------------------------ fault injection
# Faults at points drawn at random (seeded, so a failure reproduces; the id names the point):
# kills anywhere in training and inside checkpoint writes. Each run is then resumed with a
# plain --resume and must end with the uninterrupted run's weights.
_points = np.random.default_rng(13)
SAVES = [6, 9, 12]  # save_interval 3 over 6 + 6 iterations; after 3 there is one to resume
FAULTS = [("step", int(_points.integers(2, sum(ITERS) + 1)))] + [
    (kind, int(at))
    for kind, at in zip(("rename", "half", "disk_full"), _points.permutation(SAVES))]


@pytest.mark.parametrize("kind, at", FAULTS, ids=[f"{k}@{a}" for k, a in FAULTS])
def test_fault_then_resume_ends_with_the_uninterrupted_weights(straight_run, tmp_path,
                                                               train_images, kind, at):
    config = tiny_config(tmp_path, train_images)
    proc = run_with_fault(config, at, kind=kind)
    if kind == "disk_full":
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert line.startswith(f"error: could not write iter_{at:08d}.pdparams") and \
            "(No space left on device)" in line and line.endswith("with --resume")
    else:
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny"
    assert all(i < at for i, _ in ckpt.list_checkpoints(run_dir))  # the faulty one never landed
    out = run_tool("train", "-c", config, "--resume").stdout
    assert "resumed from" in out
    assert_same_weights(generator_weights(run_dir), generator_weights(straight_run[0]))
    assert not [n for n in os.listdir(run_dir / "checkpoints") if ".tmp" in n]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_resume_passes_over_a_damaged_newest_checkpoint(straight_run, tmp_path, train_images,
                                                        damage):
    """A newest checkpoint that does not load (truncated by a full disk or a sync tool) makes
    --resume fall back to the previous one, with a warning naming the file; it used to be an
    error."""
    config = tiny_config(tmp_path, train_images)
    run_with_fault(config, 11, signal.SIGKILL)
    run_dir = tmp_path / "runs" / "tiny"
    assert [i for i, _ in ckpt.list_checkpoints(run_dir)] == [6, 9]
    newest = run_dir / "checkpoints" / "iter_00000009.pdparams"
    data = newest.read_bytes()
    newest.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"\0" * 1000)
    out = run_tool("train", "-c", config, "--resume").stdout
    assert f"warning: skipped the unreadable checkpoint {newest}: unreadable" in out
    assert f"resumed from {run_dir / 'checkpoints' / 'iter_00000006.pdparams'}" in out
    assert (run_dir / "checkpoints" / "iter_00000009.pdparams.corrupt").is_file()
    assert_same_weights(generator_weights(run_dir), generator_weights(straight_run[0]))


def test_a_corrupt_training_image_stops_the_run_in_one_line(tmp_path, train_images):
    """A truncated PNG passes the set's header checks and fails in a DataLoader worker; Paddle
    re-raises it in its reader thread with the worker's traceback inside, and the main thread
    then dies on 'Blocking queue is killed' (about 70 lines of two tracebacks). One line."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for image in train_images.iterdir():
        (folder / image.name).write_bytes(image.read_bytes())
    data = (folder / "coffee.png").read_bytes()
    (folder / "coffee.png").write_bytes(data[:len(data) // 2])
    config = tiny_config(tmp_path, folder, **{"datasets.train.num_workers": 2})
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Blocking queue" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "rror" in line]
    assert errors == [f"error: cannot read image {folder / 'coffee.png'}: truncated PNG (the "
                      f"file ends before its last chunk)"]
