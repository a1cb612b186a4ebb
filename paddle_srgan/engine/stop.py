"""Stop requests of a training run: SIGTERM / SIGINT (what notebook platforms, `timeout` and
Ctrl-C send) and dead DataLoader workers, turned into "stop after this iteration".

    with StopRequests(world) as stop:       installs the handlers, puts the old ones back
        stop.hold_worker_errors()          after the loader's iterator exists
        while not stop.requested(): ...    agreed on by every rank
            batch = stop.next_batch(loader)
"""
import os
import signal
import sys
import threading
import time

from ..compat import import_paddle
from ..errors import InputError, UserError

paddle = import_paddle()
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PADDLE_IO_DIR = os.path.dirname(paddle.io.__file__) + os.sep


class StopRequests:
    """Records the first SIGTERM/SIGINT instead of dying, so the loop can checkpoint the last
    completed iteration and leave. `signum` is that signal (None until one arrives).

    Args:
        world: processes training together; with several, `requested()` is agreed on.
        grace: seconds to wait, after the loader fails, for this process's own stop signal.
    """

    def __init__(self, world=1, grace=3.0):
        self.world = world
        self.grace = grace
        self.signum = None
        self._old_handlers = {}
        self._paddle_sigchld = None  # Paddle's dead-worker check, run between iterations
        self._child_exited = False
        self._old_thread_hook = None
        self.worker_error = None  # InputError: a worker's user error (e.g. a corrupt image)

    def __enter__(self):
        self._old_handlers = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        self._old_thread_hook, threading.excepthook = threading.excepthook, self._on_thread_error
        return self

    def __exit__(self, *exc):
        for s, handler in self._old_handlers.items():
            signal.signal(s, handler)
        threading.excepthook = self._old_thread_hook
        if self._paddle_sigchld is not None:
            signal.signal(signal.SIGCHLD, self._paddle_sigchld)
        return False

    def _on_signal(self, signum, frame):
        self.signum = signum

    def _on_thread_error(self, args):
        """threading.excepthook while training. A SIGTERM to the process group can kill a
        DataLoader worker just after it queued a batch in shared memory, which the worker's
        exit then removes: Paddle's reader thread fails to open it and dies with a traceback
        (seen about once in five group kills). If this process's own stop signal comes, that
        failure is part of the stop: one line instead. A user error from a worker (a corrupt
        training image) is kept for the loop to report in one line. Every other thread error,
        and the first one without a stop signal, goes to the previous hook."""
        if issubclass(args.exc_type, UserError) and _raised_in(args.exc_traceback,
                                                               PADDLE_IO_DIR):
            # a worker's user error (a corrupt image), re-raised by Paddle's reader thread
            # with the worker's traceback inside its message: the loop reports its last line
            self.worker_error = InputError(_last_line(str(args.exc_value)))
            return
        if _raised_in(args.exc_traceback, PADDLE_IO_DIR) and self.wait_for_signal():
            sys.stderr.write(f"DataLoader reader thread ended with its workers on {self.name()} "
                             f"({args.exc_type.__name__}); the run saves and stops.\n")
            return
        self._old_thread_hook(args)

    def hold_worker_errors(self):
        """Paddle reports a dead DataLoader worker by raising from its SIGCHLD handler, i.e.
        anywhere in this thread, possibly half way through a step or a checkpoint. Call after
        the loader's iterator exists (it installs that handler); `next_batch` then runs it
        between iterations, where the state is that of the last completed one."""
        handler = signal.getsignal(signal.SIGCHLD) if hasattr(signal, "SIGCHLD") else None
        if callable(handler):
            self._paddle_sigchld = handler
            signal.signal(signal.SIGCHLD, self._on_child_exit)

    def _on_child_exit(self, signum, frame):
        self._child_exited = True

    def next_batch(self, loader):
        """next(loader), after Paddle's check of exited workers held back by
        hold_worker_errors (raises its error if one died)."""
        if self._child_exited:
            self._child_exited = False
            self._paddle_sigchld(signal.SIGCHLD, None)
        return next(loader)

    def wait_for_signal(self):
        """After a loader failure: when a platform stops a job it signals every process of
        the group and the workers may die first, so wait up to `grace` seconds for this
        process's own signal. True if it came (a clean stop)."""
        deadline = time.monotonic() + self.grace
        while self.signum is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the signal handler runs between these sleeps
        return self.signum is not None

    def after_loader_error(self, exc, save_unsaved):
        """The loader raised `exc` (a worker died, or a user error such as a corrupt image,
        from a worker or read in this process). True if this process's own stop signal
        follows (a platform stopping the whole process group: a clean stop); else
        `save_unsaved()` checkpoints the last completed iteration and False is returned (the
        caller re-raises). With several ranks nothing is saved here: the others are not at
        this point, and the BN all-reduce of a save would wait for them forever."""
        # a corrupt image: no stop signal to wait for
        worker_error = self.worker_error or (exc if isinstance(exc, UserError) else None)
        if worker_error is None and self.wait_for_signal():
            return True
        if self.world == 1:
            save_unsaved()
        if worker_error is not None:
            raise worker_error
        return False

    def requested(self):
        """Has a stop signal arrived? With several ranks the answer is agreed on (max over
        ranks), so all of them leave the loop at the same iteration."""
        if self.world > 1:
            flag = paddle.to_tensor([self.signum or 0], dtype="int32")
            paddle.distributed.all_reduce(flag, op=paddle.distributed.ReduceOp.MAX)
            self.signum = int(flag.numpy()[0]) or None
        return self.signum is not None

    def name(self):
        """'SIGTERM' / 'SIGINT', or None."""
        return signal.Signals(self.signum).name if self.signum is not None else None


def _raised_in(traceback, directory):
    """Does the traceback pass through a file under `directory`?"""
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.startswith(directory):
            return True
        traceback = traceback.tb_next
    return False


def _last_line(message):
    """'cannot read image X.png: ...' from Paddle's 'DataLoader worker(1) caught
    ImageReadError with message:\n<traceback>\npaddle_srgan...ImageReadError: cannot read
    image X.png: ...': the worker's own error message."""
    line = [x for x in message.strip().splitlines() if x.strip()][-1]
    head, sep, rest = line.partition(": ")
    return rest if sep and "Error" in head else line
