"""Reading and writing images, listing image folders, picking one channel.

Everything here speaks RGB numpy arrays [H, W, 3] in the file's own integer type: uint8
(values 0..255) or uint16 (0..65535; 16-bit PNG/TIFF keep their depth). Files are read as
bytes and decoded in memory (``np.fromfile`` + ``cv2.imdecode``) because ``cv2.imread`` cannot
open non-ASCII paths on Windows; the same holds for writing. Only PNG, JPEG, BMP, TIFF and
WebP content is decoded, whatever the file's name (Pillow reads their size from the header:
image_size), and a decoder's own console messages become part of our one error line.
"""
import os
import re
import struct
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..storage import atomic_write_bytes
from .colour import rgb_to_gray, rgb_to_y
from .imresize import INTEGER_MAX

__all__ = ["IMAGE_EXTENSIONS", "FORMATS", "ImageReadError", "read_image", "write_image",
           "image_size", "list_images", "check_channel", "select_channel"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# File formats that can hold 16-bit samples (cv2.imencode silently refuses the others).
_16BIT_EXTENSIONS = (".png", ".tif", ".tiff")


class ImageReadError(InputError):
    """An image file is missing, unreadable, corrupt or of an unsupported kind; the message
    names the file and the reason."""


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The formats read_image decodes, by their first bytes. OpenCV picks a decoder by content,
# whatever the file's name: without this gate a Radiance .hdr (no size OpenCV or Pillow can
# read cheaply; 6 MB of run-length data can decode to gigabytes) or an OpenEXR would be
# decoded too.
_SIGNATURES = (("PNG", PNG_SIGNATURE), ("JPEG", b"\xff\xd8\xff"), ("BMP", b"BM"),
               ("TIFF", b"II*\0"), ("TIFF", b"MM\0*"), ("TIFF", b"II+\0"), ("TIFF", b"MM\0+"))
FORMATS = "PNG, JPEG, BMP, TIFF or WebP"


def _image_format(data):
    """'PNG', 'JPEG', 'BMP', 'TIFF' or 'WebP' from the first bytes of an encoded image
    (uint8 array or bytes); None for any other content."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for name, magic in _SIGNATURES if head.startswith(magic)), None)


def _png_complete(data):
    """Does a PNG hold its chunks whole up to a complete IEND chunk? Walks the chunk
    lengths only (microseconds); bytes after IEND are allowed, as decoders ignore them."""
    view, n, pos = memoryview(data).cast("B"), len(data), len(PNG_SIGNATURE)
    while pos + 12 <= n:
        length, kind = struct.unpack_from(">I4s", view, pos)
        pos += 12 + length
        if kind == b"IEND":
            return pos <= n
    return False


_DECODER_LOCK = threading.Lock()  # one redirection of the process's stderr at a time
# A fork (DataLoader workers) waits for a decode in another thread to end: a child would
# otherwise start with the lock held forever and its stderr in the parent's temporary file.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_DECODER_LOCK.acquire, after_in_parent=_DECODER_LOCK.release,
                        after_in_child=_DECODER_LOCK.release)
# What decoders print: OpenCV's log ("[ERROR:0@0.4] global grfmt_tiff.cpp:117 TIFF_Error ...")
# and libpng's default handlers ("libpng error: Not enough image data"); and where an OpenCV
# error was raised ("OpenCV(5.1.0) /path/alloc.cpp:73: error: (-4:Insufficient memory) ...
# in function 'OutOfMemoryError'"), which says nothing to a user
_DECODER_LINE = re.compile(r"^(\[\w+:[^\]]*\] global \S+ |libpng (error|warning): )")
_OPENCV_WHERE = re.compile(r"OpenCV\([^)]*\) \S+: error: \(-?\d+:([^)]*)\) (.*?)"
                           r"( in function '[^']*')?\s*$", re.S)


def _decode(data, path, kind):
    """cv2.imdecode(data, IMREAD_UNCHANGED), with what the decoders print kept off the
    console; ImageReadError naming `path` and the decoder's reason if it fails.

    libpng (through OpenCV's default handlers) and OpenCV's log write straight to the
    process's stderr from C, a line the user saw before ours. During the decode fd 2 goes
    to a temporary file; a decoded image's warnings, and anything another thread wrote
    meanwhile, are passed on to stderr afterwards. OpenCV raises instead of returning None
    when the declared size is past its limit (2^30 pixels) or memory runs out.
    """
    with _DECODER_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (a daemon): nothing to keep clean
            saved = None
        if saved is not None:
            os.dup2(sink.fileno(), 2)
        img, raised = None, None
        try:
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raised = exc
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
        sink.seek(0)
        lines = sink.read().decode("utf-8", "replace").splitlines(keepends=True)
    messages = [line for line in lines if _DECODER_LINE.match(line)]
    passed_on = "".join(line for line in lines if img is not None or line not in messages)
    if passed_on:
        sys.stderr.write(passed_on)
        sys.stderr.flush()
    if img is not None:
        return img
    if raised is not None:
        reason = _opencv_reason(str(raised))
    else:
        said = _opencv_reason(_DECODER_LINE.sub("", messages[0])) if messages else ""
        reason = "corrupt or truncated" + (f": {said}" if said else "")
    raise ImageReadError(f"cannot read image {path}: not a decodable {kind} file ({reason})")


def _opencv_reason(text):
    """'Insufficient memory: Failed to allocate 2700000000 bytes' from an OpenCV error's
    text; other text stripped as it is."""
    if "CV_IO_MAX_IMAGE_PIXELS" in text:
        return "its header declares more than 2^30 pixels, OpenCV's limit"
    match = _OPENCV_WHERE.search(text)
    return f"{match.group(1)}: {match.group(2)}" if match else text.strip()


def _read_bytes(path):
    """uint8 [N] contents of a non-empty file; ImageReadError naming it otherwise."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        reason = "no such file" if not os.path.exists(path) else exc.strerror or str(exc)
        raise ImageReadError(f"cannot read image {path}: {reason}") from None
    if data.size == 0:
        raise ImageReadError(f"cannot read image {path}: the file is empty")
    return data


def _check_encoded(data, path):
    """The format of encoded image bytes (_image_format) after the checks made before
    decoding: a supported format (by content, not by name) and, for a PNG, complete data
    (_png_complete). ImageReadError naming `path` otherwise."""
    kind = _image_format(data)
    if kind is None:
        raise ImageReadError(f"cannot read image {path}: not a {FORMATS} file (it starts "
                             f"with {bytes(data[:8])!r})")
    if kind == "PNG" and not _png_complete(data):
        # a cut-off copy or sync stopped half way
        raise ImageReadError(f"cannot read image {path}: truncated PNG (the file ends "
                             f"before its last chunk)")
    return kind


def read_image(path, keep_gray=False, keep_alpha=False):
    """Decode an image file to RGB.

    Args:
        path: str or Path of a PNG, JPEG, BMP, TIFF or WebP file (any characters in the
            name); the format is told by the content, and no other is decoded.
        keep_gray: return gray files as [H, W, 1] instead of three identical channels
            (benchmarks need to know: the literature scores a gray image on its own values).
        keep_alpha: return RGBA files as [H, W, 4] (RGBA order) instead of dropping the
            alpha channel (inference gives the alpha back, upscaled).

    Returns:
        [H, W, 3] uint8 or uint16 array, RGB order, C-contiguous. Gray files come back with
        three identical channels ([H, W, 1] with ``keep_gray``); an alpha channel is dropped
        (not composited; kept with ``keep_alpha``). EXIF orientation is ignored: the pixels
        are returned as stored, as benchmark files expect.

    Raises:
        ImageReadError: the file is missing, empty, of another format, truncated, not
            decodable, or not 8/16-bit.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    img = _decode(data, path, _check_encoded(data, path))
    if img.dtype not in INTEGER_MAX:
        raise ImageReadError(f"cannot read image {path}: {img.dtype} samples are not supported "
                             f"(expected 8-bit or 16-bit integer images)")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels == 1:
        return np.ascontiguousarray(img if keep_gray else np.repeat(img, 3, axis=2))
    if channels == 4 and keep_alpha:
        return np.ascontiguousarray(img[:, :, [2, 1, 0, 3]])  # BGRA -> RGBA
    if channels in (3, 4):
        return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    raise ImageReadError(f"cannot read image {path}: {channels} channels "
                         f"(expected gray, RGB or RGBA)")


def write_image(path, img):
    """Encode an image to a file, creating missing parent folders; atomically (a killed run
    leaves the previous file or the new one, never a truncated image).

    Args:
        path: str or Path; the extension picks the format (16-bit needs .png or .tif,
            RGBA needs .png).
        img: [H, W, 3] RGB, [H, W, 4] RGBA or [H, W] / [H, W, 1] gray, uint8 or uint16.
    """
    path = Path(path)
    img = np.asarray(img)
    if img.dtype not in INTEGER_MAX:
        raise ValueError(f"write_image({path}): expected uint8 or uint16 pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"write_image({path}): expected [H, W, 3] RGB, [H, W, 4] RGBA or "
                         f"[H, W] gray, got shape {img.shape}")
    ext = path.suffix.lower()
    if img.ndim == 3 and img.shape[2] == 4 and ext != ".png":
        raise ValueError(f"write_image({path}): RGBA needs a .png name")
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"write_image({path}): unknown extension {path.suffix!r} "
                         f"(use one of {', '.join(IMAGE_EXTENSIONS)})")
    if img.dtype == np.uint16 and ext not in _16BIT_EXTENSIONS:
        raise ValueError(f"write_image({path}): {ext} cannot store 16-bit pixels "
                         f"(use .png or .tif)")
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3][:img.shape[2]]]  # RGB(A) -> BGR(A)
    ok, encoded = cv2.imencode(ext, np.ascontiguousarray(img))
    if not ok:
        raise ValueError(f"write_image({path}): OpenCV could not encode a {img.dtype} "
                         f"{img.shape} image as {ext}")
    atomic_write_bytes(encoded, path)


_HEADER_LOCK = threading.Lock()  # image_size lifts Pillow's size limit for one header read


def image_size(path):
    """(height, width) of an image file, from its header (Pillow); nothing is decoded.

    Scanning a training set this way takes milliseconds instead of decoding every image, and
    a server checks an upload's size this way before decoding it. A file whose header
    Pillow cannot read is refused with read_image's reason (another format, a truncated or
    corrupt PNG), or as one whose size cannot be read: decoding it to learn its size would
    allocate whatever it declares.

    Raises:
        ImageReadError: the file is missing or its size cannot be read from its header.
    """
    from PIL import Image, UnidentifiedImageError  # only here: the rest of io needs no Pillow

    try:
        with _HEADER_LOCK:
            # Pillow's guard against decompression bombs refuses sizes past ~179 Mpixels at
            # open: here nothing is decoded, and the caller wants exactly that size (a page
            # refuses a 5 MB PNG declaring 30000x30000 by it, before decoding 2.7 GB)
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(path) as im:
                    width, height = im.size
            finally:
                Image.MAX_IMAGE_PIXELS = limit
    except FileNotFoundError:
        raise ImageReadError(f"cannot read image {path}: no such file") from None
    except (UnidentifiedImageError, OSError):
        kind = _check_encoded(_read_bytes(os.fspath(path)), path)
        raise ImageReadError(f"cannot read image {path}: corrupt {kind} file (its size cannot "
                             f"be read from its header)") from None
    return height, width


def _describe_folder(folder, limit=5):
    """'a.txt, b/, ... (12 entries)' or 'nothing' for an existing folder."""
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in Path(folder).iterdir())
    if not entries:
        return "nothing"
    more = f", ... ({len(entries)} entries)" if len(entries) > limit else ""
    return ", ".join(entries[:limit]) + more


def list_images(folder):
    """Image files of a folder (not recursive), sorted by file name.

    Args:
        folder: str or Path.

    Returns:
        list of Path, files whose extension is in IMAGE_EXTENSIONS (any case). Hidden files
        are left out: macOS leaves '._name.png' resource forks beside copied images, and
        those are not images.

    Raises:
        FileNotFoundError: the folder does not exist (the message lists its parent's content).
        NotADirectoryError: the path is a file.
        ValueError: the folder holds no image; the message says what it holds instead.
    """
    folder = Path(folder)
    if not folder.exists():
        parent = folder.parent
        seen = (f"{parent} has: {_describe_folder(parent)}" if parent.is_dir()
                else f"{parent} does not exist either")
        raise FileNotFoundError(f"image folder not found: {folder} ({seen})")
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got a file: {folder}")
    files = sorted((p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                    and not p.name.startswith(".")), key=lambda p: p.name)
    if not files:
        raise InputError(f"no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
                         f"it holds: {_describe_folder(folder)}")
    return files


_CHANNEL_INDEX = {"R": 0, "G": 1, "B": 2}
CHANNEL_CHOICES = "None (RGB), R, G, B, 0, 1, 2, Y (BT.601 luma, 16..235), gray (0..255 luma)"


def check_channel(channel, key="datasets.*.channel"):
    """Validate a channel setting and return its canonical form.

    Args:
        channel: None, 'R'/'G'/'B'/'Y'/'gray' (any case), or int 0..2.
        key: config key named in the error message.

    Returns:
        None, an int 0..2, 'Y' or 'gray'.
    """
    if channel is None:
        return None
    if isinstance(channel, int) and not isinstance(channel, bool) and 0 <= channel <= 2:
        return channel
    if isinstance(channel, str):
        name = channel.strip()
        if name.upper() in _CHANNEL_INDEX:
            return _CHANNEL_INDEX[name.upper()]
        if name.upper() == "Y":
            return "Y"
        if name.lower() == "gray":
            return "gray"
    raise InputError(f"'{key}' must be one of {CHANNEL_CHOICES}; got {channel!r}")


def select_channel(img, channel, key="datasets.*.channel"):
    """Reduce an RGB image to one channel (or leave it alone).

    Args:
        img: [H, W, 3] RGB, uint8 or uint16.
        channel: see check_channel. None returns ``img`` unchanged. 'Y' is MATLAB's
            rgb2ycbcr luma (colour.rgb_to_y: 16..235 for uint8, the same scaled by 257 for
            uint16); 'gray' is the same luma on the gray scale (colour.rgb_to_gray: 0.299 R +
            0.587 G + 0.114 B, full range).
        key: config key named in the error for a bad ``channel``.

    Returns:
        [H, W, 1] of the input dtype (Y and gray rounded half up), or ``img`` for None.
    """
    channel = check_channel(channel, key)
    if channel is None:
        return img
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"select_channel needs an [H, W, 3] RGB image, got shape {img.shape}")
    if isinstance(channel, int):
        return np.ascontiguousarray(img[:, :, channel:channel + 1])
    max_value = INTEGER_MAX.get(img.dtype)
    if max_value is None:
        raise ValueError(f"select_channel needs uint8 or uint16 pixels, got {img.dtype}")
    # rgb_to_y works on the 0..255 scale; 65535 / 255 = 257 maps uint16 onto it exactly.
    unit = max_value / 255.0
    luma = rgb_to_gray(img) if channel == "gray" else rgb_to_y(img / unit) * unit
    return np.clip(np.floor(luma + 0.5), 0, max_value).astype(img.dtype)[:, :, None]
