"""Known lines that Paddle's and paddle2onnx's C++ code writes straight to the console, dropped
by exact message around the one call that writes them (everything else passes through).

Why at the file descriptor: these lines come from C++ (glog, std::cout), below Python's
`warnings` and `logging`. glog reads GLOG_minloglevel once, when Paddle loads, so setting it
around a call changes nothing (checked on 2.6.2 and 3.3.1), and setting it for the whole
process would also hide Paddle's real errors.
"""
import contextlib
import os
import re
import tempfile

# glog's line prefix: severity letter, MMDD, time, thread id, file:line]
_GLOG = r"[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "

# Paddle 3.3's paddle.add passes out=None to its C++ op while paddle.jit.save builds the PIR
# program (every `x + y` of a network), and the binding warns once per process; 2.6 logs its
# executor's start at INFO. Neither asks anything of the user.
JIT_SAVE_LINES = (
    re.compile(_GLOG + r"Paddle static graph\(PIR\) not support input out tensor for now!+"),
    re.compile(_GLOG + r"New Executor is Running\."),
)
# paddle2onnx 2.x prints its progress to stdout whatever its `verbose` says.
PADDLE2ONNX_LINES = (
    re.compile(r"\[Paddle2ONNX\] Start parsing the Paddle model file\.\.\."),
    re.compile(r"\[Paddle2ONNX\] Use opset_version = \d+ for ONNX export\."),
    re.compile(r"\[Paddle2ONNX\] PaddlePaddle model is exported as ONNX format now\."),
)


@contextlib.contextmanager
def dropped(stream, known):
    """Inside the block, what is written to `stream`'s file descriptor (sys.stdout or
    sys.stderr: C++ and Python alike) is held back; on leaving (errors included) it is written
    there, less the lines that match one of the compiled patterns `known` in full.

    Without a real file descriptor (a notebook's stream, a test's capture object) the block
    runs as it is: C++ output does not reach such a stream anyway.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True)
                    if not any(p.fullmatch(line.decode("utf-8", "replace").rstrip("\r\n"))
                               for p in known)]
            data = memoryview(b"".join(kept))
            while data:
                data = data[os.write(fd, data):]


__all__ = ["dropped", "JIT_SAVE_LINES", "PADDLE2ONNX_LINES"]
