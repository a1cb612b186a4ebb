"""The restricted, bounded unpickler: a pickle read without running code from it, within
bounds. safe_load.py reads every `.pdparams` with it, published_weights/torch_files.py every
PyTorch file.

Loading never runs code from a file. A pickle is a program: its GLOBAL opcodes name any
importable callable (os.system, builtins.exec, ...) and REDUCE calls it, which is how
`paddle.load` and `torch.load` run a planted payload. `RestrictedUnpickler` resolves a global
only through an explicit allow-list and refuses any other one before it is even imported, so
nothing the file asks for runs; a stand-in on the list raises `Refusal` for a call it does not
recognise.

Loading is also bounded. A pickle is a graph, not a tree: a 400-byte file can nest lists 40
levels deep, each holding its child twice, and every walk that follows it as a tree (Paddle's
post-load conversion, our tensor materialisation) visits 2^40 items. `RestrictedUnpickler`
walks what it built the same way, counting each item every time it is reached, and refuses
beyond `MAX_DEPTH` levels or `MAX_NODES` items before anything else sees the object.
"""
import _compat_pickle
import collections
import pickle

import numpy as np

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


class Refusal(Exception):
    """Raised inside unpickling (by find_class, or by a stand-in global for a call it does not
    recognise); `RestrictedUnpickler.load` turns it into the caller's error naming `request`."""

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
            raise Refusal(f"{module}.{name}")
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
        except Refusal as refusal:
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
