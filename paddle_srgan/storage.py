"""Files on disk, the low level every other module writes through: atomic writes that never
follow a symbolic link, strict JSON, the temporaries of killed processes, content hashes.
(Reading weights and checkpoints is safe_load.py's job.)

A crash or `kill -9` during `atomic_save` leaves either the previous file or the new one,
never a truncated one: the data goes to a temporary file in the same folder (same file
system, so the rename is atomic), is flushed to disk, then renamed over the target.
"""
import hashlib
import json
import math
import os

from .compat import import_paddle
from .errors import InputError, UserError


def process_alive(pid):
    """Whether process `pid` still runs: a temporary file or folder named after it may still
    be in use (another save or export in progress), so it must not be removed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


TEMPORARY_MARK = ".tmp"  # atomic writes go through <path>.tmp<pid>


def remove_stale_temporaries(folder, suffix):
    """Remove the temporary files of atomic writes to `<folder>/*<suffix>` that a killed
    process left behind (kill -9 skips the cleanup); those of running processes stay."""
    for name in os.listdir(folder):
        stem, _, pid = name.rpartition(TEMPORARY_MARK)
        if stem.endswith(suffix) and pid.isdigit() and not process_alive(int(pid)):
            os.remove(os.path.join(folder, name))


class LinkedFileError(InputError):
    """A symbolic link stands where the package writes a file: refused, because writing
    through it would overwrite, truncate or append to whatever file it points at."""


class WriteError(UserError, OSError):
    """A file could not be written (a read-only folder, a full disk, ...): one line naming
    the file and the system's reason. Also an OSError (errno and strerror kept), so callers
    that report failed writes their own way (the trainer) keep doing so."""

    @classmethod
    def of(cls, path, exc):
        error = cls(f"cannot write {path}: {exc.strerror or exc}")
        error.errno, error.strerror, error.filename = exc.errno, exc.strerror, path
        return error

    def __str__(self):  # the message, not OSError's "[Errno n] strerror: filename"
        return self.args[0]


# Windows has no O_NOFOLLOW (and its users need a privilege to make symlinks)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def refuse_link(path):
    """LinkedFileError if `path` itself (not its folders) is a symbolic link."""
    if os.path.islink(path):
        raise LinkedFileError(f"{path} is a symbolic link (to {os.readlink(path)}); "
                              f"paddle-srgan writes its files only as regular files, never "
                              f"through a link: remove the link")


def open_no_follow(path, flags, mode=0o666):
    """os.open(path, flags | O_CREAT | O_NOFOLLOW): a descriptor of the regular file at
    `path`, created if missing; a symbolic link there is refused (LinkedFileError), so the
    file it points at is never opened. For the files kept open for appending or locking
    (log.txt, scalars.jsonl, .trainer.lock). Any other failure (a folder there, a read-only
    folder) is a WriteError naming `path`."""
    try:
        return os.open(path, flags | os.O_CREAT | _NOFOLLOW, mode)
    except OSError as exc:
        refuse_link(path)  # ELOOP on Linux, EMLINK on BSDs: say why in one line
        raise WriteError.of(path, exc) from None


def open_append(path):
    """The text file (UTF-8) at `path` opened for appending, created if missing, without
    following a symbolic link (see open_no_follow)."""
    return os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8")


def atomic_write(path, write, sync=True):
    """write(tmp) to a temporary file beside `path`, fsync it (if `sync`), rename it over
    `path`; creates the parent folder. The temporary file is removed if anything fails.

    Never writes through a symbolic link: a link at `path` is refused (LinkedFileError), the
    temporary file is created afresh (O_EXCL | O_NOFOLLOW) before `write` opens it, and the
    rename replaces a directory entry, not what it points at. A failed write (read-only
    folder, full disk) is a WriteError naming `path`."""
    path = os.path.abspath(path)
    refuse_link(path)
    tmp = f"{path}{TEMPORARY_MARK}{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(tmp):  # a leftover of an earlier process with this PID, or a link
            os.remove(tmp)
        os.close(open_no_follow(tmp, os.O_WRONLY | os.O_EXCL))
        write(tmp)
        if sync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError.of(path, exc) from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def atomic_save(obj, path):
    """paddle.save(obj) to `path` atomically; creates the parent folder."""
    paddle = import_paddle()
    atomic_write(path, lambda tmp: paddle.save(obj, tmp))


def strict_json(obj, indent=None):
    """json.dumps(obj) as strict JSON (RFC 8259): a non-finite float (the infinite PSNR of an
    output identical to its reference) becomes null, where Python would write Infinity or
    NaN, which browsers, jq and most other readers refuse."""
    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def atomic_write_text(text, path):
    """`text` (str) to the UTF-8 file `path` atomically (config.yml, results.md/.csv)."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    atomic_write(path, write)


def atomic_save_json(obj, path, indent=1):
    """strict_json(obj) to `path` atomically (e.g. best.json); creates the parent folder."""
    atomic_write_text(strict_json(obj, indent=indent), path)


def atomic_write_bytes(data, path):
    """`data` (bytes-like, e.g. cv2.imencode's buffer: written without a copy) to `path`,
    atomically against a killed process: the old file or the new one, never a truncated one.
    Not fsynced: images are written by the thousand (prepare_data's sub-images), and a power
    cut is rarer than a stopped notebook."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(path, write, sync=False)


def file_md5(path):
    """Hex md5 of a (weights) file, recorded next to results and exports for provenance."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
