"""Files on disk, the low level every other module builds on: atomic writes, the one guarded
`paddle.load`, content hashes.

A crash or `kill -9` during `atomic_save` leaves either the previous file or the new one,
never a truncated one: the data goes to a temporary file in the same folder (same file
system, so the rename is atomic), is flushed to disk, then renamed over the target.
"""
import hashlib
import json
import os

from .compat import import_paddle
from .errors import InputError


class UnreadableFileError(InputError):
    """A weights / checkpoint file is missing or `paddle.load` cannot read it; names the file."""


def _atomic_write(path, write, sync=True):
    """write(tmp) to a temporary file beside `path`, fsync it (if `sync`), rename it over
    `path`; creates the parent folder. The temporary file is removed if anything fails."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        if sync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj, path):
    """paddle.save(obj) to `path` atomically; creates the parent folder."""
    paddle = import_paddle()
    _atomic_write(path, lambda tmp: paddle.save(obj, tmp))


def atomic_save_json(obj, path):
    """json.dump(obj) to `path` atomically (e.g. best.json); creates the parent folder."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)
    _atomic_write(path, write)


def atomic_write_bytes(data, path):
    """`data` (bytes-like, e.g. cv2.imencode's buffer: written without a copy) to `path`,
    atomically against a killed process: the old file or the new one, never a truncated one.
    Not fsynced: images are written by the thousand (prepare_data's sub-images), and a power
    cut is rarer than a stopped notebook."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    _atomic_write(path, write, sync=False)


def load_file(path, what="weights", error=UnreadableFileError):
    """`paddle.load(path)`, with a missing or unreadable file reported as `error` naming the
    file and `what` it should have been (truncated or foreign files fail in many ways inside
    paddle.load)."""
    paddle = import_paddle()
    path = str(path)
    if not os.path.isfile(path):
        raise error(f"{what} file not found: {path}")
    try:
        return paddle.load(path)
    except Exception as exc:
        raise error(f"{path}: unreadable {what} ({type(exc).__name__}: {exc})") from None


def file_md5(path):
    """Hex md5 of a (weights) file, recorded next to results and exports for provenance."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
