"""What a failed write of a run file becomes: one line naming what failed, what is kept and
how to go on (the run's files are written atomically, so the earlier ones are whole)."""
import contextlib
import os

from .. import checkpoint as ckpt


@contextlib.contextmanager
def write_guard(run_dir, iteration, name):
    """An OSError (a full disk, a vanished mount) while writing `name` in the run's
    checkpoints/ folder at `iteration` -> checkpoint.CheckpointError naming the newest
    checkpoint and --resume."""
    try:
        yield
    except OSError as exc:
        kept = ckpt.list_checkpoints(run_dir)
        newest = (f"the newest checkpoint is {os.path.basename(kept[-1][1])}" if kept
                  else "no checkpoint was written yet")
        raise ckpt.CheckpointError(
            f"could not write {name} in {ckpt.checkpoints_dir(run_dir)} at "
            f"iteration {iteration} ({exc.strerror or exc}); the files written before "
            f"are intact and {newest}: free space, then run the same command with "
            f"--resume") from None
