"""The one loader of weights and checkpoint files: restricted unpickling, bounded.

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
import os
import pickle

import numpy as np

from .compat import import_paddle
from .errors import InputError, first_line


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
# Dict keys and set items other than strings and bytes (whose hashes are salted per process)
# can be chosen to share one hash: n of them cost n^2 comparisons (40,000 int keys i*(2^61-1)
# in a 519 KB file: 44 s). Real files hold none; this many cost milliseconds.
MAX_PLAIN_KEYS = 1_000
# PUT's memo index is a decimal of any size (colliding hashes too); pickles index at most this
MAX_MEMO_INDEX = 1 << 32
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
    """Raised inside unpickling when the object exceeds the bounds; `load` reports it."""


class _Unfit(Exception):
    """Raised inside unpickling for an object no weights file holds; its text says what."""


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that builds plain data (dicts, lists, tuples, numbers, strings, bytes,
    None, bools) and only the globals of `allowed`; any other global is refused before it is
    imported, so a file cannot run code. What it builds stays within `check_bounds`.

    It is the pure-Python unpickler because what it builds must be checked as it is built:
    * tuples are measured: hashing a tuple (a dict key, a set item) walks it as a tree, so a
      200-byte file using shared nested tuples as a key would hang inside the C unpickler,
      deaf to signals. Each tuple's tree size and depth are known from its items', and
      beyond the bounds it is refused before anything hashes it; lists and dicts cannot be
      hashed, so only the final walk (check_bounds) needs to see them;
    * keys are counted: at most MAX_PLAIN_KEYS dict keys / set items that are not strings,
      so keys sharing one hash cannot make the dicts quadratic, and memo indices stay below
      MAX_MEMO_INDEX;
    * arrays (BUILD of an ndarray) may not hold Python objects: numpy trusts an object
      array's state to match its shape (a short list crashes the interpreter) and such an
      array holds no weights.

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
        self._plain_keys = 0  # dict keys / set items so far that are not str or bytes

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

    def _keys(self, keys):
        """Count `keys` (about to be hashed into a dict or set) against MAX_PLAIN_KEYS."""
        self._plain_keys += sum(type(key) not in (str, bytes) for key in keys)
        if self._plain_keys > MAX_PLAIN_KEYS:
            raise _Excess(f"it holds more than {MAX_PLAIN_KEYS:,} dict keys or set items "
                          f"that are not strings")

    def _hashing(opcode, keys_of):
        base = pickle._Unpickler.dispatch[opcode[0]]

        def load(self):
            self._keys(keys_of(self.stack))  # the stack since MARK, or its last items
            base(self)
        return load

    dispatch[pickle.SETITEM[0]] = _hashing(pickle.SETITEM, lambda stack: stack[-2:-1])
    dispatch[pickle.SETITEMS[0]] = _hashing(pickle.SETITEMS, lambda stack: stack[::2])
    dispatch[pickle.DICT[0]] = _hashing(pickle.DICT, lambda stack: stack[::2])
    dispatch[pickle.ADDITEMS[0]] = _hashing(pickle.ADDITEMS, lambda stack: stack)
    dispatch[pickle.FROZENSET[0]] = _hashing(pickle.FROZENSET, lambda stack: stack)
    del _hashing

    def _ordered_dict(self, *args):
        """collections.OrderedDict(pairs or a dict), its keys counted as the opcodes' are."""
        if args:
            self._keys(args[0] if isinstance(args[0], dict) else [pair[0] for pair in args[0]])
        return collections.OrderedDict(*args)

    def load_put(self):
        index = int(self.readline()[:-1])
        if not 0 <= index < MAX_MEMO_INDEX:
            raise ValueError(f"PUT index {str(index)[:40]} outside [0, 2^32)")
        self.memo[index] = self.stack[-1]

    dispatch[pickle.PUT[0]] = load_put

    def load_build(self):
        state, inst = self.stack[-1], self.stack[-2]
        if (type(inst) is np.ndarray and isinstance(state, tuple) and len(state) > 2
                and isinstance(state[2], np.dtype) and state[2].hasobject):
            raise _Unfit(f"it holds an array of dtype {state[2]}, which holds Python objects, "
                         f"not numbers")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module, name):
        # Protocol 2 writes Python 2 names ('__builtin__', 'copy_reg'); the default find_class
        # maps them to Python 3's before importing, so the allow-list sees those too.
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if (module, name) not in self.allowed:
            raise _Refusal(f"{module}.{name}")
        found = self.allowed[(module, name)]
        # tuple(iterable) is measured and OrderedDict(pairs) counted as the opcodes are
        return {tuple: self._tuple, collections.OrderedDict: self._ordered_dict}.get(found, found)

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
        except _Unfit as exc:
            raise self.error(f"{self.source}: refused to load: {exc}; {self.holds}") from None
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


def _empty_array(cls, shape, dtype, _reconstruct=np.zeros(0).__reduce__()[0]):
    """Stands in for numpy's _reconstruct: ndarray.__reduce__ writes exactly
    `_reconstruct(numpy.ndarray, (0,), b'b')` and the array's shape and data come from its
    BUILD state, bytes the file holds. Any other call is refused: the real one allocates the
    shape it is given (115 bytes asked for 1.5 GB)."""
    if cls is np.ndarray and type(shape) is tuple and shape == (0,) and dtype in (b"b", "b"):
        return _reconstruct(cls, shape, dtype)
    raise _Refusal(f"numpy _reconstruct of shape {shape!r:.40} (an array is built from "
                   f"its data, not allocated)")


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
    # numpy.dtype and scalar allocate no more than the bytes they are given.
    scalar = np.float64(0).__reduce__()[0]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _empty_array
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


NUMERIC_KINDS = "biufc"  # numpy dtype kinds of what Paddle tensors hold (bfloat16 is uint16)


def non_numeric_array(obj, where=""):
    """Where in `obj` (nested dicts / lists / tuples, within check_bounds) an array holds
    something other than numbers (strings, records, objects), as "['key'][0] (dtype ...)",
    or None. Paddle cannot make a tensor of it."""
    if isinstance(obj, np.ndarray):
        return None if obj.dtype.kind in NUMERIC_KINDS else f"{where or 'it'} (dtype {obj.dtype})"
    if isinstance(obj, (dict, list, tuple)):
        for key, value in obj.items() if isinstance(obj, dict) else enumerate(obj):
            found = non_numeric_array(value, f"{where}[{key!r:.60}]")
            if found:
                return found
    return None


def one_line(exc):
    """`exc` as '<Type>: <first line of its message>' (Paddle's errors run to many lines)."""
    return f"{type(exc).__name__}: {first_line(exc)[:200]}"


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
    where = non_numeric_array(obj)
    if where:
        raise RefusedFileError(f"{path}: refused to load: the array {where} holds no numbers; "
                               f"a Paddle weights or checkpoint file holds numeric arrays")
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
        raise error(f"{path}: unreadable {what} ({one_line(exc)})") from None


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
