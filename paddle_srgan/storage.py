"""Files on disk, the low level every other module builds on: atomic writes, the one loader of
Paddle weights and checkpoints, restricted unpickling, content hashes.

A crash or `kill -9` during `atomic_save` leaves either the previous file or the new one,
never a truncated one: the data goes to a temporary file in the same folder (same file
system, so the rename is atomic), is flushed to disk, then renamed over the target.

Loading never runs code from a file. A pickle is a program: its GLOBAL opcodes name any
importable callable (os.system, builtins.exec, ...) and REDUCE calls it, which is how
`paddle.load` and `torch.load` run a planted payload. `RestrictedUnpickler` resolves a global
only through an explicit allow-list and refuses any other one before it is even imported, so
nothing the file asks for runs. `load_file` reads every `.pdparams` (checkpoints, generator
weights, VGG and LPIPS weights, converted weights) that way and then returns exactly what
`paddle.load` would; published_weights/torch_files.py reads PyTorch files with the same unpickler.

Loading is also bounded. A pickle is a graph, not a tree: a 400-byte file can nest lists 40
levels deep, each holding its child twice, and every walk that follows it as a tree (Paddle's
post-load conversion, our tensor materialisation) visits 2^40 items. `RestrictedUnpickler`
walks what it built the same way, counting each item every time it is reached, and refuses
beyond `MAX_DEPTH` levels or `MAX_NODES` items before anything else sees the object; sizes a
file declares (Paddle's split big parameters here, torch storages in torch_files) are checked
against the data the file really holds before anything is allocated.
"""
import _compat_pickle
import collections
import hashlib
import json
import math
import os
import pickle

import numpy as np

from .compat import import_paddle
from .errors import InputError, UserError


class UnreadableFileError(InputError):
    """A weights / checkpoint file is missing or cannot be read; names the file."""


class RefusedFileError(InputError):
    """A weights / checkpoint file asks to run code (a global outside the allow-list): refused
    before anything in it ran. The message names the file and the global."""


# Bounds of what a weights or checkpoint file may hold, far above any real one: a tiny run's
# GAN checkpoint (G, D, EMA, Adam states, RNG states, config) is 6 levels deep and ~2,000
# items, which grow by about 10 per parameter tensor (a 16-block SRGAN: ~5,000).
MAX_DEPTH = 64
MAX_NODES = 1_000_000
_CONTAINERS = (dict, list, tuple, set, frozenset)  # all a pickle builds without a global


def check_bounds(obj):
    """A description of how `obj` exceeds MAX_DEPTH / MAX_NODES, or None. Items are counted
    as a walk of the tree would reach them (a shared child once per reference), level by
    level, so the work is bounded by MAX_NODES whatever the file's graph."""
    level, nodes = [obj], 1
    for _ in range(MAX_DEPTH + 1):
        below = []
        for item in level:
            if isinstance(item, _CONTAINERS):
                below.extend(item.values() if isinstance(item, dict) else item)
                if nodes + len(below) > MAX_NODES:
                    return (f"it holds more than {MAX_NODES:,} items (counting a shared item "
                            f"each time it is reached)")
        if not below:
            return None
        nodes += len(below)
        level = below
    return f"it nests containers more than {MAX_DEPTH} levels deep"


class _Refusal(Exception):
    """Raised inside unpickling; `RestrictedUnpickler.load` turns it into the caller's error."""

    def __init__(self, request):
        super().__init__(request)
        self.request = request


class _Excess(Exception):
    """Raised inside unpickling when a tuple exceeds the bounds; `load` reports it."""


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that builds plain data (dicts, lists, tuples, numbers, strings, bytes,
    None, bools) and only the globals of `allowed`; any other global is refused before it is
    imported, so a file cannot run code. What it builds stays within `check_bounds`.

    It is the pure-Python unpickler because tuples must be measured as they are built:
    hashing a tuple (a dict key, a set item) walks it as a tree, so a 200-byte file using
    shared nested tuples as a key would hang inside the C unpickler, deaf to signals. Each
    tuple's tree size and depth are known from its items', and beyond the bounds it is
    refused before anything hashes it; lists and dicts cannot be hashed, so only the final
    walk (check_bounds) needs to see them.

    Args:
        file: binary file object positioned at a pickle.
        source: the file's name, for messages.
        allowed: {(module, name): object} - what a global of the file becomes: the real class
            or function, or a stand-in that checks its arguments (see `paddle_globals`).
        error: the exception class raised on refusal.
        holds: what a file of this kind holds, for the refusal message.
        persistent_load: callable(pid) for PERSID opcodes (torch storages); None refuses them.
        encoding: how Python 2 `str` objects are decoded ('latin1' as paddle.load does).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, source, allowed, error, holds, persistent_load=None,
                 encoding="ASCII"):
        super().__init__(file, encoding=encoding)
        self.source, self.allowed, self.error, self.holds = source, allowed, error, holds
        self._persistent_load = persistent_load
        self._tuples = {}  # id -> (tuple, tree size, depth); holding it keeps the id unique

    def _tuple(self, items=()):
        """tuple(items), measured: its size and depth as a tree, refused beyond the bounds."""
        items = tuple(items)
        size, depth = 1 + len(items), 1
        for item in items:
            if type(item) is tuple and item:
                _, item_size, item_depth = self._tuples.get(id(item), (None, len(item), 1))
                size, depth = size + item_size - 1, max(depth, item_depth + 1)
        if size > MAX_NODES:
            raise _Excess(f"it holds more than {MAX_NODES:,} items (counting a shared item "
                          f"each time it is reached)")
        if depth > MAX_DEPTH:
            raise _Excess(f"it nests containers more than {MAX_DEPTH} levels deep")
        self._tuples[id(items)] = (items, size, depth)
        return items

    def _load_tuple_n(n):
        def load(self):
            items = self.pop_mark() if n is None else self.stack[-n:]
            if n:
                del self.stack[-n:]
            self.append(self._tuple(items))
        return load

    dispatch[pickle.TUPLE[0]] = _load_tuple_n(None)
    dispatch[pickle.TUPLE1[0]] = _load_tuple_n(1)
    dispatch[pickle.TUPLE2[0]] = _load_tuple_n(2)
    dispatch[pickle.TUPLE3[0]] = _load_tuple_n(3)
    del _load_tuple_n

    def find_class(self, module, name):
        # Protocol 2 writes Python 2 names ('__builtin__', 'copy_reg'); the default find_class
        # maps them to Python 3's before importing, so the allow-list sees those too.
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if (module, name) not in self.allowed:
            raise _Refusal(f"{module}.{name}")
        found = self.allowed[(module, name)]
        return self._tuple if found is tuple else found  # tuple(iterable) is measured too

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise pickle.UnpicklingError("a persistent id, which this format never holds")
        return self._persistent_load(pid)

    def load(self):
        """The object of the pickle, within `check_bounds` (else `error`, one line)."""
        try:
            obj = super().load()
            excess = check_bounds(obj)
        except _Refusal as refusal:
            raise self.error(f"{self.source}: refused to load: it asks to run "
                             f"{refusal.request}, but {self.holds}; nothing in the file "
                             f"was run") from None
        except _Excess as exc:
            excess = str(exc)
        finally:
            self._tuples.clear()
        if excess:
            raise self.error(f"{self.source}: refused to load: {excess}; no weights or "
                             f"checkpoint file comes near that")
        return obj


def _dense_tensor(*args):
    """Stands in for builtins.eval: paddle.save writes a DenseTensor (LoDTensor in 2.6) as
    `eval('data', {'data': array})`; that exact call gives the array, anything else is
    refused (the real eval never runs)."""
    if (len(args) == 2 and args[0] == "data" and type(args[1]) is dict
            and list(args[1]) == ["data"] and isinstance(args[1]["data"], np.ndarray)):
        return args[1]["data"]
    raise _Refusal(f"builtins.eval({str(args[0])[:60] if args else ''!r})")


def _latin1_bytes(*args):
    """Stands in for _codecs.encode: protocol 2 writes bytes (an array's raw data) as
    `_codecs.encode(text, 'latin1')`; no other codec is run."""
    if len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1"):
        return args[0].encode("latin1")
    raise _Refusal(f"_codecs.encode(..., {str(args[-1])[:20] if args else ''!r})")


def _empty_bytes(*args):
    """Stands in for builtins.bytes: protocol 2 writes b'' (a zero-size array's data) as
    `bytes()`."""
    if args:
        raise _Refusal(f"builtins.bytes({str(args[0])[:20]!r}, ...)")
    return b""


PADDLE_HOLDS = "a Paddle weights or checkpoint file holds only arrays, numbers and strings"


def paddle_globals():
    """{(module, name): object} of the globals `paddle.save` files may name; all else is
    refused. The list is what Paddle 2.6.2 and 3.3.1 write alike (every global of real
    checkpoints, state dicts, optimizer states and tensors saved with protocols 2 and 4);
    built on first use (it needs Paddle's GeneratorState class)."""
    paddle = import_paddle()
    allowed = {
        # Layer.state_dict() is an OrderedDict
        ("collections", "OrderedDict"): collections.OrderedDict,
        # a Tensor inside a nested object (a checkpoint, an optimizer state): paddle.save's
        # reduce_varbase writes `tuple((name, array))`
        ("builtins", "tuple"): tuple,
        # a DenseTensor: `eval('data', {'data': array})`, answered by a stand-in
        ("builtins", "eval"): _dense_tensor,
        # protocol 2 only: bytes are `_codecs.encode(text, 'latin1')`, b'' is `bytes()`;
        # complex numbers are `complex(re, im)` in both protocols
        ("_codecs", "encode"): _latin1_bytes,
        ("builtins", "bytes"): _empty_bytes,
        ("builtins", "complex"): complex,
        # numpy arrays and scalars (np.random.get_state() holds an array)
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    # numpy 1.x writes numpy.core.multiarray.*, numpy 2.x numpy._core.multiarray.*: either
    # spelling gets the installed numpy's functions, so a checkpoint moves between the
    # Paddle 2.6 (numpy<2) and 3.x (numpy 2) environments.
    reconstruct, scalar = np.zeros(0).__reduce__()[0], np.float64(0).__reduce__()[0]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    # paddle.get_rng_state() (a checkpoint's rng.paddle): a list of GeneratorState, pickled
    # as the class (NEWOBJ) plus its __setstate__ tuple (device, seed, offset, engine state).
    # Both 2.6.2 and 3.3.1 name it paddle.base.libpaddle.GeneratorState; the installed
    # class's own name is used, so a release that moves it keeps loading its own files.
    state_class = type(paddle.get_rng_state()[0])
    allowed[(state_class.__module__, state_class.__qualname__)] = state_class
    return allowed


def read_paddle_pickle(path):
    """The object a `paddle.save` file holds as `pickle.load` builds it (tensors still numpy
    arrays or (name, array) tuples), through `RestrictedUnpickler`.

    Raises:
        RefusedFileError: the file names a global outside `paddle_globals()`.
    """
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, path, paddle_globals(), RefusedFileError, PADDLE_HOLDS,
                                   encoding="latin1").load()


NAME_TABLE = "StructuredToParameterName@@"  # paddle.save's {key: parameter name} of a state dict
# paddle.save with protocol 2 splits an array of over 1 GiB into flat slices and lists them
# here: {key: {"OriginShape": shape, "slices": [slice keys in order]}}
SPLIT_TABLE = "UnpackBigParamInfor@@"


def split_table_problem(obj):
    """What is wrong with the SPLIT_TABLE of the unpickled dict `obj`, or None. Paddle's
    join (`_pack_loaded_dict`) concatenates whatever the table lists, so a forged table that
    lists one slice 3,000 times allocates 3,000 copies; a table passing here joins each
    slice once, into exactly the bytes the file holds."""
    table = obj.get(SPLIT_TABLE)
    if table is None:
        return None
    if not isinstance(table, dict):
        return f"{SPLIT_TABLE} is a {type(table).__name__}, expected a dict"
    used = set()
    for key, info in table.items():
        if not isinstance(info, dict) or set(info) != {"OriginShape", "slices"}:
            return f"{SPLIT_TABLE}[{key!r}] is not {{OriginShape, slices}}"
        shape, slices = info["OriginShape"], info["slices"]
        if (not isinstance(shape, (tuple, list))
                or not all(type(n) is int and n >= 0 for n in shape)):
            return f"{SPLIT_TABLE}[{key!r}] OriginShape {shape!r:.60} is not a shape"
        if not isinstance(slices, list) or not slices:
            return f"{SPLIT_TABLE}[{key!r}] lists no slices"
        total, dtypes = 0, set()
        for part in slices:
            if not isinstance(part, str) or part in used or part == key:
                return f"{SPLIT_TABLE}[{key!r}] lists slice {part!r:.60} twice or badly"
            used.add(part)
            array = obj.get(part)
            if not isinstance(array, np.ndarray) or array.ndim != 1:
                return f"{SPLIT_TABLE}[{key!r}] lists {part!r:.60}, which is no flat array"
            total += array.size
            dtypes.add(array.dtype)
        expected = 1
        for n in shape:
            expected *= n
        if total != expected or len(dtypes) != 1:
            return (f"{SPLIT_TABLE}[{key!r}] joins {total} elements into shape "
                    f"{list(shape)} ({expected})")
    return None


def _as_paddle_load_returns(obj, path):
    """What `paddle.load` returns for an unpickled `obj` read from `path`: the
    post-processing of its pickle branch (paddle/framework/io.py `load`, the same in 2.6.2
    and 3.3.1), done by Paddle's own helpers so callers get exactly what they got from
    paddle.load:
    * a state dict of `paddle.save` (`_legacy_save`: arrays plus a name table): big
      parameters split for protocol 2 are joined (after `split_table_problem`), arrays
      become Tensors with their names;
    * anything else: (name, array) tuples become Tensors (or, with none, every array).
    """
    from paddle.framework import io as paddle_io
    if isinstance(obj, dict):
        problem = split_table_problem(obj)
        if problem:
            raise RefusedFileError(f"{path}: refused to load: {problem}; paddle.save writes "
                                   f"each slice of a split parameter once")
        obj = paddle_io._pack_loaded_dict(obj)
        if NAME_TABLE in obj:
            for key, name in obj.pop(NAME_TABLE).items():
                if isinstance(obj.get(key), np.ndarray):
                    obj[key] = paddle_io._ndarray_to_tensor(obj[key], return_numpy=False)
                    obj[key].name = name
            return obj
    return paddle_io._parse_load_result(obj, return_numpy=False)


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
    (log.txt, scalars.jsonl, .trainer.lock)."""
    try:
        return os.open(path, flags | os.O_CREAT | _NOFOLLOW, mode)
    except OSError:
        refuse_link(path)  # ELOOP on Linux, EMLINK on BSDs: say why in one line
        raise


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


def load_file(path, what="weights", error=UnreadableFileError):
    """What `paddle.load(path)` returns for a `paddle.save` file (a checkpoint, a state dict),
    read without running code from it: the one way the package loads a `.pdparams`.

    Raises:
        RefusedFileError: the file asks to run code (one line naming the file and the global).
        error: the file is missing or unreadable (truncated or foreign files fail in many
            ways); the message names the file and `what` it should have been.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise error(f"{what} file not found: {path}")
    try:
        return _as_paddle_load_returns(read_paddle_pickle(path), path)
    except RefusedFileError:
        raise
    except Exception as exc:
        raise error(f"{path}: unreadable {what} ({type(exc).__name__}: {exc})") from None


STATE_DICT = "a state dict {parameter name: tensor}"


def state_dict_problem(obj):
    """What makes `obj` (as load_file returned it) no state dict of str -> tensor / array,
    as a phrase ('holds a list, expected ...'), or None."""
    paddle = import_paddle()
    if not isinstance(obj, dict):
        return f"holds a {type(obj).__name__}, expected {STATE_DICT}"
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, (np.ndarray, paddle.Tensor)):
            return (f"holds {key!r:.60} -> {type(value).__name__} among its entries, expected "
                    f"{STATE_DICT}")
    return None


def load_state_dict(path, what="weights", error=UnreadableFileError):
    """load_file of a file that must hold a state dict ({name: Tensor}), else `error` naming
    the file and what it holds instead."""
    state = load_file(path, what, error)
    problem = state_dict_problem(state)
    if problem:
        raise error(f"{path}: {problem}")
    return state


def file_md5(path):
    """Hex md5 of a (weights) file, recorded next to results and exports for provenance."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
