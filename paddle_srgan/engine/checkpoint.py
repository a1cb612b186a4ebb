"""Checkpoint files: atomic writes, so an interruption never leaves a half-written file.

A crash or `kill -9` during `atomic_save` leaves either the previous file or the new one,
never a truncated one: the data goes to a temporary file in the same folder (same file
system, so the rename is atomic), is flushed to disk, then renamed over the target.
"""
import hashlib
import json
import os

from ..compat import import_paddle


def _atomic_write(path, write):
    """write(tmp) to a temporary file beside `path`, fsync it, rename it over `path`; creates
    the parent folder. The temporary file is removed if anything fails."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj, path):
    """paddle.save(obj) to `path` atomically; creates the parent folder."""
    paddle = import_paddle()
    _atomic_write(path, lambda tmp: paddle.save(obj, tmp))


def atomic_save_json(obj, path):
    """json.dump(obj) to `path` atomically (e.g. best.json); creates the parent folder."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)
    _atomic_write(path, write)


CHECKPOINT_FORMAT = "paddle-srgan-checkpoint"


def file_md5(path):
    """Hex md5 of a (weights) file, recorded next to results and exports for provenance."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or not ours; the message names the file."""


def checkpoint_path(run_dir, iteration):
    return os.path.join(run_dir, "checkpoints", f"iter_{iteration:08d}.pdparams")


def list_checkpoints(run_dir):
    """Full-state checkpoints of a run, oldest first: [(iteration, path), ...]."""
    folder = os.path.join(run_dir, "checkpoints")
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
    checkpoint, and the previous one is tried.

    Returns:
        (path, state, skipped): skipped is ["<bad path>: <reason>; renamed to ...", ...],
        newest first, for the caller to report.
    Raises:
        CheckpointError: no checkpoint, or none readable (the message lists them).
    """
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"--resume: no checkpoint (iter_*.pdparams) in "
                              f"{os.path.join(run_dir, 'checkpoints')}")
    skipped = []
    for _, path in reversed(found):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            os.replace(path, path + CORRUPT_SUFFIX)
            skipped.append(f"{exc}; renamed to {os.path.basename(path)}{CORRUPT_SUFFIX}")
    raise CheckpointError("--resume: no readable checkpoint: " + "; ".join(skipped))


def save_checkpoint(state, run_dir, keep_last):
    """Write `state` (a dict with 'iteration') atomically, then drop all but the newest
    `keep_last` iteration checkpoints and the temporary files of saves that a killed process
    never finished. Returns the path written."""
    path = checkpoint_path(run_dir, state["iteration"])
    atomic_save(dict(state, format=CHECKPOINT_FORMAT), path)
    for _, old in list_checkpoints(run_dir)[:-max(1, keep_last)]:
        os.remove(old)
    folder = os.path.dirname(path)
    for name in os.listdir(folder):
        stem, _, pid = name.rpartition(".tmp")
        if stem.endswith(".pdparams") and pid.isdigit() and int(pid) != os.getpid():
            os.remove(os.path.join(folder, name))
    return path


def load_checkpoint(path):
    """Read a full-state checkpoint written by save_checkpoint."""
    paddle = import_paddle()
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = paddle.load(path)
    except Exception as exc:  # truncated or foreign files fail in many ways inside paddle.load
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a paddle-srgan training checkpoint")
    return state


def load_generator_weights(generator, path, use_ema=False):
    """Load generator weights from a plain state dict (best.pdparams, converted weights) or a
    full training checkpoint (its 'G' entry, or 'G_ema' with `use_ema`). Every key and shape
    must fit."""
    paddle = import_paddle()
    if not os.path.isfile(path):
        raise CheckpointError(f"weights file not found: {path}")
    try:
        state = paddle.load(path)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable weights ({type(exc).__name__}: {exc})") from None
    full = isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT
    if use_ema:
        if not full or state.get("G_ema") is None:
            raise CheckpointError(f"--use-ema: {path} holds no EMA generator (EMA weights live "
                                  f"in iter_*.pdparams checkpoints of runs with train.ema_decay)")
        state = state["G_ema"]
    elif full:
        state = state["G"]
    from ..convert import load_into  # the key/shape report lives with the converter
    load_into(generator, {k: v.numpy() if hasattr(v, "numpy") else v for k, v in state.items()},
              source=path)
    return generator
