"""The checkpoint a training run starts from, the same one on every rank of a job.

Rank 0 alone reads the run folder (it alone writes it: checkpoints, logs, the lock) and sends
the chosen checkpoint's bytes to the other ranks, which parse them with the same restricted
loader (checkpoint.load_checkpoint). So the other machines of a multi-node job need no copy
of the run folder, no two ranks can pick different "newest" checkpoints from a folder that
is still syncing, and only rank 0 renames a corrupt one.
"""
import os
import tempfile

import numpy as np

from .. import checkpoint as ckpt
from ..compat import import_paddle

paddle = import_paddle()
_FAILED = -1  # the size rank 0 sends when it could not read the checkpoint


def resume_state(run_dir, resume, rank, world):
    """(path, state, skipped) of the checkpoint this rank starts from: checkpoint.resume_state
    on rank 0 (which also refuses a fresh start in a used run folder); on the other ranks of
    a resumed job, the state rank 0 read (path names the file on rank 0's machine, skipped
    is empty). Every rank of the job must call it at the same point.

    Raises:
        whatever checkpoint.resume_state raises, on rank 0; CheckpointError on the other
        ranks when rank 0 failed to read the checkpoint (rank 0 prints why).
    """
    shared = world > 1 and resume
    if rank != 0:
        return _receive() if shared else (None, None, [])
    try:
        found = ckpt.resume_state(run_dir, resume)
    except BaseException:
        if shared:  # the other ranks wait for the checkpoint: tell them there is none
            _broadcast_int(_FAILED)
        raise
    if shared:
        _send(found[0])
    return found


def _broadcast_int(value):
    tensor = paddle.to_tensor([value], dtype="int64")
    paddle.distributed.broadcast(tensor, src=0)
    return int(tensor.numpy()[0])


def _send(path):
    """Rank 0: the checkpoint's path (for the other ranks' log lines), then its bytes."""
    with open(path, "rb") as f:
        content = f.read()
    for data in (os.path.abspath(path).encode("utf-8"), content):
        _broadcast_int(len(data))
        paddle.distributed.broadcast(paddle.to_tensor(np.frombuffer(data, np.uint8)), src=0)


def _receive_bytes(size):
    tensor = paddle.zeros([size], dtype="uint8")
    paddle.distributed.broadcast(tensor, src=0)
    return tensor.numpy().tobytes()


def _receive():
    """The other ranks: (rank 0's path, the state parsed from a private copy of its bytes, [])."""
    size = _broadcast_int(0)
    if size == _FAILED:
        raise ckpt.CheckpointError("--resume: rank 0 could not read the checkpoint to resume "
                                   "(its error is in the log of the first machine)")
    path = _receive_bytes(size).decode("utf-8")
    data = _receive_bytes(_broadcast_int(0))
    with tempfile.TemporaryDirectory(prefix="paddle-srgan-resume") as folder:
        copy = os.path.join(folder, os.path.basename(path))
        with open(copy, "wb") as f:
            f.write(data)
        del data
        return path, ckpt.load_checkpoint(copy), []
