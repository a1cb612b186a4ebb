"""Bytes as weights files store them -> numpy arrays, and the bound on what a zip may
inflate to: shared by the torch.save readers (torch_files), the safetensors reader
(safetensors_files) and convert's .npz reader. Elements are little-endian unless a file says
otherwise; bfloat16, which numpy lacks, is widened to float32 exactly.
"""
import os

import numpy as np

from ..errors import InputError

BFLOAT16 = "bfloat16"  # stored as uint16 (the high half of a float32), widened on reading


class TorchWeightsError(InputError):
    """A weights file cannot be read, or holds something other than tensors and containers."""


def stored_dtype(dtype):
    """The numpy dtype of the bytes in the file (bfloat16: its uint16 bit patterns)."""
    return np.dtype("<u2" if dtype == BFLOAT16 else dtype)


def to_array(raw, dtype, numel, big_endian, what):
    """Raw storage bytes -> flat numpy array of `numel` elements (native byte order)."""
    stored = stored_dtype(dtype)
    if len(raw) < numel * stored.itemsize:
        raise TorchWeightsError(f"{what}: {len(raw)} bytes for {numel} elements of "
                                f"{stored.itemsize} bytes")
    flat = np.frombuffer(raw, stored.newbyteorder(">") if big_endian else stored, count=numel)
    if dtype == BFLOAT16:  # bfloat16 is the high half of a float32
        return (flat.astype(np.uint32) << 16).view(np.float32)
    return flat.astype(stored.newbyteorder("="), copy=False)


# torch.save stores a zip's entries uncompressed; a deflated copy of real weights (a torch
# zip, an .npz) shrinks by under 2x. Storages declaring more than this many times the file's
# size (and more than INFLATION_FLOOR, which a small file of zero tensors may reach) are
# refused unread: a 2 MB entry of deflated zeros inflates to 2 GiB.
MAX_INFLATION = 16
INFLATION_FLOOR = 32 << 20


def check_inflation(path, entries, what="storage", why="torch.save stores them uncompressed"):
    """TorchWeightsError unless every zip entry's declared bytes fit its uncompressed size
    and all of them together stay within MAX_INFLATION times the file's size or
    INFLATION_FLOOR (entries: [(declared bytes, zipfile.ZipInfo)]; `what` an entry holds
    and `why` real files stay within that, for the messages). Done before any entry is
    inflated."""
    total = 0
    for nbytes, info in entries:
        if nbytes < 0 or nbytes > info.file_size:
            raise TorchWeightsError(f"{path}: {what} {info.filename} declares {nbytes} bytes; "
                                    f"its zip entry holds {info.file_size}")
        total += nbytes
    size = os.path.getsize(path)
    if total > max(MAX_INFLATION * size, INFLATION_FLOOR):
        raise TorchWeightsError(f"{path}: refused to load: its {what}s declare {total:,} "
                                f"bytes, over {MAX_INFLATION}x the file's {size:,} bytes "
                                f"({why}); nothing was inflated")
