"""One trainer per run directory: an advisory lock on `run_dir/.trainer.lock`.

Two trainers writing into one run directory (a second start, or a notebook reconnect that
starts `--resume` while the old process still runs) would write every log line twice and
overwrite, or with another `keep_last` delete, each other's checkpoints. The lock is the
kernel's `flock` on an open file: it belongs to the process and goes with it, also on
`kill -9`, so it never needs clearing by hand. The file holds the holder's PID and start time,
for the message the second trainer prints.

Without `fcntl` (Windows) or on file systems that refuse locks (some FUSE mounts such as a
notebook's mounted Drive), the run goes on unlocked with a warning.
"""
import os
import time
import warnings

from ..errors import UserError
from ..storage import open_no_follow

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".trainer.lock"


class RunDirectoryBusy(UserError):
    """Another process trains into this run directory."""


class RunLock:
    """`acquire()` the run directory's lock (idempotent) or raise RunDirectoryBusy naming the
    holder's PID; released by `release()` or when the process ends."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_NAME)
        self._fd = None

    def acquire(self):
        if self._fd is not None or fcntl is None:
            return self
        fd = open_no_follow(self.path, os.O_RDWR, 0o644)  # a planted link: refused
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown PID"
            os.close(fd)
            raise RunDirectoryBusy(
                f"{self.run_dir} is in use by another trainer ({holder}): stop that one "
                f"first, or train into another run with -o experiment=<name>") from None
        except OSError as exc:  # the file system has no locks
            os.close(fd)
            warnings.warn(f"could not lock {self.run_dir} ({exc.strerror}): make sure no "
                          f"other trainer writes into it")
            return self
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 .encode())
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None
