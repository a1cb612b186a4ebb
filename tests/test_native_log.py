"""native_log: the known C++ console lines (copied from real runs) are dropped, every other
line is kept, also when the call fails."""
import os
import sys

import pytest

from paddle_srgan import native_log

KNOWN = (b"W1208 00:16:34.869761 11018 eager_utils.cc:3584] Paddle static graph(PIR) not "
         b"support input out tensor for now!!!!!\n"
         b"I1208 00:16:42.079214 11056 program_interpreter.cc:212] New Executor is Running.\n")


def test_known_lines_are_dropped_and_the_rest_kept_on_errors_too(capfd):
    with pytest.raises(RuntimeError):
        with native_log.dropped(sys.__stderr__, native_log.JIT_SAVE_LINES):
            os.write(2, b"W1208 00:00:00.000001 1 other.cc:1] a warning of its own\n" + KNOWN)
            print("error: kept", file=sys.__stderr__)
            raise RuntimeError
    assert capfd.readouterr().err == ("W1208 00:00:00.000001 1 other.cc:1] a warning of its own\n"
                                      "error: kept\n")
