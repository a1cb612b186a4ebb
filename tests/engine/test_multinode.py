"""Multi-node training as the README's "Several machines" describes it: two launchers of
paddle.distributed.launch (--nnodes 2 --master 127.0.0.1:PORT --rank 0/1, one CPU process
each, gloo) on this machine, the second with its own, empty run folder (nothing shared with
the first but the master address)."""
import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan.engine import resume

from conftest import ROOT, assert_same_weights, child_env, tiny_config

DEADLINE = 300  # seconds for one launch of the job, a bound only (it takes 10-20 s)
ITERS, KILLED_AFTER = 4, 2  # the job's iterations; node 1 stops after this one's checkpoint

# tools/train.py as a launcher starts it, plus two test hooks: with PAUSE_AFTER=<n>, rank 1
# prints its PID after iteration n's checkpoint and waits to be killed (a machine lost at a
# known point); at the end, every rank saves its generator to <out>/G_rank<r>.pdparams.
TRAIN_WITH_HOOKS = """
import os, sys, runpy, threading
from paddle_srgan.engine import trainer  # first: it imports cv2 before paddle (compat.py)
import paddle
save, run = trainer.Trainer.save, trainer.Trainer.run
def save_then_pause(self):
    save(self)
    if self.rank == 1 and str(self.iteration) == os.environ.get("PAUSE_AFTER"):
        print(f"rank 1 paused after iteration {{self.iteration}}, pid {{os.getpid()}}", flush=True)
        threading.Event().wait()
def run_and_dump(self):
    out = run(self)
    paddle.save(self.nets.G.state_dict(), {out!r} + f"/G_rank{{self.rank}}.pdparams")
    return out
trainer.Trainer.save, trainer.Trainer.run = save_then_pause, run_and_dump
sys.argv = [{train!r}] + sys.argv[1:]
runpy.run_path({train!r}, run_name="__main__")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Job:
    """The two launchers of one launch of the job; every process they started is killed
    (by process group) on exit, and after DEADLINE seconds at the latest."""

    def __init__(self, tmp_path, config, name, *args, pause_after=None):
        self.port = free_port()
        script = tmp_path / "train_with_hooks.py"
        script.write_text(TRAIN_WITH_HOOKS.format(out=str(tmp_path),
                                                  train=str(ROOT / "tools" / "train.py")))
        env = child_env(PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1")
        self.logs = [tmp_path / f"{name}_node{rank}" for rank in (0, 1)]
        self.nodes = []
        for rank in (0, 1):
            own = [] if rank == 0 else ["-o", f"output_dir={tmp_path / 'node1_runs'}"]
            node_env = dict(env, PAUSE_AFTER=str(pause_after)) if rank == 1 and pause_after \
                else env
            self.nodes.append(subprocess.Popen(
                [sys.executable, "-m", "paddle.distributed.launch", "--nnodes", "2",
                 "--master", f"127.0.0.1:{self.port}", "--rank", str(rank),
                 "--nproc_per_node", "1", "--log_dir", str(self.logs[rank]), str(script),
                 "-c", str(config), *own, *args],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=node_env,
                start_new_session=True))
        self.workers = []  # PIDs of workers known to the test (own sessions: setsid)
        self.watchdog = threading.Timer(DEADLINE, self.kill)
        self.watchdog.start()

    def kill(self, rank=None):
        """SIGKILL node `rank` (both when None): its launcher's group and its workers'."""
        for r in (0, 1) if rank is None else (rank,):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.nodes[r].pid, signal.SIGKILL)
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def wait_for_line(self, rank, start):
        """Read node `rank`'s launcher output (it copies its worker's log) until a line
        starting with `start`; returns that line."""
        for line in self.nodes[rank].stdout:
            if line.startswith(start):
                return line
        raise AssertionError(f"node {rank} ended without printing {start!r}:\n"
                             + self.worker_log(rank))

    def finish(self):
        """Both launchers' exit codes and outputs, once they ended (bounded by the watchdog)."""
        outputs = [node.communicate()[0] for node in self.nodes]
        self.watchdog.cancel()
        return [node.returncode for node in self.nodes], outputs

    def worker_log(self, rank):
        return "".join(open(f).read()
                       for f in glob.glob(str(self.logs[rank] / "workerlog.*")))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.watchdog.cancel()
        self.kill()
        for node in self.nodes:
            node.wait(timeout=30)


def iterations(run_dir):
    return sorted(int(os.path.basename(p)[5:13])
                  for p in glob.glob(str(run_dir / "checkpoints" / "iter_*.pdparams")))


def test_two_nodes_lose_one_then_resume_as_a_job_and_in_one_process(tmp_path, train_images):
    """Node 1 (its own empty run folder: rank 0 sends it the checkpoint) is killed after
    iteration 2's checkpoint: node 0 stops with one line saying what to do, its checkpoint
    stays. `--resume` on both
    launchers continues the job from it to the end with equal weights on both ranks; the
    same checkpoint also resumes in one plain process."""
    config = tiny_config(tmp_path, train_images, **{
        "train.phases": [{"name": "mse", "iters": ITERS}], "train.save_interval": 2,
        "train.val_interval": 100, "cpu_threads": 1})
    run_dir = tmp_path / "runs" / "tiny"
    with Job(tmp_path, config, "first", pause_after=KILLED_AFTER) as job:
        line = job.wait_for_line(1, "rank 1 paused")
        job.workers.append(int(line.split("pid ")[1]))
        job.kill(1)
        codes, outputs = job.finish()
    node0 = job.worker_log(0)
    assert codes[0] != 0 and "Traceback" not in node0, node0[-3000:]
    errors = [line for line in node0.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: another process of this 2-process job stopped answering after iteration "
        f"{KILLED_AFTER} ([/paddle/third_party/gloo/"), node0[-3000:]
    assert errors[0].endswith(f"start every machine's launcher again with --resume (rank 0's "
                              f"newest checkpoint in {run_dir / 'checkpoints'} on the first "
                              f"machine)")
    assert iterations(run_dir) == [KILLED_AFTER]
    assert not (tmp_path / "node1_runs").exists()  # only rank 0 writes
    single = tmp_path / "single" / "tiny"
    shutil.copytree(run_dir, single)
    # the same checkpoint in one plain process, beside the job's relaunch (whose launchers
    # spend most of their time waiting for each other)
    alone = subprocess.Popen([sys.executable, str(ROOT / "tools" / "train.py"), "-c", str(config),
                              "-o", f"output_dir={single.parent}", "--resume"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=child_env(PYTHONWARNINGS="ignore"))
    try:
        with Job(tmp_path, config, "resumed", "--resume") as job:
            codes, outputs = job.finish()
        assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:] + job.worker_log(1)[-3000:]
        log = (run_dir / "log.txt").read_text()
        assert (f"resumed from {run_dir}/checkpoints/iter_{KILLED_AFTER:08d}.pdparams at "
                f"iteration {KILLED_AFTER}") in log
        assert iterations(run_dir)[-1] == ITERS
        assert not (tmp_path / "node1_runs").exists()
        ranks = [{k: v.numpy() for k, v in
                  paddle.load(str(tmp_path / f"G_rank{r}.pdparams")).items()} for r in (0, 1)]
        assert_same_weights(*ranks)  # rank 1 started from rank 0's checkpoint, not from scratch
        out, err = alone.communicate(timeout=DEADLINE)
        assert alone.returncode == 0, out[-3000:] + err[-3000:]
        log = (single / "log.txt").read_text()
        assert (f"resumed from {single}/checkpoints/iter_{KILLED_AFTER:08d}.pdparams at iteration "
                f"{KILLED_AFTER}") in log and "world size 1" in log
        assert iterations(single)[-1] == ITERS
    finally:
        alone.kill()  # still running only when an assertion above failed
        alone.wait()


# ------------------------------------------- engine/resume.py in one process, collectives faked
@pytest.fixture
def two_ranks(monkeypatch):
    """paddle.distributed.broadcast of a 2-process job played in this process: call
    `as_rank(0)`, whose broadcasts record their tensors, then `as_rank(1)`, whose broadcasts
    receive them in order."""
    sent = []

    def as_rank(rank):
        def broadcast(tensor, src):
            assert src == 0
            if rank == 0:
                sent.append(tensor.numpy().copy())
            else:
                paddle.assign(paddle.to_tensor(sent.pop(0)), tensor)
        monkeypatch.setattr(paddle.distributed, "broadcast", broadcast)
        return sent
    return as_rank


def test_the_checkpoint_reaches_a_rank_without_the_run_folder(tmp_path, two_ranks):
    run_dir = tmp_path / "machine0"
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    state = {"iteration": 3, "G": {"w": paddle.to_tensor(weights)},
             "best": {"metric": "psnr", "value": None, "iteration": None},
             "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                     "paddle": paddle.get_rng_state()}}
    ckpt.save_checkpoint(state, str(run_dir), keep_last=2)
    two_ranks(0)
    path, state, skipped = resume.resume_state(str(run_dir), "auto", rank=0, world=2)
    two_ranks(1)
    other = resume.resume_state(str(tmp_path / "machine1"), "auto", rank=1, world=2)
    assert other[0] == path == ckpt.checkpoint_path(str(run_dir), 3) and other[2] == []
    assert other[1]["iteration"] == 3 and np.array_equal(other[1]["G"]["w"].numpy(), weights)
    assert not (tmp_path / "machine1").exists()
    assert two_ranks(1) == []  # everything sent was received


def test_a_failed_read_on_rank_0_is_one_line_on_the_others(tmp_path, two_ranks):
    """Rank 0 has no checkpoint: it raises its own error and tells the others, which would
    otherwise wait for the checkpoint until the collective's timeout."""
    sent = two_ranks(0)
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        resume.resume_state(str(tmp_path), "auto", rank=0, world=2)
    assert [s.tolist() for s in sent] == [[-1]]
    two_ranks(1)
    with pytest.raises(ckpt.CheckpointError) as error:
        resume.resume_state(str(tmp_path / "machine1"), "auto", rank=1, world=2)
    assert str(error.value) == ("--resume: rank 0 could not read the checkpoint to resume (its "
                                "error is in the log of the first machine)")
