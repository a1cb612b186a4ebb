"""One file over HTTP(S) with urllib (no new dependency): resumable, verified, atomic.

The bytes go to `<file>.part`; a download that breaks off (a dropped connection, Ctrl-C) keeps
them, and the next attempt asks for the rest with `Range: bytes=N-`. A server that ignores
the Range header answers 200 with the whole file: the `.part` is then written again from its
first byte. Only a complete file whose sha256 matches (when one is known) is renamed to
`<file>`, so a file without `.part` is always whole and verified.
"""
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request

from ..errors import UserError
from ..storage import WriteError, open_no_follow, refuse_link

CHUNK = 1 << 20
TIMEOUT = 60  # seconds without a byte before a connection counts as broken
USER_AGENT = "paddle-srgan (tools/prepare_data.py download)"


class DownloadError(UserError):
    """A download failed: one line naming the URL and the reason."""


class BrokenTransfer(DownloadError):
    """The connection broke off mid-file; the bytes so far are kept for resuming."""


def file_sha256(path):
    """Hex sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def say(line):
    """Progress notes go to stderr; stdout holds the tool's report."""
    print(line, file=sys.stderr, flush=True)


def _size_of(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def _open(url, offset):
    """The response to GET `url` (from byte `offset` if > 0); DownloadError for HTTP errors
    and unreachable hosts, except 416 (returned as None: the offset is past the end)."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot download {url}: {reason}") from None


def _transfer(url, part, progress):
    """Append the rest of `url` to `part` (all of it if the server ignores Range).
    BrokenTransfer when the connection breaks off before the announced length."""
    from tqdm import tqdm

    name = os.path.basename(part)[:-len(".part")]
    offset = _size_of(part)
    response = _open(url, offset)
    if response is None:  # 416: the .part is longer than the file or already whole
        say(f"{name}: the server has no bytes after {offset}; "
            f"downloading from the start")
        os.remove(part)
        offset = 0
        response = _open(url, 0)
    with response:
        if offset and response.status == 206:
            start = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not start or int(start.group(1)) != offset:
                os.remove(part)
                raise BrokenTransfer(f"{url}: the server sent another range than bytes "
                                     f"{offset}-; restarting")
            say(f"resuming {name} at byte {offset}")
        elif offset:
            say(f"{url}: the server ignores Range requests; downloading from the start")
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        fd = open_no_follow(part, os.O_WRONLY | (os.O_APPEND if offset else os.O_TRUNC))
        try:
            with os.fdopen(fd, "wb") as f, tqdm(total=total, initial=offset, unit="B",
                                                 unit_scale=True, unit_divisor=1024,
                                                 desc=name, disable=not progress) as bar:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except http.client.HTTPException:  # IncompleteRead: the server hung up
                        raise BrokenTransfer(_broken(url, offset, total)) from None
                    except OSError as exc:  # a timeout, a reset connection
                        raise BrokenTransfer(f"{_broken(url, offset, total)} ({exc})") \
                            from None
                    if not chunk:
                        break
                    f.write(chunk)
                    offset += len(chunk)
                    bar.update(len(chunk))
        except OSError as exc:
            raise WriteError.of(part, exc) from None
    if total is not None and offset < total:
        raise BrokenTransfer(_broken(url, offset, total))


def _broken(url, offset, total):
    return f"download of {url} broke off at byte {offset}" + (f" of {total}" if total else "")


def fetch(url, path, sha256=None, size=None, retries=3, progress=True):
    """Download `url` to `path`, resuming `path`.part; returns the file's sha256 (hex).

    Args:
        url: http(s) or file URL.
        path: where the whole, verified file goes (its folder must exist).
        sha256: the expected hex sum, or None (not published: the computed one is returned
            for the caller to show).
        size: the expected length in bytes, or None.
        retries: how many times a broken connection is resumed at once before giving up
            (the bytes stay in `path`.part for the next run).
        progress: show a tqdm bar.
    Raises:
        DownloadError (HTTP errors, unreachable host, a broken download after the retries,
        a size or checksum mismatch: the bad file is removed), WriteError (a full disk),
        LinkedFileError (a symbolic link at `path` or `path`.part).
    """
    part = f"{path}.part"
    refuse_link(path)
    refuse_link(part)
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, progress)
            break
        except BrokenTransfer as exc:
            if attempt == retries:
                raise BrokenTransfer(f"{exc}; the bytes so far are kept in {part}: run the "
                                     f"same command again to resume") from None
            say(f"{exc}; retrying ({attempt + 1} of {retries})")
        except KeyboardInterrupt:
            say(f"stopped: the {_size_of(part)} bytes so far are kept in {part}; run the "
                f"same command again to resume")
            raise
    got = _size_of(part)
    if size is not None and got != size:
        os.remove(part)
        raise DownloadError(f"{url} gave {got} bytes, expected {size}; the file was removed "
                            f"(a mirror serving another file?)")
    digest = file_sha256(part)
    if sha256 is not None and digest != sha256.lower():
        os.remove(part)
        raise DownloadError(f"checksum mismatch for {os.path.basename(path)} from {url}: "
                            f"expected sha256 {sha256.lower()}, got {digest}; the file was "
                            f"removed (a corrupted download or another file: run again, or "
                            f"check the mirror)")
    os.replace(part, path)
    return digest
