"""A weights or checkpoint file never runs code (safe_load.load_file, the restricted unpickler).

Every entry point that reads a .pdparams is run as the real CLI on a file whose pickle asks to
run os.system: it must fail with one line naming the file and the refused global, and the
payload must not have run (its marker file does not exist). Every kind of file the package
and `paddle.save` write must still load, and load to exactly what `paddle.load` returns,
with pickle protocols 2 and 4.
"""
import builtins
import collections
import os
import pickle
import shutil

import numpy as np
import pytest

from paddle_srgan import checkpoint, safe_load, unpickler
from paddle_srgan.compat import import_paddle
from paddle_srgan.models import build_vgg
from paddle_srgan.models.lpips import LPIPS, load_lpips
from paddle_srgan.published_weights import convert

from conftest import SET5, require, run_tool, tiny_config

paddle = import_paddle()

REFUSED = f"{os.system.__module__}.system"  # how a pickle names os.system ('posix.system')
HOLDS = "but a Paddle weights or checkpoint file holds only arrays, numbers and strings"


class Payload:
    """What an attacker puts in a weights file: unpickling it calls `call(*args)`."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def plant(path, marker, protocol=4, checkpoint_like=True):
    """Write a .pdparams that looks like ours (real arrays first) with os.system('touch
    marker') inside: a state dict, or a checkpoint with the payload as its Paddle RNG state."""
    weights = {"head_conv.weight": np.ones([8, 3, 9, 9], np.float32)}
    payload = Payload(os.system, f"touch {marker}")
    obj = ({"format": checkpoint.CHECKPOINT_FORMAT, "iteration": 99, "G": weights,
            "rng": {"paddle": [payload]}} if checkpoint_like else {**weights, "x": payload})
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def assert_refused(proc, path, marker):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc.stdout
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: refused to load: it asks to run {REFUSED}, "
                               f"{HOLDS}; nothing in the file was run"), lines[0]
    assert not marker.exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, train_images):
    """A finished tiny run (MSE then GAN phase, EMA): its config and run directory."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = tiny_config(tmp, train_images, **{
        "train.phases": [{"name": "mse", "iters": 2, "lr": 1e-3},
                         {"name": "gan", "iters": 2, "lr": 1e-3, "lr_milestones": [1]}],
        "train.save_interval": 2, "train.val_interval": 2, "train.ema_decay": 0.9})
    run_tool("train", "-c", cfg)
    return cfg, tmp / "runs" / "tiny"


# ------------------------------------------------------------------ every entry point refuses
@pytest.mark.parametrize("entry", ["eval", "eval --lpips", "infer", "export", "convert_weights",
                                   "app", "train --resume FILE", "train vgg.weights",
                                   "train train.pretrained_g", "train train.pretrained_d"])
def test_cli_refuses_a_weights_file_that_runs_code(entry, tmp_path, train_images):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pdparams"
    plant(evil, marker, checkpoint_like=entry.startswith(("train --resume", "eval", "infer")))
    cfg = tiny_config(tmp_path, train_images)
    if entry == "app":
        require("gradio", 'pip install -e ".[app]"')
    args = {
        "eval": ["eval", "-c", cfg, "--weights", evil, "--datasets", "Set5", "--no-niqe",
                 "--out", tmp_path / "eval"],
        "eval --lpips": ["eval", "--bicubic-only", "--scale", "4", "--datasets", "Set5",
                         "--lpips", evil, "--out", tmp_path / "eval"],
        "infer": ["infer", "-c", cfg, "--weights", evil, "--input", SET5 / "HR" / "baby.png",
                  "--output", tmp_path / "sr"],
        "export": ["export", "-c", cfg, "--weights", evil, "--out", tmp_path / "exp" / "x"],
        "convert_weights": ["convert_weights", "--src", evil, "--out", tmp_path / "o.pdparams"],
        "app": ["app", "-c", cfg, "--weights", evil],
        "train --resume FILE": ["train", "-c", cfg, "--resume", evil],
        "train vgg.weights": ["train", "-c", cfg, "-o", f"vgg.weights={evil}"],
        "train train.pretrained_g": ["train", "-c", cfg, "-o", f"train.pretrained_g={evil}"],
        "train train.pretrained_d": ["train", "-c", cfg, "-o", f"train.pretrained_d={evil}"],
    }[entry]
    proc = run_tool(*args, check=False, timeout=120)
    assert_refused(proc, evil, marker)
    for output in ("eval", "sr", "exp", "o.pdparams"):
        assert not (tmp_path / output).exists()
    assert not list((tmp_path / "runs").glob("*/checkpoints/iter_*.pdparams"))


def test_plain_resume_stops_at_a_planted_checkpoint(tiny_run, tmp_path):
    """`--resume` finds the newest iter_*.pdparams: a planted one is refused and resuming
    stops (not renamed to .corrupt with training going on from the older checkpoint)."""
    cfg, run_dir = tiny_run
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(run_dir, run)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    marker, evil = tmp_path / "pwned", run / "checkpoints" / "iter_00000099.pdparams"
    plant(evil, marker)
    proc = run_tool("train", "-c", cfg, "-o", f"output_dir={tmp_path / 'runs'}", "--resume",
                    check=False, timeout=120)
    assert_refused(proc, evil, marker)
    assert "--resume stops here: delete the file (or move it out of checkpoints/)" in proc.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(before + [evil.name])


# ------------------------------------------------------------------- payloads and encodings
def touch_payloads(marker):
    """Ways a pickle can try to create `marker`: {kind: (payload, the global refused)}."""
    code = f"open({str(marker)!r}, 'w').close()"
    named = lambda fn: f"{fn.__module__}.{fn.__name__}"  # noqa: E731
    return {
        "os.system": (Payload(os.system, f"touch {marker}"), named(os.system)),
        "builtins.exec": (Payload(builtins.exec, code), "builtins.exec"),
        "builtins.open": (Payload(builtins.open, str(marker), "w"), named(builtins.open)),
        # eval and _codecs.encode are stand-ins: only paddle.save's own calls pass
        "builtins.eval": (Payload(builtins.eval, code), "builtins.eval(\"open("),
        "eval with a scope": (Payload(builtins.eval, "data", {"data": np.zeros(1),
                                                              "__builtins__": {}}),
                              "builtins.eval('data')"),
        "_codecs.encode": (Payload(__import__("_codecs").encode, "x", "rot13"),
                           "_codecs.encode(..., 'rot13')"),
    }


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("kind", list(touch_payloads("m")))
def test_payloads_are_refused_before_they_run(kind, protocol, tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pdparams"
    payload, refused_global = touch_payloads(marker)[kind]
    obj = {"w": np.ones([3], np.float32), "nested": [(1, {"x": payload})]}
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    with pytest.raises(safe_load.RefusedFileError) as refused:
        safe_load.load_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: refused to load: it asks to run {refused_global}")
    assert "\n" not in message
    assert not marker.exists()


def test_inst_opcode_is_refused(tmp_path):
    """Protocol 0's INST opcode (class + call in one) goes through the same check."""
    marker, path = tmp_path / "pwned", tmp_path / "evil.pdparams"
    path.write_bytes(b"(S'touch " + str(marker).encode() + b"'\nios\nsystem\n.")
    with pytest.raises(safe_load.RefusedFileError, match=r"it asks to run os\.system, "):
        safe_load.load_file(path)
    assert not marker.exists()


def test_torch_and_paddle_share_one_unpickler(tmp_path):
    """A PyTorch file is refused by the same unpickler, with its own explanation."""
    from paddle_srgan.published_weights.torch_files import TorchWeightsError, read_torch_weights
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"w": Payload(os.system, f"touch {marker}")}, protocol=2))
    with pytest.raises(TorchWeightsError, match=rf"{path}: refused to load: it asks to run "
                                                rf"{REFUSED}, but a PyTorch weights file"):
        read_torch_weights(str(path))
    assert not marker.exists()


def test_damaged_file_is_unreadable_not_refused(tmp_path):
    path = tmp_path / "cut.pdparams"
    paddle.save({"w": paddle.ones([64, 64])}, str(path))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(checkpoint.CheckpointError, match=r"cut\.pdparams: unreadable weights"):
        safe_load.load_file(path, "weights", checkpoint.CheckpointError)


# ------------------------------------------------------------------ bounds on what a file builds
def nesting_bomb(path, levels=40, shared=True):
    """A state dict whose value nests lists `levels` deep: each holding its child twice (one
    object, pickled once: 2^levels items for a walk of the tree; 402 bytes in issue 25), or
    once."""
    inner = []
    for _ in range(levels):
        inner = [inner, inner] if shared else [inner]
    path.write_bytes(pickle.dumps({"w": np.ones([2], np.float32), "x": inner}, protocol=4))
    return path


@pytest.mark.parametrize("shared", [True, False])
def test_nesting_bombs_are_refused_within_a_second(tmp_path, shared):
    import time
    bomb = nesting_bomb(tmp_path / "nest.pdparams", levels=21 if shared else 200, shared=shared)
    assert bomb.stat().st_size < 2000
    start = time.perf_counter()
    with pytest.raises(safe_load.RefusedFileError) as refused:
        safe_load.load_file(bomb)
    assert time.perf_counter() - start < 1
    excess = ("it holds more than 1,000,000 items (counting a shared item each time it is "
              "reached)" if shared else "it nests containers more than 64 levels deep")
    assert str(refused.value) == (f"{bomb}: refused to load: {excess}; no weights or checkpoint "
                                  f"file comes near that")


def test_real_files_are_far_within_the_bounds(tiny_run):
    """The largest file a run writes, a GAN checkpoint with EMA, optimizer and RNG states:
    its depth and items (counted as the bound counts them) are far below the bounds."""
    _, run_dir = tiny_run
    state = safe_load.read_paddle_pickle(run_dir / "checkpoints" / "iter_00000004.pdparams")
    level, depth, items = [state], 0, 1
    while level:
        level = [c for item in level if isinstance(item, (dict, list, tuple))
                 for c in (item.values() if isinstance(item, dict) else item)]
        depth, items = depth + bool(level), items + len(level)
    plain = RecordingUnpickler.plain_keys(run_dir / "checkpoints" / "iter_00000004.pdparams")
    print(f"a GAN checkpoint: {depth} levels, {items} items, {plain} non-str keys")
    assert depth * 4 < unpickler.MAX_DEPTH and items * 100 < unpickler.MAX_NODES, (depth, items)
    assert plain * 10 < unpickler.MAX_PLAIN_KEYS, plain


class RecordingUnpickler(unpickler.RestrictedUnpickler):
    @classmethod
    def plain_keys(cls, path):
        """How many dict keys / set items that are not strings the file at `path` holds."""
        with open(path, "rb") as f:
            reader = cls(f, path, safe_load.paddle_globals(), safe_load.RefusedFileError,
                         "", encoding="latin1")
            reader.load()
        return reader._plain_keys


@pytest.mark.parametrize("entry", ["eval", "convert_weights", "train --resume"])
def test_cli_refuses_a_nesting_bomb_at_once(entry, tiny_run, tmp_path):
    """Issue 25: these hung (Paddle's post-load walk doubles per level); now one line, and a
    plain --resume stops at a planted one as at a file that asks to run code."""
    cfg, run_dir = tiny_run
    bomb = tmp_path / "nest.pdparams"
    if entry == "train --resume":
        shutil.copytree(run_dir, tmp_path / "runs" / "tiny")
        bomb = tmp_path / "runs" / "tiny" / "checkpoints" / "iter_00000099.pdparams"
    nesting_bomb(bomb)  # 40 levels: the old walk never ended
    args = {"eval": ["eval", "-c", cfg, "--weights", bomb, "--datasets", "Set5", "--no-niqe",
                     "--out", tmp_path / "eval"],
            "convert_weights": ["convert_weights", "--src", bomb, "--out", tmp_path / "o.pdparams"],
            "train --resume": ["train", "-c", cfg, "-o", f"output_dir={tmp_path / 'runs'}",
                               "--resume"]}[entry]
    proc = run_tool(*args, check=False, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {bomb}: refused to load: it holds more than 1,000,000 "
                               f"items"), lines[0]
    assert bomb.exists() and not (tmp_path / "eval").exists()


def test_a_shared_tuple_used_as_a_key_is_refused_while_unpickling(tmp_path):
    """A dict key hashes its tuple as a tree: with shared nested tuples, 207 bytes made the
    unpickler itself hang, deaf to SIGINT/SIGTERM. Tuples are measured as they are built.
    (Run as a CLI: in-process, the old loader could not be stopped.)"""
    t = ()
    for _ in range(40):
        t = (t, t)
    body = pickle.dumps(t, protocol=2)[2:-1]  # the tuple's opcodes, memoised shared children
    bomb = tmp_path / "key.pdparams"
    bomb.write_bytes(b"\x80\x02}" + body + b"K\x01s.")  # {t: 1}, built without hashing t
    proc = run_tool("convert_weights", "--src", bomb, "--out", tmp_path / "o.pdparams",
                    check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bomb}: refused to load: it holds more than 1,000,000 items (counting a shared "
        f"item each time it is reached); no weights or checkpoint file comes near that"]


def split_file(path, parts, table):
    """A protocol-2 paddle.save state dict whose big parameter was split into `parts`
    ({slice key: flat array}) listed by `table` ({key: {"OriginShape", "slices"}})."""
    obj = {**parts, safe_load.SPLIT_TABLE: table}
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


def refusal_and_peak(path):
    """(the RefusedFileError of loading `path`, peak bytes traced by tracemalloc meanwhile)."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(safe_load.RefusedFileError) as refused:
            safe_load.load_file(path)
        return refused.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_split_parameters_are_joined_once(tmp_path):
    """paddle.save splits an array over 1 GiB into flat slices listed in a table, and Paddle's
    join concatenates whatever is listed (one 1 MB slice listed 3,000 times peaked at 3.5 GB).
    A table listing each existing slice once, adding up to its shape, still loads as
    paddle.load loads it; forged tables are refused before anything is joined."""
    a, b = np.arange(6, dtype=np.float32), np.arange(6, 12, dtype=np.float32)
    good = split_file(tmp_path / "good.pdparams", {"w@@.0": a, "w@@.1": b},
                      {"w": {"OriginShape": (3, 4), "slices": ["w@@.0", "w@@.1"]}})
    np.testing.assert_array_equal(loads_like_paddle(good)["w"].numpy(),
                                  np.arange(12).reshape(3, 4))
    big = np.zeros(1 << 18, np.float32)  # 1 MB
    forged = {
        "repeated": ({"w@@.0": big}, {"w": {"OriginShape": (100, 1 << 18),
                                             "slices": ["w@@.0"] * 100}},
                     "UnpackBigParamInfor@@['w'] lists slice 'w@@.0' twice or badly"),
        "missing": ({"w@@.0": a}, {"w": {"OriginShape": (12,), "slices": ["w@@.0", "w@@.1"]}},
                    "UnpackBigParamInfor@@['w'] lists 'w@@.1', which is no flat array"),
        "shape": ({"w@@.0": a}, {"w": {"OriginShape": (1 << 30, 1 << 30), "slices": ["w@@.0"]}},
                  "UnpackBigParamInfor@@['w'] joins 6 elements into shape [1073741824, "
                  "1073741824] (1152921504606846976)"),
        "shared": ({"w@@.0": a}, {"w": {"OriginShape": (6,), "slices": ["w@@.0"]},
                                  "v": {"OriginShape": (6,), "slices": ["w@@.0"]}},
                   "UnpackBigParamInfor@@['v'] lists slice 'w@@.0' twice or badly"),
    }
    for name, (parts, table, problem) in forged.items():
        path = split_file(tmp_path / f"{name}.pdparams", parts, table)
        refused, peak = refusal_and_peak(path)
        assert str(refused) == (f"{path}: refused to load: {problem}; paddle.save writes "
                                      f"each slice of a split parameter once"), name
        assert peak < 3 * path.stat().st_size + (4 << 20), (name, peak)


# ---------------------------------------------------------- files of an unexpected structure
STATE_DICT = "expected a state dict {parameter name: tensor}"
DAMAGED = "a damaged paddle-srgan checkpoint"
ITERATION_RANGE = "expected an int from 0 to 1000000000"
OPTIMIZER_STATE = "expected an optimizer or scaler state dict"


def malformed(kind, run_dir):
    """(object, the problem reported) of a weights file of the wrong structure; checkpoints
    are the run's real iter_00000004 with one entry broken."""
    ones = np.ones([3], np.float32)
    if kind == "list":
        return [ones], f"holds a list, {STATE_DICT}"
    if kind == "mixed keys":
        return {"w": ones, 3: ones}, f"holds 3 -> Tensor among its entries, {STATE_DICT}"
    state = paddle.load(str(run_dir / "checkpoints" / "iter_00000004.pdparams"))
    broken, problem = {
        "no G": (("G", None), f"G holds a NoneType, {STATE_DICT}"),
        "G a list": (("G", [ones]), f"G holds a list, {STATE_DICT}"),
        "iteration": (("iteration", "4"), f"iteration is '4', {ITERATION_RANGE}"),
        "iteration huge": (("iteration", 10 ** 12), f"iteration is {10 ** 12}, {ITERATION_RANGE}"),
        "step types": (("step", {"opt_g": "x", "opt_d": 5}),
                       f"step.opt_g is 'x', {OPTIMIZER_STATE}"),
        "step opt_d": (("step", {**state["step"], "opt_d": 5}),
                       f"step.opt_d is 5, {OPTIMIZER_STATE} or None"),
        "step empty": (("step", {}), f"step.opt_g is None, {OPTIMIZER_STATE}"),
        "best value": (("best", {**state["best"], "value": "abc"}),
                       "best.value is 'abc', expected None or a finite number"),
        "best nan": (("best", {**state["best"], "value": float("nan")}),
                     "best.value is nan, expected None or a finite number"),
        "best metric": (("best", {**state["best"], "metric": "lolz"}),
                        "best.metric is 'lolz', expected one of 'psnr', 'ssim', 'msssim', "
                        "'niqe', 'lpips'"),
        "best iteration": (("best", {**state["best"], "iteration": 5}),
                           "best.iteration is 5, expected None or an int from 0 to the "
                           "checkpoint's iteration 4"),
        "phase_results": (("phase_results", {"mse": "garbage"}),
                          "phase_results['mse'] is 'garbage', expected {metric: number}"),
        "rng": (("rng", {**state["rng"], "python": (3, (1, 2), None)}),
                "rng holds an unusable generator state (ValueError: state vector is the "
                "wrong size)"),
        "best": (("best", [1]), "best is [1], expected {metric, value, iteration}"),
    }[kind]
    if broken[1] is None:
        del state[broken[0]]
    else:
        state[broken[0]] = broken[1]
    return state, f"{DAMAGED}: {problem}"


@pytest.mark.parametrize("entry, kind", [
    ("eval", "list"), ("infer", "mixed keys"), ("export", "no G"), ("app", "G a list"),
    ("convert_weights", "list"), ("train --resume FILE", "iteration"),
    ("train --resume FILE", "rng"), ("train train.pretrained_g", "mixed keys")])
def test_cli_names_a_weights_file_of_the_wrong_structure(entry, kind, tiny_run, tmp_path):
    """Issue 25: AssertionError / AttributeError / TypeError / KeyError tracebacks; now one
    line naming the file and what was expected, exit 2, nothing written."""
    cfg, run_dir = tiny_run
    bad = tmp_path / "bad.pdparams"
    obj, problem = malformed(kind, run_dir)
    paddle.save(obj, str(bad))
    if entry == "app":
        require("gradio", 'pip install -e ".[app]"')
    if entry not in ("convert_weights", "train --resume FILE") and not problem.startswith(DAMAGED):
        problem += " (or a paddle-srgan checkpoint)"
    runs = ["-o", f"output_dir={tmp_path / 'runs'}"]
    args = {
        "eval": ["eval", "-c", cfg, "--weights", bad, "--datasets", "Set5", "--no-niqe",
                 "--out", tmp_path / "eval"],
        "infer": ["infer", "-c", cfg, "--weights", bad, "--input", SET5 / "HR" / "baby.png",
                  "--output", tmp_path / "sr"],
        "export": ["export", "-c", cfg, "--weights", bad, "--out", tmp_path / "exp" / "x"],
        "convert_weights": ["convert_weights", "--src", bad, "--out", tmp_path / "o.pdparams"],
        "app": ["app", "-c", cfg, "--weights", bad],
        "train --resume FILE": ["train", "-c", cfg, *runs, "--resume", bad],
        "train train.pretrained_g": ["train", "-c", cfg, *runs, "-o",
                                     f"train.pretrained_g={bad}"],
    }[entry]
    proc = run_tool(*args, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {bad}: {problem}"]
    for output in ("eval", "sr", "exp", "o.pdparams"):
        assert not (tmp_path / output).exists()
    assert not list((tmp_path / "runs").glob("*/checkpoints/iter_*.pdparams"))


@pytest.mark.parametrize("kind", ["best", "step empty"])
def test_plain_resume_sets_a_newest_checkpoint_of_the_wrong_structure_aside(kind, tiny_run,
                                                                            tmp_path):
    """Like an unreadable one: renamed .corrupt, and the run resumes from the one before
    ('step empty' was a KeyError traceback when its phase started)."""
    cfg, run_dir = tiny_run
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(run_dir, run)
    newest = run / "checkpoints" / "iter_00000004.pdparams"
    obj, problem = malformed(kind, run_dir)
    paddle.save(obj, str(newest))
    out = run_tool("train", "-c", cfg, "-o", f"output_dir={tmp_path / 'runs'}",
                   "--resume").stdout
    assert (f"warning: skipped the unreadable checkpoint {newest}: {problem}; renamed to "
            f"iter_00000004.pdparams.corrupt") in out
    assert f"resumed from {run / 'checkpoints' / 'iter_00000002.pdparams'}" in out
    assert (run / "checkpoints" / "iter_00000004.pdparams.corrupt").is_file()
    assert newest.is_file()  # trained again from iteration 2


@pytest.mark.parametrize("misfit", ["G empty", "D mis-shaped", "-o network_g.num_feat=16"])
def test_resume_stops_on_a_checkpoint_that_does_not_fit_the_config(misfit, tiny_run, tmp_path):
    """Was "resumed from ... at iteration 4", Paddle's 'Skip loading' warnings and training
    on from the random init, rc 0. Not damage but another config: one line naming the file
    and the network, exit 2, the checkpoint not renamed, the run's config.yml untouched."""
    cfg, run_dir = tiny_run
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(run_dir, run)
    newest = run / "checkpoints" / "iter_00000004.pdparams"
    state = paddle.load(str(newest))
    overrides = []
    if misfit == "G empty":
        state["G"] = {}
        key, section, net = "G", "network_g", "SRResNet"
        summary = f"missing {len(state['G_ema'])}"
    elif misfit == "D mis-shaped":
        name = sorted(state["D"])[0]
        state["D"][name] = np.ones([1, *state["D"][name].shape], np.float32)
        key, section, net, summary = "D", "network_d", "Discriminator", "mis-shaped 1"
    else:
        overrides = ["-o", "network_g.num_feat=16"]
        key, section, net = "G", "network_g", "SRResNet"
        summary = "mis-shaped 37"  # every tensor of the tiny SRResNet that num_feat sizes
    paddle.save(state, str(newest))
    config_yml = (run / "config.yml").read_bytes()
    proc = run_tool("train", "-c", cfg, "-o", f"output_dir={tmp_path / 'runs'}", *overrides,
                    "--resume", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {newest}: its {key} does not fit the config's {section} ({net}: {summary}): "
        f"resume with the config the checkpoint was saved with (the run's config.yml), or "
        f"start another run with -o experiment=<name>"]
    assert newest.is_file() and not list(run.glob("checkpoints/*.corrupt"))
    assert (run / "config.yml").read_bytes() == config_yml


@pytest.mark.parametrize("kind", [
    "list", "mixed keys", "no G", "G a list", "iteration", "rng", "best",
    # AttributeError, KeyError, TypeError tracebacks when resumed, or accepted though wrong
    "iteration huge", "step types", "step opt_d", "step empty", "best value", "best nan",
    "best metric", "best iteration", "phase_results"])
def test_every_structure_problem_is_a_checkpoint_error(kind, tiny_run, tmp_path):
    _, run_dir = tiny_run
    bad = tmp_path / "bad.pdparams"
    obj, problem = malformed(kind, run_dir)
    paddle.save(obj, str(bad))
    if problem.startswith(DAMAGED):
        with pytest.raises(checkpoint.CheckpointError) as error:
            checkpoint.load_checkpoint(bad)
        assert str(error.value) == f"{bad}: {problem}"
    else:
        with pytest.raises(convert.ConversionError) as error:
            convert.read_state(str(bad))
        assert str(error.value) == f"{bad}: {problem}"


# ------------------------------------------------------------- what we write still loads
def assert_same(ours, theirs, where="file"):
    """`ours` is what `paddle.load` returned: same types, keys, tensor names, values."""
    assert type(ours) is type(theirs), (where, type(ours), type(theirs))
    if isinstance(ours, dict):
        assert list(ours) == list(theirs), where
        for key in ours:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(ours, paddle.Tensor):
        # a name paddle.load does not restore is generated anew on every load
        assert ours.name == theirs.name or "generated" in ours.name, (where, ours.name)
        assert ours.dtype == theirs.dtype, where
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=where)
    elif isinstance(ours, np.ndarray):
        assert ours.dtype == theirs.dtype, where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
    elif hasattr(ours, "__getstate__") and type(ours).__name__ == "GeneratorState":
        assert ours.__getstate__() == theirs.__getstate__(), where
    else:
        assert ours == theirs, where


def loads_like_paddle(path):
    ours = safe_load.load_file(path)
    assert_same(ours, paddle.load(str(path)), str(path))
    return ours


@pytest.mark.parametrize("protocol", [None, 2, 4])  # None: the file as the package wrote it
def test_files_of_a_training_run_load_as_paddle_load_does(tiny_run, tmp_path, protocol):
    _, run_dir = tiny_run
    names = ["iter_00000002.pdparams", "iter_00000004.pdparams", "best.pdparams",
             "mse_G.pdparams", "gan_G.pdparams"]
    for name in names:
        path = run_dir / "checkpoints" / name
        if protocol is not None:
            path = tmp_path / name
            paddle.save(paddle.load(str(run_dir / "checkpoints" / name)), str(path),
                        protocol=protocol)
        state = loads_like_paddle(path)
        if name.startswith("iter_"):
            assert type(state["rng"]["paddle"][0]).__name__ == "GeneratorState"
            assert isinstance(state["rng"]["numpy"][1], np.ndarray)
            assert state["step"]["opt_g"]["LR_Scheduler"]["last_epoch"] >= 1
    # a checkpoint's generator and EMA, and a state dict, go into a generator
    from paddle_srgan.config import load_config
    from paddle_srgan.models import build_generator
    cfg = load_config(str(run_dir / "config.yml"))
    for name, ema in [("iter_00000004.pdparams", True), ("best.pdparams", False)]:
        checkpoint.load_generator_weights(build_generator(cfg), run_dir / "checkpoints" / name,
                                          use_ema=ema)


def test_restored_rng_states_are_usable(tiny_run):
    """The GeneratorState and numpy state of a checkpoint set the generators again."""
    _, run_dir = tiny_run
    path, state, skipped = checkpoint.load_latest_checkpoint(run_dir)
    assert path.endswith("iter_00000004.pdparams") and not skipped
    draws = []
    for _ in range(2):
        paddle.set_rng_state(state["rng"]["paddle"])
        np.random.set_state(state["rng"]["numpy"])
        draws.append((paddle.rand([3]).numpy().tolist(), np.random.rand(3).tolist()))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("protocol", [2, 4])
def test_paddle_save_state_dicts_load_as_paddle_load_does(tmp_path, protocol):
    """Layer, Adam with an LR schedule, GradScaler, a lone tensor, a DenseTensor, numpy
    scalars, complex, bytes-free plain values; each saved with paddle.save."""
    layer = paddle.nn.Linear(3, 2)
    schedule = paddle.optimizer.lr.MultiStepDecay(1e-3, [1])
    adam = paddle.optimizer.Adam(schedule, parameters=layer.parameters())
    layer(paddle.ones([1, 3])).sum().backward()
    adam.step()
    schedule.step()
    # an enabled GradScaler's state (on a GPU; on a CPU state_dict() is {}): its form
    scaler = {"scale": np.array([1024.0], np.float32), "incr_ratio": 2.0, "decr_ratio": 0.5,
              "incr_every_n_steps": 1000, "decr_every_n_nan_or_inf": 2, "incr_count": 3,
              "decr_count": 0, "use_dynamic_loss_scaling": True}
    objects = {
        "layer": layer.state_dict(), "adam": adam.state_dict(), "scaler": scaler,
        "cpu_scaler": paddle.amp.GradScaler().state_dict(), "tensor": paddle.arange(4),
        "dense": {"a": {"w": layer.weight.value().get_tensor()}},
        # as in a checkpoint: with a tensor present, paddle.load turns only tensors into
        # Tensors and leaves other arrays (the numpy RNG state's uint32 key) alone
        "plain": {"x": [np.float32(1.5), np.int64(3), 1j, None, True, "é", (1, 2.5)],
                  "t": paddle.ones([2]), "empty": np.zeros([0, 3], np.float32),
                  "rng": np.random.get_state()},
    }
    for name, obj in objects.items():
        path = tmp_path / f"{name}.pdparams"
        paddle.save(obj, str(path), protocol=protocol)
        loads_like_paddle(path)
    fresh = paddle.optimizer.Adam(paddle.optimizer.lr.MultiStepDecay(1e-3, [1]),
                                  parameters=paddle.nn.Linear(3, 2).parameters())
    fresh.set_state_dict(safe_load.load_file(tmp_path / "adam.pdparams"))
    assert fresh.get_lr() == adam.get_lr() == 1e-4


@pytest.mark.parametrize("protocol", [2, 4])
def test_vgg_lpips_and_converted_weights_load(tmp_path, parity_npz, protocol):
    # VGG19 made as the README says: paddle.save of a state dict (random here)
    vgg = build_vgg({"vgg": {"layer": "relu1_2", "weights": "none"}})
    paddle.save(vgg.state_dict(), str(tmp_path / "vgg19.pdparams"), protocol=protocol)
    loaded = build_vgg({"vgg": {"layer": "relu1_2", "weights": str(tmp_path / "vgg19.pdparams")}})
    for key, value in vgg.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key].numpy(), value.numpy())
    # LPIPS weights as tools/convert_lpips_weights.py writes them (convert.save_state)
    state = {k: v.numpy() for k, v in LPIPS("alex").state_dict().items()}
    writer = convert.save_state if protocol == 4 else (
        lambda s, p: paddle.save({k: paddle.to_tensor(v) for k, v in s.items()}, str(p),
                                 protocol=2))
    writer(state, tmp_path / "lpips.pdparams")
    loads_like_paddle(tmp_path / "lpips.pdparams")
    assert load_lpips(tmp_path / "lpips.pdparams") is not None
    # converted PyTorch weights (convert.save_state) read back by convert_weights --src
    converted = convert.convert_state(convert.read_state(str(parity_npz)), "srresnet")
    writer(converted, tmp_path / "converted.pdparams")
    loads_like_paddle(tmp_path / "converted.pdparams")
    back = convert.read_state(str(tmp_path / "converted.pdparams"))
    assert back.keys() == converted.keys()
    for key in converted:
        np.testing.assert_array_equal(back[key], converted[key])


# ------------------------------------------------------------------ what numpy may allocate
def reconstruct_bomb(path, count=375_000_000):
    """{'conv_first.weight': numpy _reconstruct(ndarray, (count,), dtype('f4'))}, no BUILD:
    the real _reconstruct allocates count float32s (1.5 GB from 115 bytes)."""
    def text(s):
        return b"X" + len(s).to_bytes(4, "little") + s.encode()
    path.write_bytes(b"\x80\x02}" + text("conv_first.weight")
                     + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                     + b"J" + count.to_bytes(4, "little") + b"\x85cnumpy\ndtype\n" + text("f4")
                     + b"\x85R\x87Rs.")
    return path


def test_reconstruct_cannot_allocate_a_shape_the_file_does_not_hold(tmp_path):
    bomb = reconstruct_bomb(tmp_path / "bomb.pdparams")
    assert bomb.stat().st_size < 200
    refused, peak = refusal_and_peak(bomb)
    assert peak < 16 << 20, peak
    assert str(refused) == (
        f"{bomb}: refused to load: it asks to run numpy _reconstruct of shape (375000000,) (an "
        f"array is built from its data, not allocated), but {safe_load.PADDLE_HOLDS}; nothing "
        f"in the file was run")


@pytest.mark.parametrize("dtype", ["object", "structured", "string"])
def test_arrays_of_anything_but_numbers_are_refused_in_one_line(tmp_path, dtype):
    """Object arrays are refused while unpickling (numpy trusts their state: a list shorter
    than the shape crashed the interpreter); records and strings before Paddle's conversion
    (a 6-line InvalidArgument error)."""
    array = {"object": np.array([1, "a"], dtype=object),
             "structured": np.zeros(2, [("a", "<f4")]), "string": np.array(["ab"])}[dtype]
    path = tmp_path / "w.pdparams"
    path.write_bytes(pickle.dumps({"w": np.ones(2, np.float32), "x": {"y": array}}, protocol=2))
    with pytest.raises(safe_load.RefusedFileError) as refused:  # convert_weights reads it so
        convert.read_state(str(path))
    if dtype == "object":
        assert str(refused.value) == (
            f"{path}: refused to load: it holds an array of dtype object, which holds Python "
            f"objects, not numbers; {safe_load.PADDLE_HOLDS}")
    else:
        assert str(refused.value) == (
            f"{path}: refused to load: the array ['x']['y'] (dtype {array.dtype}) holds no "
            f"numbers; a Paddle weights or checkpoint file holds numeric arrays")
    two = pickle.dumps(np.array([1, 2], dtype=object), protocol=2)
    assert two.count(b"K\x02\x85") == 1  # the shape (2,)
    path.write_bytes(two.replace(b"K\x02\x85", b"J\x00\xe1\xf5\x05\x85"))
    with pytest.raises(safe_load.RefusedFileError, match="array of dtype object"):
        safe_load.load_file(path)  # shape (100,000,000) and a 2-item list: segfaulted numpy


def colliding_keys(path, count):
    """A dict of `count` int keys i * (2^61 - 1), which all hash to 0 (519 KB at 40,000)."""
    path.write_bytes(pickle.dumps({i * (2 ** 61 - 1): 0 for i in range(count)}, protocol=4))
    return path


def test_keys_sharing_one_hash_are_refused_at_once(tmp_path):
    """40,000 such keys took 44 s to load (each insertion compares with all before it)."""
    import time
    bomb = colliding_keys(tmp_path / "keys.pdparams", 40_000)
    start = time.perf_counter()
    with pytest.raises(safe_load.RefusedFileError) as refused:
        safe_load.load_file(bomb)
    assert time.perf_counter() - start < 1
    assert str(refused.value) == (f"{bomb}: refused to load: it holds more than 1,000 dict keys "
                                  f"or set items that are not strings; no weights or "
                                  f"checkpoint file comes near that")
    class OrderedDictOfPairs:  # pickled as OrderedDict([(key, value), ...])
        def __reduce__(self):
            return collections.OrderedDict, ([(i, 0) for i in range(1001)],)

    for built in (OrderedDictOfPairs(), set(range(1001)), frozenset(range(1001))):
        bomb.write_bytes(pickle.dumps({"x": built}, protocol=4))
        with pytest.raises(safe_load.RefusedFileError, match="more than 1,000 dict keys"):
            safe_load.read_paddle_pickle(bomb)
    bomb.write_bytes(b"(p" + str(2 ** 61 - 1).encode() + b"\n.")  # PUT: memo key of any size
    with pytest.raises(ValueError, match=r"PUT index 2305843009213693951 outside \[0, 2\^32\)"):
        safe_load.read_paddle_pickle(bomb)
