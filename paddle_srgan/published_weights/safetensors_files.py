"""Read .safetensors files without the safetensors package: an 8-byte little-endian header
length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
{...}}, then the data. Every header entry is checked against the data before its array is
made.
"""
import json
import math
import struct

from ..safe_load import one_line
from .stored_arrays import BFLOAT16, TorchWeightsError, stored_dtype, to_array

SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": BFLOAT16, "I64": "<i8", "I32": "<i4",
    "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}


def read_safetensors(path):
    """{name: array} of a .safetensors file (parsed here: no safetensors package needed).
    Every header entry is checked before its array is made: a dtype of SAFETENSORS_DTYPES,
    a shape of non-negative ints, and data_offsets [begin, end] inside the data whose span
    is exactly shape x dtype size."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        (header_len,) = struct.unpack("<Q", data[:8])
        if header_len > len(data) - 8:
            raise ValueError(f"header length {header_len} exceeds the file's {len(data)} bytes")
        header = json.loads(data[8:8 + header_len])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (struct.error, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
        raise TorchWeightsError(f"{path}: not a safetensors file ({exc})") from None
    base, state = 8 + header_len, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        entry = _safetensors_entry(info, len(data) - base)
        if isinstance(entry, str):
            raise TorchWeightsError(f"{path}: header entry {name!r} {entry}")
        dtype, shape, begin, end = entry
        try:
            flat = to_array(data[base + begin:base + end], dtype, math.prod(shape), False,
                             f"{path}: {name}")
            state[name] = flat.reshape(shape).copy()
        except (ValueError, MemoryError) as exc:
            raise TorchWeightsError(f"{path}: header entry {name!r:.60} shape {shape} makes no "
                                    f"array ({one_line(exc)})") from None
    return state


MAX_DIMS = 32


def _safetensors_entry(info, data_size):
    """(dtype, shape, begin, end) of a safetensors header entry whose data lies within
    `data_size` bytes, or what is wrong with it (a phrase)."""
    expected = (f"expected {{dtype: one of {', '.join(SAFETENSORS_DTYPES)}, shape: [n >= 0, "
                f"...], data_offsets: [begin, end]}}")
    if (not isinstance(info, dict) or not isinstance(info.get("dtype"), str)
            or info["dtype"] not in SAFETENSORS_DTYPES
            or not isinstance(info.get("shape"), list)
            or not isinstance(info.get("data_offsets"), list)
            or len(info["data_offsets"]) != 2):
        return f"is {info!r:.100}; {expected}"
    shape, offsets = info["shape"], info["data_offsets"]
    if not all(type(n) is int and n >= 0 for n in shape + offsets):
        return f"has shape {shape!r:.60} / data_offsets {offsets!r:.60}; {expected}"
    dtype, (begin, end) = SAFETENSORS_DTYPES[info["dtype"]], offsets
    nbytes = math.prod(shape) * stored_dtype(dtype).itemsize
    if end - begin != nbytes or end > data_size:
        return (f"data_offsets [{begin}, {end}] do not fit shape {shape} "
                f"({nbytes} bytes) within the file's {data_size} data bytes")
    # numpy's bounds: 32 dimensions (numpy 1), a byte count that fits an int64 even when a
    # zero dimension makes the array empty
    if len(shape) > MAX_DIMS or math.prod(max(n, 1) for n in shape) * 8 >= 1 << 63:
        return (f"has shape {shape!r:.80}; an array has at most {MAX_DIMS} dimensions, whose "
                f"nonzero sizes multiply to under 2^60")
    return dtype, shape, begin, end
