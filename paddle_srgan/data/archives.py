"""Unpacking a downloaded zip or tar archive without trusting it.

An archive is untrusted input: a member named `/etc/x` or `../../x` (zip slip, tar
traversal), a symbolic or hard link, a device file, or a zip bomb would write outside the
folder or fill the disk. Every member is checked before any byte is written, the same way for
zip and tar (Python 3.8 has no tarfile extraction filter): a member with an absolute path or a
'..' part, or one that is not a regular file or folder, refuses the whole archive. Only the
files directly inside the folders asked for are written, each created afresh (never through a
link), and their declared sizes together are bounded (and counted again while writing).
"""
import os
import re
import stat
import tarfile
import zipfile
import zlib

from ..errors import InputError
from ..storage import WriteError, open_no_follow

MAX_MEMBERS = 200_000
# A zip or tar of PNG images unpacks to about its own size (PNG is compressed already): four
# times the archive's size is room for any honest archive and a stop for a bomb.
MAX_EXPANSION = 4


class UnsafeArchiveError(InputError):
    """An archive member would land outside the folder, or is a link or a special file."""


def member_path(name, archive):
    """The member `name` as a clean relative 'a/b/c' path, or UnsafeArchiveError when it is
    absolute ('/x', 'C:x', '\\\\x') or has a '..' part (backslashes count as separators:
    zips made on Windows use them)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts \
            or "\0" in name:
        raise UnsafeArchiveError(
            f"refused {archive}: member {name!r} points outside the folder it unpacks to "
            f"(an absolute path or '..'); nothing was unpacked")
    return "/".join(p for p in parts if p not in ("", "."))


def _entries(archive):
    """[(name, kind, size, opener)] of a zip or tar: kind 'file', 'dir' or what else it is."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        out = []
        for info in zf.infolist():
            # the Unix file type, when the zip holds one (Windows zips and Python's
            # writestr leave it 0: a plain file)
            kind = stat.S_IFMT(info.external_attr >> 16)
            kind = ("dir" if info.is_dir() else "file" if kind in (0, stat.S_IFREG)
                    else "symbolic link" if kind == stat.S_IFLNK else "special file")
            out.append((info.filename, kind, info.file_size, lambda i=info: zf.open(i)))
        return zf, out
    try:
        tf = tarfile.open(archive, "r:*")
        members = tf.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{archive} is neither a zip nor a readable tar archive ({exc}); "
                         f"nothing was unpacked") from None
    out = []
    for m in members:
        kind = ("file" if m.isfile() else "dir" if m.isdir() else "symbolic link" if m.issym()
                else "hard link" if m.islnk() else "special file")
        out.append((m.name, kind, m.size, lambda m=m: tf.extractfile(m)))
    return tf, out


def _plan(entries, folders, archive):
    """[(opener, size, destination 'dest/file')] of the files directly inside `folders`
    ({folder in the archive: destination folder}); every member is checked first."""
    if len(entries) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"refused {archive}: {len(entries)} members (at most "
                                 f"{MAX_MEMBERS}); nothing was unpacked")
    plan = []
    for name, kind, size, opener in entries:
        path = member_path(name, archive)
        if kind not in ("file", "dir"):
            raise UnsafeArchiveError(f"refused {archive}: member {name!r} is a {kind}; only "
                                     f"files and folders are unpacked; nothing was unpacked")
        folder, _, base = path.rpartition("/")
        if kind == "file" and folder in folders and not base.startswith("."):
            plan.append((opener, size, f"{folders[folder]}/{base}"))
    return plan


def unpack(archive, folders, out_dir):
    """Write the files directly inside `folders` of `archive` to `out_dir`/<destination>.

    Args:
        archive: path of a zip or tar (any compression tarfile reads).
        folders: {folder in the archive ('benchmark/Set14/HR'): destination folder relative
            to out_dir ('benchmarks/Set14/HR')}.
        out_dir: a new, empty folder (a staging folder the caller moves from).
    Returns:
        {destination folder: number of files written}.
    Raises:
        UnsafeArchiveError before anything is written (see the module docstring);
        InputError for an unreadable archive or one unpacking to more than MAX_EXPANSION
        times its size; WriteError (a full disk).
    """
    handle, entries = _entries(archive)
    with handle:
        plan = _plan(entries, folders, archive)
        limit = MAX_EXPANSION * os.path.getsize(archive)
        declared = sum(size for _, size, _ in plan)
        if declared > limit:
            raise UnsafeArchiveError(f"refused {archive}: its files would unpack to "
                                     f"{declared} bytes, more than {MAX_EXPANSION} times the "
                                     f"archive's size; nothing was unpacked")
        counts = {dest: 0 for dest in folders.values()}
        for opener, size, dest in plan:
            target = os.path.join(out_dir, *dest.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            _copy(opener, size, target, archive)
            counts[dest.rpartition("/")[0]] += 1
    return counts


def _copy(opener, size, target, archive):
    """Member bytes to a new file `target`, at most `size` of them (what the header said)."""
    fd = open_no_follow(target, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as out, opener() as src:
            written = 0
            for chunk in iter(lambda: src.read(1 << 20), b""):
                written += len(chunk)
                if written > size:
                    raise UnsafeArchiveError(f"refused {archive}: {target} holds more bytes "
                                             f"than its header says")
                out.write(chunk)
    except OSError as exc:
        raise WriteError.of(target, exc) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise InputError(f"{archive} is damaged ({exc}); delete it and download again") \
            from None
