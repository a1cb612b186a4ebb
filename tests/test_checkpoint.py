"""checkpoint.py: atomic writes, unreadable and older checkpoints, best.json."""
import json
import os

import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan import safe_load, storage
from paddle_srgan.config import load_config
from paddle_srgan.engine.step import NanGuard, PhaseStep, build_networks
from paddle_srgan.engine.trainer import Trainer
from paddle_srgan.errors import UserError

from conftest import (
    tiny_config,
)


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
    assert safe_load.load_file(path)["iteration"] == 1
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "iter_00000003.pdparams"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ckpt.CheckpointError, match="iter_00000003.pdparams: unreadable"):
        ckpt.load_checkpoint(str(bad))

def test_best_json_survives_a_failed_write(tmp_path, train_images, monkeypatch):
    """best.json is replaced atomically: a write that fails half way (disk full) keeps the
    previous best.json whole (it used to be truncated in place)."""
    cfg = load_config(tiny_config(tmp_path, train_images, **{
        "train.phases": [{"name": "mse", "iters": 6, "lr": 1e-3}], "train.val_interval": 2}))
    real_write, calls = storage.atomic_write, []

    def disk_full_on_second_best_json(path, write, sync=True):
        if os.path.basename(path) == "best.json":
            calls.append(path)
            if len(calls) == 2:
                def half_then_full(tmp):
                    with open(tmp, "w", encoding="utf-8") as f:
                        f.write('{"metric": "ps')
                    raise OSError(28, "No space left on device")
                return real_write(path, half_then_full, sync)
        return real_write(path, write, sync)
    monkeypatch.setattr(storage, "atomic_write", disk_full_on_second_best_json)
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


def test_a_checkpoint_holds_the_step_state_whole_and_older_ones_still_resume(tmp_path,
                                                                              train_images):
    """The PhaseStep's own state_dict is one entry ('step'); a checkpoint written before it
    was nested (opt_g, opt_d, scaler_g, scaler_d at the top level) gives the same step state."""
    cfg = load_config(tiny_config(tmp_path, train_images))
    nets = build_networks(cfg)
    step = PhaseStep(nets, cfg["train"]["phases"][1], cfg["train"], cfg["losses"], (4,),
                     NanGuard(True, 3))
    step({"lr": paddle.rand([2, 3, 8, 8]), "hr": paddle.rand([2, 3, 32, 32])})
    best = {"metric": "psnr", "value": None, "iteration": None}  # as the trainer starts it
    path = ckpt.save_checkpoint(ckpt.training_state(7, 1, nets, step, best, {}, 0, cfg),
                                str(tmp_path / "run"), 1)
    state = ckpt.load_checkpoint(path)
    assert set(state["step"]) == set(step.state_dict())
    old = {k: v for k, v in state.items() if k != "step"}
    old.update({k: state["step"][k] for k in ("opt_g", "opt_d", "scaler_g", "scaler_d")})
    new_counters = ckpt.restore_training_state(state, nets)
    old_counters = ckpt.restore_training_state(old, nets)
    assert old_counters["phase"] == new_counters["phase"] == 1
    assert old_counters["step"].keys() == new_counters["step"].keys() - {"g_start"}
    assert (old_counters["step"]["opt_g"]["LR_Scheduler"]
            == new_counters["step"]["opt_g"]["LR_Scheduler"])
    before = ckpt.training_state(0, None, nets, None, best, {}, 0, cfg)  # no phase started yet
    assert before["step"] is None and ckpt.restore_training_state(before, nets)["step"] is None


def test_a_phase_with_d_refuses_a_step_state_without_a_d_optimizer(tmp_path, train_images):
    """Resuming a non-adversarial phase's state into a phase that trains D (its losses were
    changed): was AttributeError on opt_d.set_state_dict(None)."""
    cfg = load_config(tiny_config(tmp_path, train_images))
    nets = build_networks(cfg)
    mse, gan = (PhaseStep(nets, phase, cfg["train"], cfg["losses"], (4,), NanGuard(True, 3))
                for phase in cfg["train"]["phases"])
    with pytest.raises(UserError) as error:
        gan.set_state_dict(mse.state_dict())
    assert str(error.value) == (
        "this phase trains D (losses.adversarial > 0), but the checkpoint holds no D optimizer "
        "state (it was saved in a phase without one): resume with the config it was saved with")


def test_a_save_removes_only_the_temporaries_of_dead_processes(tmp_path):
    """A kill -9 mid-save leaves <name>.pdparams.tmp<pid>; the next save removes it, but not
    the temporary file of a save still running in another process (it used to remove every
    other process's)."""
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    left = folder / f"iter_00000003.pdparams.tmp{int(dead.stdout)}"
    running = folder / f"best.pdparams.tmp{os.getppid()}"
    for path in (left, running):
        path.write_bytes(b"half a checkpoint")
    ckpt.save_checkpoint({"iteration": 6}, str(tmp_path / "run"), 2)
    assert not left.exists() and running.exists()
