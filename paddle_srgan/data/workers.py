"""DataLoader worker processes that never outlive the trainer: worker_init, the
worker_init_fn that datasets.build_train_loader gives every worker.
"""
import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_init(parent_pid, worker_id):
    """Set up a DataLoader worker process (its worker_init_fn) so that it never outlives the
    process that started it (`parent_pid`).

    * SIGINT is ignored: Ctrl-C reaches the whole foreground process group, and the trainer
      stops on it by itself (checkpoint, then it shuts its workers down). SIGTERM keeps
      Paddle's worker handler, which exits quietly when the parent sends it (multiprocessing
      does at exit, then waits: ignoring it would hang every exit) and dies of it otherwise;
      the trainer, which got the same SIGTERM from the platform, then stops on the loader's
      error (engine.trainer).
    * The worker dies with its parent: after `kill -9` of the trainer, Paddle's own watchdog
      (polling getppid) leaves its loop but the worker then hangs flushing its output queue
      into a pipe nobody reads. Linux: the kernel kills it (PR_SET_PDEATHSIG); elsewhere a
      thread polls getppid() once a second.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)
            return
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()


def _exit_when_orphaned(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)
