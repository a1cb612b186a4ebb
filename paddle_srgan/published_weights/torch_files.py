"""Read PyTorch weight files without torch: `torch.save` files (zip and legacy) and safetensors.

`read_torch_weights(path)` -> {name: np.ndarray}, the state dict inside the file (nested
checkpoints unwrapped, see `STATE_KEYS`). Arrays keep their dtype, except bfloat16, which numpy
lacks: it is widened to float32 exactly.

Formats (as torch/serialization.py writes them):
* zip (torch >= 1.6): `<archive>/data.pkl` is the pickled object; each tensor refers to a
  storage through the persistent id ('storage', <torch.XStorage>, key, location, numel) whose
  raw little-endian bytes are the entry `<archive>/data/<key>` (`<archive>/byteorder` may say
  'big').
* legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles in a row:
  the magic number, the protocol version 1001, a sys_info dict, the object (persistent ids
  ('storage', <torch.XStorage>, root_key, location, numel, view_metadata)), the sorted list of
  storage keys; then, per key in that order, an int64 element count and the raw bytes (both
  little-endian on any machine).
* safetensors: read by safetensors_files.read_safetensors.

Pickles are read with unpickler.RestrictedUnpickler (the one the Paddle loader uses), allowing
only `TORCH_GLOBALS`: it builds nothing but dicts, lists, tuples, numbers, strings and tensors,
and any other global (a class, a function such as os.system) is refused before it is looked
up, so a malicious file cannot run code. Storage locations ('cuda:0', ...)
are ignored: everything is read to host memory.
"""
import collections
import math
import os
import struct
import zipfile

import numpy as np

from ..safe_load import one_line
from ..unpickler import RestrictedUnpickler
from .safetensors_files import read_safetensors
from .stored_arrays import BFLOAT16, TorchWeightsError, check_inflation, stored_dtype, to_array

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch.<Name>Storage -> numpy dtype of its elements (little-endian as written).
STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "BFloat16Storage": BFLOAT16, "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
# Checkpoint dicts that hold the state dict under a key, in order of preference: BasicSR
# ('params_ema' is the EMA generator its inference scripts prefer over 'params'), Lightning
# and torchvision-style ('state_dict'), training scripts ('model', 'model_state_dict'), GAN
# checkpoints ('generator').
STATE_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "generator")


class _Storage:
    """A typed storage: `numel` elements of `dtype`; `data` (flat array) once read. A legacy
    storage view is `numel` elements of `base` from element `offset` on."""

    __slots__ = ("dtype", "numel", "data", "base", "offset")

    def __init__(self, dtype, numel, base=None, offset=0):
        self.dtype, self.numel, self.data, self.base, self.offset = dtype, numel, None, base, offset

    def flat(self):
        if self.base is not None:
            return self.base.flat()[self.offset:self.offset + self.numel]
        return self.data


class _StorageType:
    """What `torch.FloatStorage` & co. unpickle to: just the element dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype


class _Tensor:
    """A tensor as pickled: a view (offset, size, stride, in elements) of a storage."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(storage, storage_offset, size, stride, *_grad_hooks_metadata):
    """Stands in for torch._utils._rebuild_tensor(_v2): requires_grad, hooks and metadata
    do not matter for weights."""
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_grad_hooks_state):
    """Stands in for torch._utils._rebuild_parameter(_with_state): a Parameter is its data."""
    return data


_REBUILDERS = {"_rebuild_tensor": _rebuild_tensor, "_rebuild_tensor_v2": _rebuild_tensor,
               "_rebuild_parameter": _rebuild_parameter,
               "_rebuild_parameter_with_state": _rebuild_parameter}


# The globals a torch.save pickle may name, and what each becomes: containers, the tensor and
# parameter rebuilders (stand-ins) and the storage types (their element dtype). Any other
# global is refused by unpickler.RestrictedUnpickler before it is imported.
TORCH_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch._utils", name): rebuild for name, rebuild in _REBUILDERS.items()},
    **{(module, name): _StorageType(dtype) for module in ("torch", "torch.cuda")
       for name, dtype in STORAGE_DTYPES.items()},
}
TORCH_HOLDS = ("a PyTorch weights file holds only tensors and containers (a pickled model? "
               "re-save its state_dict() with torch)")


def _unpickle(file, source, load_storage=None):
    def persistent_load(pid):
        if (load_storage is None or not isinstance(pid, tuple) or len(pid) < 5
                or pid[0] != "storage" or not isinstance(pid[1], _StorageType)):
            raise TorchWeightsError(f"{source}: unexpected persistent id {pid!r:.80} "
                                    f"(expected ('storage', <torch storage type>, key, ...))")
        return load_storage(pid)

    return RestrictedUnpickler(file, source, TORCH_GLOBALS, TorchWeightsError, TORCH_HOLDS,
                               persistent_load).load()


def _tensor_array(t, source):
    """The numpy array (own memory) a `_Tensor` describes; bounds checked, so a corrupt or
    hostile file cannot make it read outside its storage, nor expand it (stride 0) past the
    storage's size."""
    try:
        size = tuple(int(n) for n in t.size)
        stride = tuple(int(s) for s in t.stride)
        offset = int(t.offset)
        flat = t.storage.flat()
    except (TypeError, ValueError, AttributeError):
        raise TorchWeightsError(f"{source}: malformed tensor record") from None
    if flat is None:
        raise TorchWeightsError(f"{source}: a tensor's storage has no data in the file")
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise TorchWeightsError(f"{source}: malformed tensor (size {size}, stride {stride})")
    if 0 in size:
        return np.zeros(size, flat.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size or math.prod(size) > flat.size:
        raise TorchWeightsError(f"{source}: tensor of size {list(size)} (stride "
                                f"{list(stride)}) does not fit its {flat.size}-element storage")
    view = np.lib.stride_tricks.as_strided(flat[offset:], size,
                                           [s * flat.itemsize for s in stride], writeable=False)
    return np.array(view)


# Distinct tensors may view overlapping parts of a storage (a weight and its transpose): their
# elements may add up to more than the storages hold, but not to more than this many times.
MAX_VIEW_ELEMENTS = 2


def _materialise(obj, source, budget):
    """Replace every `_Tensor` in nested dicts / lists / tuples by its numpy array.

    A tensor referenced twice (or two tensors with the same view, as tied weights are
    saved) becomes one array, and the distinct tensors together may hold at most
    MAX_VIEW_ELEMENTS times the elements of the file's storages: a few hundred bytes of
    pickle cannot make thousands of copies of one storage.

    Args:
        budget: {"left": elements the tensors may hold, "arrays": {}} (filled here).
    """
    if isinstance(obj, _Tensor):
        view = (id(obj.storage), obj.offset, tuple(obj.size), tuple(obj.stride))
        if view not in budget["arrays"]:
            array = _tensor_array(obj, source)
            budget["left"] -= array.size
            if budget["left"] < 0:
                raise TorchWeightsError(f"{source}: refused to load: its tensors hold over "
                                        f"{MAX_VIEW_ELEMENTS}x the elements of its storages")
            budget["arrays"][view] = array
        return budget["arrays"][view]
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _materialise(value, source, budget)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, source, budget) for v in obj)
    if isinstance(obj, (_Storage, _StorageType)):
        raise TorchWeightsError(f"{source}: holds a bare storage; expected tensors")
    return obj


def _read_zip(path):
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise TorchWeightsError(f"{path}: a zip file, but not a torch.save archive "
                                    f"(no <archive>/data.pkl)")
        prefix = pkl[0][:-len("data.pkl")]
        names = set(zf.namelist())
        big = prefix + "byteorder" in names and zf.read(prefix + "byteorder").strip() == b"big"
        storages = {}  # key -> (_Storage, its zip entry)

        def load_storage(pid):
            _, stype, key, _location, numel = pid[:5]
            if key not in storages:
                entry = f"{prefix}data/{key}"
                if entry not in names:
                    raise TorchWeightsError(f"{path}: storage {key!r} missing ({entry})")
                storages[key] = (_Storage(stype.dtype, int(numel)), zf.getinfo(entry))
            return storages[key][0]

        with zf.open(pkl[0]) as f:
            obj = _unpickle(f, path, load_storage)
        check_inflation(path, [(s.numel * stored_dtype(s.dtype).itemsize, info)
                               for s, info in storages.values()])
        for storage, info in storages.values():
            with zf.open(info) as f:  # inflates no more than the storage's declared bytes
                raw = f.read(storage.numel * stored_dtype(storage.dtype).itemsize)
            storage.data = to_array(raw, storage.dtype, storage.numel, big,
                                     f"{path}: {info.filename}")
        return obj, [storage for storage, _ in storages.values()]


def _read_legacy(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if _unpickle(f, path) != MAGIC_NUMBER:
            raise TorchWeightsError(f"{path}: not a torch.save file (wrong magic number)")
        protocol = _unpickle(f, path)
        if protocol != LEGACY_PROTOCOL:
            raise TorchWeightsError(f"{path}: legacy torch.save protocol {protocol!r}, "
                                    f"expected {LEGACY_PROTOCOL}")
        _unpickle(f, path)  # sys_info: storages are little-endian whatever it says
        roots, views = {}, {}

        def load_storage(pid):
            _, stype, root_key, _location, numel = pid[:5]
            view = pid[5] if len(pid) > 5 else None
            if root_key not in roots:
                roots[root_key] = _Storage(stype.dtype, int(numel))
            if view is None:
                return roots[root_key]
            view_key, offset, view_numel = view
            if view_key not in views:  # pre-0.4 storage views share their root's bytes
                views[view_key] = _Storage(stype.dtype, int(view_numel), roots[root_key],
                                           int(offset))
            return views[view_key]

        obj = _unpickle(f, path, load_storage)
        keys = _unpickle(f, path)
        if not isinstance(keys, list) or set(keys) != set(roots):
            raise TorchWeightsError(f"{path}: storage key list does not match the tensors")
        for key in keys:
            storage = roots[key]
            head = f.read(8)
            numel = struct.unpack("<q", head)[0] if len(head) == 8 else -1
            nbytes = numel * stored_dtype(storage.dtype).itemsize
            if numel < 0 or nbytes > size - f.tell():
                raise TorchWeightsError(f"{path}: storage {key!r} is truncated")
            storage.data = to_array(f.read(nbytes), storage.dtype, numel, False,
                                     f"{path}: storage {key!r}")
    return obj, list(roots.values())


def read_torch_pickle(path):
    """Everything a `torch.save` file holds, tensors as numpy arrays (zip or legacy format)."""
    try:
        obj, storages = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
        held = sum(s.data.size for s in storages)
        return _materialise(obj, path, {"left": MAX_VIEW_ELEMENTS * held, "arrays": {}})
    except TorchWeightsError:
        raise
    except Exception as exc:  # a damaged pickle fails in many ways; all mean "unreadable"
        raise TorchWeightsError(f"{path}: not a readable torch.save file "
                                f"({one_line(exc)})") from None


def find_state_dict(obj, source):
    """The {name: array} state dict in a checkpoint object: `obj` itself, or the first of
    `STATE_KEYS` holding a dict, recursively. Non-tensor entries (counters, ...) are dropped."""
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            if isinstance(obj.get(key), dict):
                return find_state_dict(obj[key], source)
        arrays = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, np.ndarray)}
        if arrays:
            return arrays
        keys = ", ".join(map(repr, list(obj)[:8]))
        raise TorchWeightsError(f"{source}: no tensors found; top-level keys: {keys}; expected "
                                f"a state dict or one of {', '.join(STATE_KEYS)} holding one")
    raise TorchWeightsError(f"{source}: holds a {type(obj).__name__}, expected a state dict")


def read_torch_weights(path):
    """{name: np.ndarray} of the state dict in a .pth/.pt/.tar (torch.save) or .safetensors."""
    if not os.path.isfile(path):
        raise TorchWeightsError(f"weights file not found: {path}")
    if str(path).lower().endswith(".safetensors"):
        return read_safetensors(path)
    return find_state_dict(read_torch_pickle(path), path)
