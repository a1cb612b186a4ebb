"""Where Paddle itself is imported, and where Paddle 2.6 / 3.x differences are handled.

Every version switch of the package lives here with a comment naming the Paddle behaviour it
handles, so a newcomer porting to a new Paddle release reads one file.
"""

PADDLE_MISSING = (
    "PaddlePaddle is not installed. Install paddle-srgan[cpu] (pip install paddlepaddle) or "
    "paddle-srgan[gpu] (pip install paddlepaddle-gpu); on AI Studio, paddle is already there.")


def import_paddle():
    """Import and return the `paddle` module, or raise ImportError with the install hint."""
    # Paddle 2.6.2 ships a zlib that, loaded before OpenCV's, breaks cv2.imdecode of PNGs
    # ("libpng error: IDAT: bad parameters to zlib"); OpenCV first keeps both working.
    import cv2  # noqa: F401
    try:
        import paddle
    except ImportError as exc:  # the bare "No module named 'paddle'" tells users nothing
        raise ImportError(PADDLE_MISSING) from exc
    return paddle


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
        raise ValueError("device: gpu was asked for, but Paddle sees no GPU (CPU-only "
                         "paddlepaddle installed, or no CUDA device): use device=auto or cpu")
    if name not in ("gpu", "cpu"):
        raise ValueError(f"device must be auto, gpu or cpu, got {name!r}")
    return name
