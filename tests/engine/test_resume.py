"""Nothing lost: kill -9, SIGTERM (to the trainer or its process group), faults inside
checkpoint writes and damaged checkpoints, each resumed to the uninterrupted run's weights."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from paddle_srgan import checkpoint as ckpt

from conftest import (
    ITERS,
    ROOT,
    assert_same_weights,
    best_record,
    child_env,
    generator_weights,
    not_blank,
    run_tool,
    tiny_config,
    vdl_steps,
)

# Runs tools/train.py with one fault injected at iteration `FAULT_AT`, by kind `FAULT`:
#   step       FAULT_SIGNAL sent to itself just before that iteration's step
#   rename     kill -9 when that iteration's checkpoint, complete in its temporary file, is
#              about to be renamed into place
#   half       kill -9 with half of that checkpoint written
#   disk_full  half of that checkpoint written, then ENOSPC (the run fails with an error)
FAULT_WRAPPER = """
import os, runpy, signal, sys
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
    code = FAULT_WRAPPER.format(train=str(ROOT / "tools" / "train.py"))
    env = child_env(FAULT=kind, FAULT_AT=str(at), FAULT_SIGNAL=str(int(sig)),
                    PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-c", code, "-c", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=600)

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


def test_kill9_then_resume_is_exact_with_rrdbnet_and_a_spectral_norm_discriminator(
        tmp_path, train_images):
    """Real-ESRGAN's networks: the U-Net discriminator's spectral norm keeps power-iteration
    vectors (weight_u / weight_v) that every train-mode forward updates. A run killed in the GAN
    phase and resumed ends with the G and D of an uninterrupted run only if the checkpoint
    carries them."""
    runs = {}
    for name in ("straight", "killed"):
        (tmp_path / name).mkdir()
        runs[name] = tiny_config(tmp_path / name, train_images, **{
            "network_g": {"type": "RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
            "network_d": {"type": "UNetDiscriminatorSN", "num_feat": 4},
            "losses.pixel.criterion": "l1"})
    run_tool("train", "-c", runs["straight"])
    proc = run_with_fault(runs["killed"], 11, signal.SIGKILL)  # GAN phase: 7 ... 12
    assert proc.returncode == -signal.SIGKILL
    out = run_tool("train", "-c", runs["killed"], "--resume").stdout
    assert "resumed from" in out and "iteration 9" in out  # u / v had 3 updates by then
    finals = {name: ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / name / "runs" / "tiny")
                                         [-1][1]) for name in runs}
    spectral = [k for k in finals["straight"]["D"] if k.endswith(("weight_u", "weight_v"))]
    assert len(spectral) == 16  # conv1 ... conv8, u and v each
    for net in ("G", "D"):
        assert_same_weights(*({k: v.numpy() for k, v in finals[name][net].items()}
                              for name in ("killed", "straight")))


def test_resume_with_changed_config_warns(straight_run, tmp_path, train_images):
    config = tiny_config(tmp_path, train_images)
    run_with_fault(config, 4, signal.SIGTERM)
    out = run_tool("train", "-c", config, "--resume", "-o", "train.log_interval=3").stdout
    assert "changed config" in out and "train.log_interval: 2 -> 3" in out

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
                            start_new_session=True, env=child_env(PYTHONWARNINGS="ignore"))
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
