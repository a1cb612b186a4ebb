"""Checkpoint files: atomic writes, so an interruption never leaves a half-written file.

A crash or `kill -9` during `atomic_save` leaves either the previous file or the new one,
never a truncated one: the data goes to a temporary file in the same folder (same file
system, so the rename is atomic), is flushed to disk, then renamed over the target.
"""
import os

from ..compat import import_paddle


def atomic_save(obj, path):
    """paddle.save(obj) to `path` atomically; creates the parent folder."""
    paddle = import_paddle()
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        paddle.save(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
