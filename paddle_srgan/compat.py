"""Where Paddle itself is imported, and where Paddle 2.6 / 3.x differences are handled.

Every version switch of the package lives here with a comment naming the Paddle behaviour it
handles, so a newcomer porting to a new Paddle release reads one file.
"""

import contextlib
import os
import random
import re
import warnings

import numpy as np

from .errors import InputError, MissingPackageError

PADDLE_MISSING = (
    "PaddlePaddle is not installed. Install paddle-srgan[cpu] (pip install paddlepaddle) or "
    "paddle-srgan[gpu] (pip install paddlepaddle-gpu); on AI Studio, paddle is already there.")


def import_paddle():
    """Import and return the `paddle` module, or raise ImportError with the install hint."""
    # Paddle 2.6.2 ships a zlib that, loaded before OpenCV's, breaks cv2.imdecode of PNGs
    # ("libpng error: IDAT: bad parameters to zlib"); OpenCV first keeps both working.
    import cv2  # noqa: F401
    _prefer_avx2_mkl_on_amd()
    try:
        with warnings.catch_warnings():
            # Paddle 3.x warns on import that ccache is missing: that concerns compiling C++
            # extensions, which this package never does, and it is the first line users saw
            warnings.filterwarnings("ignore", message="No ccache found")
            import paddle
    except ImportError as exc:  # the bare "No module named 'paddle'" tells users nothing
        raise MissingPackageError(PADDLE_MISSING) from exc
    _reclaim_sigterm()
    return paddle


# Paddle's BatchNorm (2.6 and 3.x) warns at its first forward in train mode that it "now always
# tracks global mean and variance": a note on a change made in Paddle 2.0 that asks nothing
# of the user; it was the one warning at the start of every run with a BatchNorm network.
BATCHNORM_TRAINING_NOTE = "When training, we now always track global mean and variance."


@contextlib.contextmanager
def batchnorm_training_note_silenced():
    """Inside the block, Paddle's BatchNorm note (exact message, from paddle.nn.layer.norm) is
    not shown; every other warning is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(BATCHNORM_TRAINING_NOTE),
                                category=UserWarning, module=r"paddle\.nn\.layer\.norm")
        yield


def _reclaim_sigterm():
    """Give SIGTERM back to Python after Paddle (2.6 and 3.x) took it on import.

    Why: Paddle's C++ installs its own handler, which answers a notebook's or a container's
    stop with a 15-line "FatalError: Termination signal is detected ... Aborted" dump; the
    Python handler the tools set (cli.run: quiet exit 143, temporary files removed) or the
    default one would never run. Re-registering whatever Python believes is installed puts
    it back at the operating-system level. Only the main thread may set handlers.
    """
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGTERM))


def _prefer_avx2_mkl_on_amd():
    """Let the MKL bundled with Paddle (2.6 and 3.x) use its AVX2 kernels on AMD CPUs.

    Why: that MKL picks its SSE code path on any non-Intel CPU, which made a CPU training step
    1.8-2.1x slower on an AMD EPYC than with MKL_DEBUG_CPU_TYPE=5 (AVX2 path), and made
    multi-threaded convs several times slower than one thread. MKL reads the variable when
    Paddle loads it, so it is set before `import paddle`; a value the user set is kept.
    """
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            amd = any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in f)
    except OSError:  # not Linux: nothing to read, nothing to do
        return
    if amd:
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"


def default_cpu_threads():
    """CPU cores this process may use, shared among the training processes of this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    local_procs = int(os.environ.get("PADDLE_LOCAL_SIZE", "1"))  # set by distributed.launch
    return max(1, cores // max(1, local_procs))


def lost_peer(exc):
    """Whether `exc` is how Paddle's CPU collectives (gloo, in 2.6.2 and 3.0-3.3) report that
    another process of a distributed job is gone (killed, its machine lost): a RuntimeError
    from gloo's TCP transport, "[/paddle/third_party/gloo/gloo/transport/tcp/pair.cc:587]
    TIMEOUT self_rank = 0 pair_rank = 1 ...", raised at once when the peer's sockets close."""
    return isinstance(exc, RuntimeError) and "gloo/transport" in str(exc)


def paddle_version():
    """(major, minor) of the installed Paddle; develop builds report 0.0 and count as newest."""
    paddle = import_paddle()
    major, minor = (int(p) for p in paddle.__version__.split(".")[:2])
    return (99, 99) if (major, minor) == (0, 0) else (major, minor)


def resolve_device(name):
    """'auto' | 'gpu' | 'cpu' -> the device string Paddle uses; 'gpu' without one is an error."""
    paddle = import_paddle()
    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if name == "auto":
        return "gpu" if has_gpu else "cpu"
    if name == "gpu" and not has_gpu:
        raise InputError("device: gpu was asked for, but Paddle sees no GPU (CPU-only "
                         "paddlepaddle installed, or no CUDA device): use device=auto or cpu")
    if name not in ("gpu", "cpu"):
        raise InputError(f"device must be auto, gpu or cpu, got {name!r}")
    return name


def use_device(name, cpu_threads=0):
    """Resolve `name` (see resolve_device), make it Paddle's device and return it.

    On CPU, Paddle's math library runs `cpu_threads` threads (0: default_cpu_threads()).
    Why: Paddle starts it with one thread (FLAGS_paddle_num_threads=1) whatever the machine
    has; PyTorch uses every core, and so do we.
    """
    paddle = import_paddle()
    device = resolve_device(name)
    paddle.set_device(device)
    if device == "cpu":
        if not isinstance(cpu_threads, int) or cpu_threads < 0:
            raise InputError(f"cpu_threads must be an integer >= 0 (0 = all cores), "
                             f"got {cpu_threads!r}")
        paddle.base.core.set_num_threads(cpu_threads or default_cpu_threads())
    return device


def seed_everything(seed):
    """Seed Python's, numpy's and Paddle's global random generators."""
    random.seed(seed)
    np.random.seed(seed)
    import_paddle().seed(seed)

