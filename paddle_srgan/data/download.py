"""A data set of the sources table (data/sources.py) from its archives to our layout:
fetch (data/fetch.py), verify, unpack (data/archives.py), count, move into place.

Archives are kept in `<data root>/downloads/` (benchmark.tar holds all four benchmark sets:
the second set unpacks from it without a download). Each archive unpacks into a staging
folder under the data root; its folders move into place only when every one of them holds
the published number of images, so a failed run leaves no half set. A folder already in
place with the published count is kept and skipped; one with another count is the user's
and is never replaced (refused in one line, before any download).
"""
import os
import shutil
from collections import namedtuple
from pathlib import Path

from ..errors import InputError
from .archives import unpack
from .benchmarks import count_images
from .fetch import DownloadError, fetch, file_sha256, say
from .sources import archives_for

MIRROR_ENV = "PADDLE_SRGAN_DATA_MIRROR"

# placed: {folder under the data root: images}; missing_lr: scales the archives lack (to be
# made with make-lr); sums: {archive file: (its sha256, whether it was checked against a
# known sum)}; kept: archives in the downloads folder.
Report = namedtuple("Report", "placed missing_lr sums kept")


def archive_url(archive, mirror=None):
    """The archive's own URL, or the same file name under `mirror` (a folder URL that holds
    copies of the files: a lab server, a local `python -m http.server`)."""
    return f"{mirror.rstrip('/')}/{archive.file}" if mirror else archive.url


def parse_pins(texts):
    """{file: sha256} of `--sha256 FILE=HEX` values; InputError naming a malformed one."""
    pins = {}
    for text in texts or ():
        file, _, digest = text.partition("=")
        if not file or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF"
                                                 for c in digest):
            raise InputError(f"--sha256 {text}: expected FILE=HEX with the 64 hex digits of "
                             f"a sha256 sum, e.g. benchmark.tar=<sha256sum's output>")
        pins[file] = digest.lower()
    return pins


def layout(source, scales):
    """[(folder under the data root, what it is)] of a set: its HR folder, then the LR
    folder of each scale."""
    return [(source.hr, "HR")] + [(source.lr.format(s=s), f"LR x{s}") for s in scales]


def check_layout(source, data_root, scales):
    """(complete, report lines) of a set under `data_root`: each folder of `layout` with its
    image count against the published one."""
    lines, complete = [], True
    for folder, what in layout(source, scales):
        n = count_images(Path(data_root) / folder)
        state = "ok" if n == source.images else "MISSING" if n == 0 else "INCOMPLETE"
        complete &= state == "ok"
        lines.append(f"  {source.name:<11} {what:<6} {state:<10} {n:>3} of {source.images:>3} "
                     f"images  {Path(data_root) / folder}")
    return complete, lines


def _refuse_partial_folders(source, data_root, scales):
    """InputError when a folder the download would fill already holds another number of
    images than the published set (the user's, or a damaged earlier copy)."""
    for folder, what in layout(source, scales):
        path = Path(data_root) / folder
        n = count_images(path)
        if n == source.images or not path.exists() \
                or path.is_dir() and not any(path.iterdir()):
            continue
        raise InputError(f"{path} exists with {n} images (the published {source.name} {what} "
                         f"has {source.images}): it is not replaced; move it away and run "
                         f"again")


def _archive_file(archive, downloads, url, sha256, size, retries, progress):
    """The verified archive in `downloads`, fetched unless an earlier run left it whole;
    returns (path, its sha256)."""
    path = downloads / archive.file
    if path.exists():
        say(f"using {path} (downloaded before)")
        digest = file_sha256(path)
        if sha256 is not None and digest != sha256:
            raise DownloadError(f"checksum mismatch for {path}: expected sha256 {sha256}, "
                                f"got {digest}; delete it to download it again")
        return path, digest
    downloads.mkdir(parents=True, exist_ok=True)
    return path, fetch(url, path, sha256, size, retries=retries, progress=progress)


def _place(source, archive_path, folders, data_root):
    """Unpack `folders` of one archive to a staging folder, check every image count, then
    move the folders into place; returns {folder: images}. An LR folder the archive lacks
    is left out (make-lr makes it); any other count than the published one refuses all."""
    staging = data_root / f".unpacking-{source.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # a leftover of a killed run with this pid
    try:
        unpack(archive_path, folders, staging)
        found = {dest: count_images(staging / dest) for dest in folders.values()}
        for inside, dest in folders.items():
            if found[dest] != source.images and (found[dest] or dest == source.hr):
                raise InputError(f"{archive_path.name} holds {found[dest]} images in {inside}, "
                                 f"the published {source.name} has {source.images}; nothing "
                                 f"was unpacked (a damaged or different archive)")
        placed = {}
        for dest, n in found.items():
            if n:
                (data_root / dest).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / dest, data_root / dest)
                placed[dest] = n
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_source(source, data_root, scales=(4,), mirror=None, pins=None, retries=3,
                    progress=True):
    """Fetch, verify and unpack data set `source` (a sources.Source) under `data_root`.

    Args:
        source: a sources.Source.
        data_root: the data folder ('data'); sets land at source.hr / source.lr there.
        scales: LR scales wanted; those the archives lack come back in Report.missing_lr.
        mirror: a folder URL serving the same file names (None: the table's URLs).
        pins: {archive file: sha256} replacing the table's sum and size (--sha256).
        retries, progress: as data.fetch.fetch.
    Returns:
        Report. Folders already complete are skipped (not in Report.placed).
    Raises:
        InputError for a partial folder in the way (before any download) or an archive
        without the published images; DownloadError, UnsafeArchiveError, WriteError.
    """
    data_root, pins = Path(data_root), pins or {}
    _refuse_partial_folders(source, data_root, scales)
    downloads = data_root / "downloads"
    placed, sums, kept = {}, {}, []
    for archive, folders in archives_for(source, scales):
        folders = {inside: dest for inside, dest in folders.items()
                   if count_images(data_root / dest) != source.images}
        if not folders:
            continue
        sha256 = pins.get(archive.file, archive.sha256)
        size = None if archive.file in pins else archive.size
        path, digest = _archive_file(archive, downloads, archive_url(archive, mirror), sha256,
                                     size, retries, progress)
        sums[archive.file] = (digest, sha256 is not None)
        kept.append(path)
        placed.update(_place(source, path, folders, data_root))
    missing_lr = [s for s in scales
                  if count_images(data_root / source.lr.format(s=s)) != source.images]
    return Report(placed, missing_lr, sums, kept)
