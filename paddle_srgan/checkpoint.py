"""The files of a run's checkpoints/ folder: the only module that names, writes or reads them.

    iter_<iteration>.pdparams   full training state (`training_state` lists the entries),
                                tagged `format: CHECKPOINT_FORMAT`; the newest `keep_last`
    best.pdparams, best.json    the generator chosen by train.best_metric, and why
    <phase>_G.pdparams          the generator at the end of each phase

Everything is written atomically (`storage.atomic_save`: an interruption leaves the previous
file or the new one, never a truncated one); what is read is checked before anything is
restored (checkpoint_check.py). `load_network_weights` (`load_generator_weights`) also reads
plain state dicts (best.pdparams, converted weights: train.pretrained_g, train.pretrained_d).
"""
import os
import random

import numpy as np

from .checkpoint_check import checkpoint_problem, step_state
from .compat import import_paddle
from .errors import InputError
from .models.state import load_state_strict
from .safe_load import RefusedFileError, load_file, state_dict_problem
from .storage import atomic_save, atomic_save_json, remove_stale_temporaries

CHECKPOINT_FORMAT = "paddle-srgan-checkpoint"


class CheckpointError(InputError):
    """A checkpoint is missing, unreadable or not ours; the message names the file."""


class WeightsMisfitError(CheckpointError):
    """Readable weights whose keys or shapes do not fit the network; the message lists them
    (and names the config they do fit when load_generator finds it)."""


def checkpoints_dir(run_dir):
    return os.path.join(run_dir, "checkpoints")


def checkpoint_path(run_dir, iteration):
    return os.path.join(checkpoints_dir(run_dir), f"iter_{iteration:08d}.pdparams")


def phase_weights_path(run_dir, phase_name):
    """<run>/checkpoints/<phase>_G.pdparams: the generator at the end of phase `phase_name`."""
    return os.path.join(checkpoints_dir(run_dir), f"{phase_name}_G.pdparams")


def best_weights_path(run_dir):
    return os.path.join(checkpoints_dir(run_dir), "best.pdparams")


def list_checkpoints(run_dir):
    """Full-state checkpoints of a run, oldest first: [(iteration, path), ...]."""
    folder = checkpoints_dir(run_dir)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        stem, ext = os.path.splitext(name)
        if ext == ".pdparams" and stem.startswith("iter_") and stem[5:].isdigit():
            found.append((int(stem[5:]), os.path.join(folder, name)))
    return sorted(found)


CORRUPT_SUFFIX = ".corrupt"


def load_latest_checkpoint(run_dir):
    """The newest readable checkpoint of `run_dir`, for `--resume` without a path.

    A newest file that does not load (truncated by a full disk, damaged on a synced drive) is
    renamed to `<name>.corrupt`, so it is kept for inspection but no longer counted as a
    checkpoint, and the previous one is tried. A file that asks to run code is no accident
    of a crash: someone put it there (or the folder is shared with something that pickles
    objects), so resuming stops with RefusedFileError naming it, the file left where it is,
    rather than training on from an older checkpoint as if nothing had happened.

    Returns:
        (path, state, skipped): skipped is ["<bad path>: <reason>; renamed to ...", ...],
        newest first, for the caller to report.
    Raises:
        CheckpointError: no checkpoint, or none readable (the message lists them).
        RefusedFileError: the newest checkpoint asks to run code.
    """
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"--resume: no checkpoint (iter_*.pdparams) in "
                              f"{checkpoints_dir(run_dir)}")
    skipped = []
    for _, path in reversed(found):
        try:
            return path, load_checkpoint(path), skipped
        except RefusedFileError as exc:
            raise RefusedFileError(f"{exc}; --resume stops here: delete the file (or move it "
                                   f"out of checkpoints/) to resume from the checkpoint before "
                                   f"it") from None
        except CheckpointError as exc:
            os.replace(path, path + CORRUPT_SUFFIX)
            skipped.append(f"{exc}; renamed to {os.path.basename(path)}{CORRUPT_SUFFIX}")
    raise CheckpointError("--resume: no readable checkpoint: " + "; ".join(skipped))


def resume_state(run_dir, resume):
    """(path, state, skipped) of the checkpoint a run starts from.

    Args:
        resume: None (a fresh run: (None, None, []); the run directory must hold no
            checkpoints of an earlier run), 'auto' (the newest
            readable checkpoint of `run_dir`; skipped lists the unreadable newer ones passed
            over) or a checkpoint path (that file, no fallback).
    """
    if resume == "auto":
        return load_latest_checkpoint(run_dir)
    if resume:
        return resume, load_checkpoint(resume), []
    if list_checkpoints(run_dir):
        raise InputError(f"{run_dir} already holds checkpoints of an earlier run: continue it "
                         f"with --resume, or choose another name with -o experiment=<name>")
    return None, None, []


def save_best(run_dir, generator_state, record):
    """checkpoints/best.pdparams (the generator's state dict) and best.json (`record`: metric,
    value, iteration, psnr, ssim), both written atomically."""
    path = best_weights_path(run_dir)
    atomic_save(generator_state, path)
    atomic_save_json(record, os.path.join(os.path.dirname(path), "best.json"))


def save_phase_weights(run_dir, phase_name, generator_state):
    """checkpoints/<phase>_G.pdparams, the generator's state dict at the end of a phase."""
    atomic_save(generator_state, phase_weights_path(run_dir, phase_name))


def save_checkpoint(state, run_dir, keep_last):
    """Write `state` (a dict with 'iteration') atomically, then drop all but the newest
    `keep_last` iteration checkpoints and the temporary files of saves that a killed process
    never finished (storage.remove_stale_temporaries). Returns the path written."""
    path = checkpoint_path(run_dir, state["iteration"])
    atomic_save(dict(state, format=CHECKPOINT_FORMAT), path)
    for _, old in list_checkpoints(run_dir)[:-max(1, keep_last)]:
        os.remove(old)
    remove_stale_temporaries(os.path.dirname(path), ".pdparams")
    return path


def training_state(iteration, phase, nets, step, best, phase_results, nan_streak, config):
    """The checkpoint of a run after `iteration` completed iterations: plain state only.

    Args:
        phase: index of the phase that iteration belongs to.
        nets: engine.step.Networks (G, D, G_ema).
        step: the phase's engine.step.PhaseStep, or None before the first phase started;
            its own state_dict (optimizers, schedules, scalers) is kept whole under 'step'.
        best, phase_results: the trainer's best-metric record and per-phase results.
        nan_streak: consecutive skipped steps so far.
        config: the resolved config.
    """
    paddle = import_paddle()
    return {
        "iteration": iteration, "phase": phase,
        "G": nets.G.state_dict(), "D": nets.D.state_dict() if nets.D is not None else None,
        "G_ema": nets.G_ema.state_dict() if nets.G_ema is not None else None,
        "step": step.state_dict() if step is not None else None,
        "best": best, "phase_results": phase_results, "nan_streak": nan_streak,
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                "paddle": paddle.get_rng_state()},
        "config": {k: v for k, v in config.items() if not k.startswith("_")},
    }


# the checkpoint's networks and the config section that builds each
_NETWORKS = (("G", "network_g"), ("G_ema", "network_g"), ("D", "network_d"))


def restore_networks(state, nets, path):
    """Set the checkpoint's G, G_ema and D on `nets` (engine.step.Networks), strictly: every
    key and shape must fit (G_ema falls back to G in checkpoints without one; a checkpoint
    without D leaves the config's D as built).

    Raises:
        WeightsMisfitError: a network does not fit; the message names the checkpoint file
            `path`, the network and the config section that built it. Not damage: the
            config differs from the one the checkpoint was saved with.
    """
    for key, section in _NETWORKS:
        net = getattr(nets, key)
        weights = state.get(key) if key != "G_ema" else state.get("G_ema") or state["G"]
        if net is None or weights is None:
            continue
        try:
            load_state_strict(net, weights, source=path, error=WeightsMisfitError)
        except WeightsMisfitError as exc:
            raise WeightsMisfitError(
                f"{path}: its {key} does not fit the config's {section} "
                f"({type(net).__name__}: {exc.summary}): resume with the config the "
                f"checkpoint was saved with (the run's config.yml), or start another run "
                f"with -o experiment=<name>") from None


def restore_counters(state):
    """Put a checkpoint's RNG states back. Returns the counters {'iteration', 'phase', 'best',
    'phase_results', 'nan_streak'} and 'step', the state of the phase's PhaseStep (for its
    set_state_dict when that phase starts; None before the first phase)."""
    paddle = import_paddle()
    rng = state["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    paddle.set_rng_state(rng["paddle"])
    return {"iteration": int(state["iteration"]), "phase": state.get("phase"),
            "best": state["best"], "phase_results": state.get("phase_results") or {},
            "nan_streak": int(state.get("nan_streak") or 0), "step": step_state(state)}


def restore_training_state(state, nets, path="the checkpoint"):
    """restore_networks, then restore_counters (whose result it returns)."""
    restore_networks(state, nets, path)
    return restore_counters(state)


DAMAGED = "a damaged paddle-srgan checkpoint"


def load_checkpoint(path):
    """Read a full-state checkpoint written by save_checkpoint; its structure is checked
    (checkpoint_problem) so that restoring it cannot fail half-way."""
    state = load_file(path, "checkpoint", CheckpointError)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a paddle-srgan training checkpoint")
    problem = checkpoint_problem(state)
    if problem:
        raise CheckpointError(f"{path}: {DAMAGED}: {problem}")
    return state


def load_generator_weights(generator, path, use_ema=False):
    """Load generator weights from a plain state dict (best.pdparams, converted weights) or a
    full training checkpoint (its 'G' entry, or 'G_ema' with `use_ema`); load_network_weights."""
    return load_network_weights(generator, path, "G_ema" if use_ema else "G")


def load_network_weights(layer, path, entry="G"):
    """Load `layer`'s weights from a plain state dict (best.pdparams, converted weights) or a
    full training checkpoint (its `entry`: 'G', 'G_ema' or 'D'). Every key and shape must
    fit; what is read must be a state dict (else CheckpointError naming the file)."""
    state = load_file(path, "weights", CheckpointError)
    full = isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT
    if entry == "G_ema" and (not full or state.get("G_ema") is None):
        raise CheckpointError(f"--use-ema: {path} holds no EMA generator (EMA weights live "
                              f"in iter_*.pdparams checkpoints of runs with train.ema_decay)")
    if full and entry == "D" and state.get("D") is None:
        raise CheckpointError(f"{path}: a training checkpoint without a discriminator (its "
                              f"run had no adversarial phase)")
    weights = state.get(entry) if full else state
    problem = state_dict_problem(weights)
    if problem:
        raise CheckpointError(f"{path}: {DAMAGED}: {entry} {problem}" if full else
                              f"{path}: {problem} (or a paddle-srgan checkpoint)")
    return load_state_strict(layer, weights, source=path, error=WeightsMisfitError)


def load_generator(cfg, path, use_ema=False, overrides=()):
    """The generator of the resolved config `cfg` with the weights at `path`
    (load_generator_weights; the caller chooses train or eval mode).

    When the weights do not fit and lie in a training run folder whose config.yml
    (config.run_config_path, with the same `overrides`) builds a network they fit, the
    WeightsMisfitError says so in one line naming that config.yml: the usual cause is a
    recipe given with -c (configs/srgan.yml) for weights trained with another (the demo).
    """
    from .config import load_config, run_config_path
    from .errors import UserError
    from .models import build_generator
    try:
        return load_generator_weights(build_generator(cfg), path, use_ema)
    except WeightsMisfitError as exc:
        run_config = run_config_path(path)
        source = cfg.get("_source")
        if run_config is None or source and os.path.samefile(source, run_config):
            raise
        try:
            load_generator_weights(build_generator(load_config(run_config, list(overrides))),
                                   path, use_ema)
        except (UserError, ValueError):
            raise exc from None
        network = f"{cfg['network_g']['type']} of {source or 'the default config'}"
        raise WeightsMisfitError(
            f"{path} does not fit the {network} ({exc.summary}); they fit {run_config}, the "
            f"config of the run they come from: give -c {run_config} or leave -c out") from None
