"""torch.save and safetensors files written without torch, for the importer's tests.

torch/serialization.py formats: see paddle_srgan/published_weights/torch_files.py. The writer
below emits the same pickles torch.save does (GLOBAL torch._utils._rebuild_tensor_v2, storages
as persistent ids) so the reader is tested on files no code of the package made.
"""
import collections
import io
import json
import pickle
import struct
import zipfile

import numpy as np


class TorchGlobal:
    """Pickles as the global `module.name` without importing it (torch is not installed)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __reduce__(self):
        return self.name  # -> TorchPickler.save_global

    def __call__(self, *args):
        raise AssertionError("only pickled, never called")


class TorchStorage:
    STORAGE_TYPES = {"float32": "FloatStorage", "float16": "HalfStorage", "int64": "LongStorage"}

    def __init__(self, key, flat):
        self.key, self.flat = key, np.ascontiguousarray(flat).ravel()


class TorchTensor:
    """A view (offset, shape, stride in elements) of a TorchStorage, pickled as torch does."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        return (TorchGlobal("torch._utils", "_rebuild_tensor_v2"),
                (self.storage, self.offset, tuple(self.shape), tuple(self.stride), False,
                 collections.OrderedDict()))


class TorchPickler(pickle._Pickler):  # the pure-Python pickler lets save_global be overridden
    def __init__(self, file, legacy, location):
        super().__init__(file, protocol=2)
        self.legacy, self.location, self.storages = legacy, location, {}

    def save_global(self, obj, name=None):
        if not isinstance(obj, TorchGlobal):
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def persistent_id(self, obj):
        if not isinstance(obj, TorchStorage):
            return None
        self.storages[obj.key] = obj
        kind = TorchGlobal("torch", TorchStorage.STORAGE_TYPES[obj.flat.dtype.name])
        pid = ("storage", kind, obj.key, self.location, obj.flat.size)
        return pid + (None,) if self.legacy else pid  # legacy: + view_metadata


def as_torch(obj):
    """Nested dicts of arrays -> the same with TorchTensors, one storage each."""
    if isinstance(obj, dict):
        return collections.OrderedDict((k, as_torch(v)) for k, v in obj.items())
    if isinstance(obj, np.ndarray):
        storage = TorchStorage(str(id(obj)), obj)
        stride = [int(np.prod(obj.shape[i + 1:])) for i in range(obj.ndim)]  # C order
        return TorchTensor(storage, 0, obj.shape, stride)
    return obj


def write_torch(path, obj, legacy=False, location="cpu", deflate=False):
    """torch.save(obj, path) (zip format) or with _use_new_zipfile_serialization=False;
    `deflate`: the zip's entries compressed (torch.save stores them)."""
    body = io.BytesIO()
    pickler = TorchPickler(body, legacy, location)
    pickler.dump(as_torch(obj))
    keys = sorted(pickler.storages)
    if legacy:
        with open(path, "wb") as f:
            for head in (0x1950A86A20F9469CFC6C, 1001,
                         {"protocol_version": 1001, "little_endian": True,
                          "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(head, f, protocol=2)
            f.write(body.getvalue())
            pickle.dump(keys, f, protocol=2)
            for key in keys:
                flat = pickler.storages[key].flat
                f.write(struct.pack("<q", flat.size) + flat.tobytes())  # little-endian host
    else:
        method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        with zipfile.ZipFile(path, "w", method) as z:
            z.writestr("archive/data.pkl", body.getvalue())
            z.writestr("archive/byteorder", "little")
            for key in keys:
                z.writestr(f"archive/data/{key}", pickler.storages[key].flat.tobytes())
            z.writestr("archive/version", "3\n")


def write_safetensors(path, state):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    names = {"float32": "F32", "float16": "F16", "int64": "I64"}
    for name, value in state.items():
        raw = np.ascontiguousarray(value).tobytes()
        header[name] = {"dtype": names[value.dtype.name], "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
