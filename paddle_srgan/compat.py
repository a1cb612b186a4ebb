"""Where Paddle itself is imported, and where Paddle 2.6 / 3.x differences are handled.

Every version switch of the package lives here with a comment naming the Paddle behaviour it
handles, so a newcomer porting to a new Paddle release reads one file.
"""

PADDLE_MISSING = (
    "PaddlePaddle is not installed. Install paddle-srgan[cpu] (pip install paddlepaddle) or "
    "paddle-srgan[gpu] (pip install paddlepaddle-gpu); on AI Studio, paddle is already there.")


def import_paddle():
    """Import and return the `paddle` module, or raise ImportError with the install hint."""
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
