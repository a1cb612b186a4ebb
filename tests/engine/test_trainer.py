"""The training loop end to end on a tiny config (tools/train.py): the run directory,
VisualDL steps, best.pdparams, validation schedules, refusals and 2-process data parallel.
Resuming: test_resume.py; one step: test_step.py; the checkpoint files: test_checkpoint.py."""
import glob
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan import checkpoint as ckpt
from paddle_srgan.config import load_config
from paddle_srgan.data import datasets
from paddle_srgan.engine import curves
from paddle_srgan.engine.curves import read_scalars
from paddle_srgan.engine.trainer import train
from paddle_srgan.evaluation import figures
from paddle_srgan.storage import WriteError

from conftest import (
    ROOT,
    UNWRITABLE,
    assert_same_weights,
    best_record,
    child_env,
    not_blank,
    png_declaring,
    run_tool,
    tiny_config,
    vdl_steps,
)


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
    assert set(state) >= {"G", "D", "step", "best", "rng", "config"}
    assert set(state["step"]) == {"opt_g", "opt_d", "scaler_g", "scaler_d", "g_start"}
    log = (run_dir / "log.txt").read_text()
    assert "finished 12 iterations. validation PSNR" in log and "bicubic" in log
    assert "NIQE" in log and "HR images" in log
    assert not_blank(run_dir / "perception_distortion.png")
    assert "ms/it, data" in log
    # the gan phase's lr dropped x0.1 at its milestone (iteration 3 of the phase)
    assert state["step"]["opt_g"]["LR_Scheduler"]["last_lr"] == pytest.approx(1e-4)


def test_visualdl_has_every_term_with_increasing_steps(straight_run):
    run_dir, _ = straight_run
    # the loss terms: from each phase's first iteration, at least curves.CURVE_POINTS + 1
    # points a phase (here every iteration); the log line's scalars every log_interval (2)
    assert vdl_steps(run_dir, "train/g_pixel") == [1, 2, 3, 4, 5, 6]
    assert vdl_steps(run_dir, "train/g_adversarial") == [7, 8, 9, 10, 11, 12]
    for tag in ("train/g_perceptual", "train/d_loss", "train/d_real_prob", "train/d_fake_prob"):
        assert vdl_steps(run_dir, tag) == [7, 8, 9, 10, 11, 12], tag
    assert vdl_steps(run_dir, "train/lr_d") == [8, 10, 12]
    assert vdl_steps(run_dir, "train/lr_g") == vdl_steps(run_dir, "time/step_time") == \
        [2, 4, 6, 8, 10, 12]
    assert vdl_steps(run_dir, "val/psnr") == vdl_steps(run_dir, "val/niqe") == \
        vdl_steps(run_dir, "val/grid") == [4, 6, 8, 12]
    # the reference levels, once: bicubic's and the HR images' own NIQE
    assert vdl_steps(run_dir, "val_bicubic/niqe") == vdl_steps(run_dir, "val_hr/niqe") == [0]


def test_best_checkpoint_is_the_best_validation_and_scores_it(straight_run):
    """best.json names the validation with the highest PSNR (the first of equals), and
    best.pdparams holds the generator that scored it."""
    from paddle_srgan.data.datasets import build_val_set
    from paddle_srgan.evaluation.evaluator import evaluate
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

def test_two_process_data_parallel(tmp_path, train_images):
    """paddle.distributed.launch with 2 CPU processes: both ranks end with the same weights,
    and rank 0's checkpoint loads in a single process."""
    config = tiny_config(tmp_path, train_images, **{"train.phases": [{"name": "mse", "iters": 4}],
                                                   "train.val_interval": 100})
    dump = ("import json, sys, runpy\n"
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
        out=str(tmp_path), cfg=str(config), train=str(ROOT / "tools" / "train.py"))
    script = tmp_path / "ddp_train.py"
    script.write_text(dump)
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch",
                           "--nproc_per_node", "2",
                           "--log_dir", str(tmp_path / "ddp_logs"), str(script)],
                          capture_output=True, text=True, timeout=600,
                          env=child_env(PYTHONWARNINGS="ignore"))
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

def test_a_failed_start_leaves_no_run_directory(tmp_path, train_images):
    """A bad data folder is refused before the run directory exists, so the folder does not
    linger (with the failed start's log and VisualDL file) under the next run's name."""
    config = tiny_config(tmp_path, train_images, **{"datasets.train.hr_dir": str(tmp_path / "no")})
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2 and "'datasets.train.hr_dir'" in proc.stderr
    assert not (tmp_path / "runs" / "tiny").exists()

@pytest.mark.skipif(not os.path.isdir(UNWRITABLE), reason="no /sys (not Linux)")
def test_an_unwritable_output_dir_is_one_line_before_any_work(tmp_path, train_images):
    """The run directory was made after the data and networks were built, and an output_dir
    nothing can be created in (a read-only file system) was an OSError traceback: refused
    up front in one line, as eval, export, infer and make-lr refuse theirs; the trainer
    itself (called from Python) raises a WriteError naming the folder."""
    out = os.path.join(UNWRITABLE, "paddle_srgan_runs")
    config = tiny_config(tmp_path, train_images, output_dir=out)
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: output_dir {out}/tiny: cannot write in {UNWRITABLE} (Permission denied)"]
    with pytest.raises(WriteError) as refused:
        train(load_config(str(config)))
    assert str(refused.value) == f"cannot write {out}: Operation not permitted"


CORRUPT_IMAGE_ERRORS = {
    "truncated": "truncated PNG (the file ends before its last chunk)",
    # a complete PNG whose data is far short of what its header declares: libpng's own
    # "libpng error: Not enough image data" line must not reach the console beside ours
    "declares 30000x30000": "not a decodable PNG file (corrupt or truncated: Not enough "
                            "image data)"}


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("damage", list(CORRUPT_IMAGE_ERRORS))
def test_a_corrupt_training_image_stops_the_run_in_one_line(tmp_path, train_images, damage,
                                                            workers):
    """A corrupt PNG passes the set's header checks and fails when a batch is read. In a
    worker, Paddle re-raises it in its reader thread with the worker's traceback inside, and
    the main thread then died on 'Blocking queue is killed' (about 70 lines of two
    tracebacks). Without workers, Paddle's loader thread died without closing its queue and
    the run waited forever, deaf to SIGTERM and Ctrl-C (a hang fails here in 60 s). Both: one
    line, exit 2."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for image in train_images.iterdir():
        (folder / image.name).write_bytes(image.read_bytes())
    data = (folder / "coffee.png").read_bytes()
    (folder / "coffee.png").write_bytes(data[:len(data) // 2] if damage == "truncated"
                                        else png_declaring(30000, 30000))
    config = tiny_config(tmp_path, folder, **{"datasets.train.num_workers": workers})
    proc = run_tool("train", "-c", config, check=False, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Blocking queue" not in proc.stderr
    assert "libpng" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "rror" in line]
    assert errors == [f"error: cannot read image {folder / 'coffee.png'}: "
                      f"{CORRUPT_IMAGE_ERRORS[damage]}"]


@pytest.mark.parametrize("name", ["config.yml", ".trainer.lock", "log.txt"])
def test_a_symlink_planted_in_the_run_directory_is_refused(tmp_path, train_images, name):
    """A run file that is a symbolic link would overwrite (config.yml), truncate
    (.trainer.lock) or append to (log.txt) the file it points at: refused in one line naming
    it, the outside file untouched."""
    config = tiny_config(tmp_path, train_images, **{"train.phases": [{"name": "mse",
                                                                      "iters": 2}]})
    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    outside = tmp_path / "someone_elses.txt"
    outside.write_text("precious\n")
    (run_dir / name).symlink_to(outside)
    proc = run_tool("train", "-c", config, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {run_dir / name} is a symbolic link (to {outside}); paddle-srgan writes its "
        f"files only as regular files, never through a link: remove the link"]
    assert outside.read_text() == "precious\n"


def test_curves_start_each_phase_at_its_first_iteration(straight_run):
    """curves.png's loss panels: each phase's terms from the phase's first iteration (where
    they are 1), divided by their value there (the GAN phase's panel began at its first
    log_interval and showed three points); comparison.png and the verdict name the weights
    of its SR column."""
    run_dir, out = straight_run
    scalars = read_scalars(str(run_dir / "scalars.jsonl"))
    for first, last in ((1, 6), (7, 12)):
        phase = curves.phase_curves(scalars, first, last)
        assert phase, (first, last)
        for tag, (steps, values) in phase.items():
            assert steps == list(range(first, last + 1)), tag
            raw = dict(zip(*scalars[tag]))
            assert values == pytest.approx([raw[s] / raw[first] for s in steps]), tag
    assert set(curves.phase_curves(scalars, 7, 12)) >= {"train/g_adversarial", "train/d_loss"}
    assert "SR: gan_G, the final weights after phase 'gan')" in out.stdout
    figure = cv2.imread(str(run_dir / "comparison.png"))
    lines = (figure.shape[0] - figures.LABEL_HEIGHT - 32) // figures.LABEL_HEIGHT
    assert lines >= 1 and figure.shape[0] == (lines + 1) * figures.LABEL_HEIGHT + 32
    caption = figure[:lines * figures.LABEL_HEIGHT]  # above the strip: white words on dark
    assert caption.min() == 32 and caption.max() > 200


def test_the_gan_phase_prints_no_library_note(tmp_path, train_images):
    """A user's console (no PYTHONWARNINGS) through one step of each phase: Paddle's note
    that BatchNorm 'now always tracks global mean and variance' (the discriminator's BN in
    train mode) is not shown; the one warning left is the config's (a random VGG)."""
    config = tiny_config(tmp_path, train_images, **{"train.phases": [
        {"name": "mse", "iters": 1}, {"name": "gan", "iters": 1}]})
    proc = run_tool("train", "-c", config, env={"PYTHONWARNINGS": ""})
    assert ", D " in proc.stdout  # a discriminator (with BatchNorm) was trained
    assert "always track global mean and variance" not in proc.stdout + proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "Warning" in line]
    assert len(warnings) == 1 and "the perceptual loss uses a RANDOM VGG19" in warnings[0]


def test_a_x1_restoration_network_trains_and_infers_at_the_same_size(tmp_path, train_images):
    """scale 1 (Real-ESRGAN's x1 RRDBNet: restoration without enlarging): degraded LR the HR's
    size, validation where bicubic is the HR itself (PSNR inf: no point on the
    perception-distortion plane, no grid score) and infer writing an image of the input's
    size, with nothing on the console but our lines."""
    config = tiny_config(tmp_path, train_images, **{
        "scale": 1, "network_g": {"type": "RRDBNet", "num_feat": 8, "num_block": 1,
                                  "num_grow_ch": 4},
        "datasets.train.type": "realworld", "datasets.train.hr_crop": 48,
        "train.phases": [{"name": "mse", "iters": 2, "lr": 1e-3}]})
    proc = run_tool("train", "-c", config, env={"PYTHONWARNINGS": ""})
    assert "Result on Set5 x1" in proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr
    run_dir = tmp_path / "runs" / "tiny"
    assert not_blank(run_dir / "perception_distortion.png")
    photo = train_images / sorted(os.listdir(train_images))[0]
    run_tool("infer", "-c", run_dir / "config.yml", "--weights",
             run_dir / "checkpoints" / "mse_G.pdparams", "--input", photo,
             "--output", tmp_path / "sr")
    (out,) = (tmp_path / "sr").iterdir()
    assert cv2.imread(str(out)).shape == cv2.imread(str(photo)).shape
