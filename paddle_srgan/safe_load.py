"""The one loader of weights and checkpoint files: `load_file` reads every `.pdparams`
(checkpoints, generator weights, VGG and LPIPS weights, converted weights) with the
restricted, bounded unpickler (unpickler.py), so loading never runs code from the file, and
then returns exactly what `paddle.load` would. `paddle_globals` is the allow-list of what
`paddle.save` files name; sizes a file declares (Paddle's split big parameters) are checked
against the data the file really holds before anything is allocated.
"""
import collections
import os

import numpy as np

from .compat import import_paddle
from .errors import InputError, first_line
from .unpickler import Refusal, RestrictedUnpickler


class UnreadableFileError(InputError):
    """A weights / checkpoint file is missing or cannot be read; names the file."""


class RefusedFileError(InputError):
    """A weights / checkpoint file asks to run code (a global outside the allow-list): refused
    before anything in it ran. The message names the file and the global."""


def _dense_tensor(*args):
    """Stands in for builtins.eval: paddle.save writes a DenseTensor (LoDTensor in 2.6) as
    `eval('data', {'data': array})`; that exact call gives the array, anything else is
    refused (the real eval never runs)."""
    if (len(args) == 2 and args[0] == "data" and type(args[1]) is dict
            and list(args[1]) == ["data"] and isinstance(args[1]["data"], np.ndarray)):
        return args[1]["data"]
    raise Refusal(f"builtins.eval({str(args[0])[:60] if args else ''!r})")


def _latin1_bytes(*args):
    """Stands in for _codecs.encode: protocol 2 writes bytes (an array's raw data) as
    `_codecs.encode(text, 'latin1')`; no other codec is run."""
    if len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1"):
        return args[0].encode("latin1")
    raise Refusal(f"_codecs.encode(..., {str(args[-1])[:20] if args else ''!r})")


def _empty_bytes(*args):
    """Stands in for builtins.bytes: protocol 2 writes b'' (a zero-size array's data) as
    `bytes()`."""
    if args:
        raise Refusal(f"builtins.bytes({str(args[0])[:20]!r}, ...)")
    return b""


def _empty_array(cls, shape, dtype, _reconstruct=np.zeros(0).__reduce__()[0]):
    """Stands in for numpy's _reconstruct: ndarray.__reduce__ writes exactly
    `_reconstruct(numpy.ndarray, (0,), b'b')` and the array's shape and data come from its
    BUILD state, bytes the file holds. Any other call is refused: the real one allocates the
    shape it is given (115 bytes asked for 1.5 GB)."""
    if cls is np.ndarray and type(shape) is tuple and shape == (0,) and dtype in (b"b", "b"):
        return _reconstruct(cls, shape, dtype)
    raise Refusal(f"numpy _reconstruct of shape {shape!r:.40} (an array is built from "
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
