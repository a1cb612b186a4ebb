"""StopRequests: stop signals become "stop after this iteration", and the DataLoader reader
thread's death during a process-group kill is one line, not a traceback."""
import os
import signal
import threading

import paddle
import pytest

from paddle_srgan.engine.stop import StopRequests


def fail_in_paddle_io():
    """Raises from inside paddle.io, as Paddle's reader thread does when a killed worker's
    shared-memory batch is gone."""
    paddle.io.random_split(list(range(3)), [5])


def fail_elsewhere():
    raise RuntimeError("a bug of ours")


def run_thread(target):
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()


def test_a_stop_signal_is_recorded_and_the_old_handler_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequests() as stop:
        assert not stop.requested() and stop.name() is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait_for_signal()
        assert stop.requested() and stop.name() == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("signalled, target, quiet", [
    (True, fail_in_paddle_io, True),     # the group kill: one line
    (False, fail_in_paddle_io, False),   # the loader failed on its own: the traceback
    (True, fail_elsewhere, False),       # not the loader: always the traceback
])
def test_reader_thread_death_during_a_stop_is_one_line(capsys, monkeypatch, signalled, target,
                                                      quiet):
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)  # not pytest's
    hook = threading.excepthook
    with StopRequests(grace=0.2) as stop:
        if signalled:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.wait_for_signal()
        run_thread(target)
    assert threading.excepthook is hook
    err = capsys.readouterr().err
    assert ("Traceback" not in err) == quiet, err
    expected = "DataLoader reader thread ended with its workers on SIGTERM (ValueError)"
    assert (expected in err) == quiet, err
