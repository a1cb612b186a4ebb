"""Import PyTorch-trained weights into our networks (key renaming, layout fixes, checks).

Sources (`read_state`): `torch.save` files (.pth/.pt/.tar/.ckpt/.bin, zip or legacy format) and
.safetensors, read without torch by `published_weights.torch_files`; .npz holding a PyTorch state
dict's tensors under their PyTorch names (`np.savez(f, **{k: v.numpy() for k, v in
sd.items()})`); our own .pdparams.

Layouts (`LAYOUTS`, pytorch_networks.py; detected from the keys by `detect_layout`): which
published PyTorch network the keys come from, how they map to our layer names, the class of
`models.MODELS` that network is and what its tensors tell of that class's options
(`model_options`). Each layout also has `reference`, its forward pass written from the
published definition on the PyTorch key names, run with torch or Paddle ops by `parity`
(tools/convert_weights.py --check).

Mapping rules (see tests/fixtures/srresnet_sgrvinod.md and tests/fixtures/esrgan/ for the
PyTorch side):
* conv weights are OIHW in both frameworks: copied as is;
* BN running_mean / running_var -> _mean / _variance; num_batches_tracked dropped;
* PReLU weight -> _weight (same shape: [1] shared, [C] per channel);
* nn.Linear weights (each layout's `linear` keys) are [out, in] in PyTorch and [in, out] in
  Paddle: transposed;
* spectral norm's weight_orig / weight_u / weight_v keep their names and shapes (Paddle's
  spectral_norm stores the same);
* `module.` (DataParallel) and `net.` (the sgrvinod Generator wrapper) prefixes are dropped.
"""
import importlib
import inspect
import math
import os
import re
import zipfile

import numpy as np

from ..compat import import_paddle
from ..safe_load import load_state_dict, one_line
from ..storage import atomic_save
from .layout import ConversionError
from .pytorch_networks import LAYOUTS, ReferenceOps
from .stored_arrays import TorchWeightsError, check_inflation
from .torch_files import read_torch_weights

NON_WEIGHT_KEYS = re.compile(r"(^|/)(input|output\w*|meta)$|/|num_batches_tracked$")
TORCH_EXTENSIONS = (".pth", ".pt", ".tar", ".ckpt", ".bin", ".safetensors")
PARITY_TOLERANCE = 1e-4  # max abs difference of a float32 port (the parity fixture: 7.5e-7)


def strip_prefixes(state):
    """Keys without leading `module.` (DataParallel) / `net.` (sgrvinod Generator) parts."""
    return {re.sub(r"^(module\.|net\.)+", "", k): v for k, v in state.items()}


def read_state(path):
    """Read a weights file into {name: np.ndarray}. Non-weight fixture entries are dropped."""
    if not os.path.isfile(path):
        raise ConversionError(f"weights file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        state = read_npz(path)
    elif ext == ".pdparams":
        state = {k: np.asarray(v)
                 for k, v in load_state_dict(path, "weights", ConversionError).items()}
    elif ext in TORCH_EXTENSIONS:
        try:
            state = read_torch_weights(path)
        except TorchWeightsError as exc:
            raise ConversionError(str(exc)) from None
    else:
        raise ConversionError(
            f"{path}: unsupported extension '{ext}'; expected a PyTorch file "
            f"({', '.join(TORCH_EXTENSIONS)}), .npz (a state dict saved with numpy) or .pdparams")
    return {k: v for k, v in state.items() if not NON_WEIGHT_KEYS.search(k)}


NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}  # the versions np.savez writes


def read_npz(path):
    """{name: array} of an .npz (np.savez / savez_compressed). Each member's .npy header is
    read first and its declared bytes checked against the member's uncompressed size and the
    file (stored_arrays.check_inflation, the torch zip rule): a deflated member cannot inflate
    to gigabytes, nor a header make numpy allocate what the member does not hold."""
    try:
        with zipfile.ZipFile(path) as zf:
            declared = []
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ConversionError(f"{path}: member {info.filename} is not a .npy "
                                          f"array (np.savez writes only those)")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in NPY_HEADERS:
                        raise ValueError(f"{info.filename}: .npy format version {version}")
                    shape, _, dtype = NPY_HEADERS[version](f)
                declared.append((math.prod(shape) * dtype.itemsize, info))
            check_inflation(path, declared, "array", "real weights barely compress")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ConversionError:
        raise
    except TorchWeightsError as exc:
        raise ConversionError(str(exc)) from None
    except (ValueError, OSError, EOFError, MemoryError, zipfile.BadZipFile) as exc:
        raise ConversionError(f"{path}: not a readable .npz ({one_line(exc)})") from None


def detect_layout(state, source="weights"):
    """The name of the one layout in `LAYOUTS` whose signature the keys of `state` match."""
    keys = list(strip_prefixes(state))
    found = [name for name, layout in LAYOUTS.items()
             if all(any(re.match(p, k) for k in keys) for p in layout.signature)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ConversionError(f"{source} matches several layouts ({', '.join(found)}); "
                              f"choose one with --layout")
    raise ConversionError(f"{source}: no known layout places its {len(keys)} "
                          f"key{'s' * (len(keys) != 1)} "
                          f"({', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}); known: "
                          f"{', '.join(LAYOUTS)}; choose one with --layout if it is one")


def key_map(keys, layout):
    """{PyTorch key: our key} for the (prefix-stripped) `keys` of a `layout` state dict."""
    if layout not in LAYOUTS:
        raise ConversionError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    keys = list(keys)
    keyset = set(keys)
    out = {}
    for key in keys:
        new = key
        for pattern, repl in LAYOUTS[layout].rules:
            m = re.match(pattern, key)
            if m:
                new = (repl(m, keyset) if callable(repl) else m.expand(repl)) + key[m.end():]
                break
        new = new.replace("running_mean", "_mean").replace("running_var", "_variance")
        out[key] = re.sub(r"act\.weight$", "act._weight", new)  # Paddle's PReLU: _weight
    return out


def convert_state(state, layout):
    """PyTorch-named arrays -> Paddle-named float32 arrays for our `layout` network."""
    state = strip_prefixes(state)
    out = {}
    for key, new in key_map(state, layout).items():
        value = state[key].T if re.match(LAYOUTS[layout].linear, new) else state[key]
        out[new] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def model_options(state, layout):
    """(class name, kwargs read off the tensors, full constructor kwargs) for converted
    `state` of `layout`: the tensors' options the class takes, overlaid with the layout's
    fixed ones. What the class fixes itself (kernels, activations, biases) the tensors are
    checked against when loaded (load_into: mis-shaped or unexpected keys)."""
    spec = LAYOUTS[layout]
    read = spec.read(state)
    from .. import models  # imports paddle: keep this module cheap for tools' --help
    params = inspect.signature(models.MODELS[spec.model].__init__).parameters
    full = {k: p.default for k, p in params.items() if k != "self"}
    found = {**{k: v for k, v in read.items() if k in full}, **spec.options}
    full.update(found)
    return spec.model, found, full


def model_config(model, kwargs):
    """A config (dict) that `config.load_config` reads and `models.build_generator` builds:
    the network section with every constructor option; scale and input channels are written
    where the config keeps them (top-level `scale`, the data's `channel`)."""
    section = {"type": model, **{k: list(v) if isinstance(v, tuple) else v
                                 for k, v in kwargs.items() if k not in ("scale", "in_channels")}}
    from ..models import DISCRIMINATORS, MODELS
    if MODELS[model] in DISCRIMINATORS:
        cfg = {"network_d": section}
    else:
        if section.get("out_channels", 0) in (None, kwargs["in_channels"]):
            del section["out_channels"]  # the default: same as the input
        cfg = {"scale": kwargs["scale"], "network_g": section}
    if kwargs["in_channels"] == 1:  # single-channel weights: assume they were trained on Y
        cfg["datasets"] = {"train": {"channel": "Y"}, "val": {"channel": "Y"}}
    return cfg


def load_into(model, state, source="weights", origins=None):
    """Set `state` ({name: array}) on `model`, raising a ConversionError that lists every
    missing, unexpected and mis-shaped key (`origins`, {our key: file key}, adds the file's
    names to the message)."""
    from ..models.state import load_state_strict  # imports paddle: keep --help cheap
    return load_state_strict(model, state, source, origins, error=ConversionError)


def check_side(model, size=16):
    """The side of the square input `parity` feeds `model`: `size`, or the crop side a
    discriminator takes (VGGStyleDiscriminator's input_size)."""
    return getattr(model, "input_size", size)


def parity(layout, state, model, backend="torch", size=16, seed=0):
    """Max |model(x) - reference(x)| for a seeded random x [1, C, side, side] in [0, 1] (side:
    `check_side(model, size)`), where reference is `layout`'s published forward on the
    PyTorch-named `state`, computed with `backend` ('torch' or 'paddle' ops), both in eval
    mode (BN on running statistics, spectral norm on the stored u, v).

    Raises ImportError if `backend` is not installed, ConversionError if the layout has no
    reference forward.
    """
    reference = LAYOUTS[layout].reference
    if reference is None:
        raise ConversionError(f"layout {layout!r} has no reference forward to check against")
    lib = importlib.import_module(backend)
    paddle = import_paddle()
    side = check_side(model, size)
    x = np.random.default_rng(seed).random([1, model.in_channels, side, side], dtype=np.float32)
    ops = ReferenceOps(lib, strip_prefixes(state))
    seen = x  # what the published network sees: its own input normalisation happens outside
    if getattr(model, "input_norm", "none") == "imagenet":
        from ..models.vgg import IMAGENET_MEAN, IMAGENET_STD
        seen = ((x - np.reshape(IMAGENET_MEAN, (1, 3, 1, 1)))
                / np.reshape(IMAGENET_STD, (1, 3, 1, 1))).astype(np.float32)
    expected = reference(ops, ops.tensor(seen)).detach().cpu().numpy()
    model.eval()
    return float(np.abs(model(paddle.to_tensor(x)).numpy() - expected).max())


def save_state(state, path):
    """Write {name: array} as a .pdparams that `paddle.load` reads back (atomically)."""
    paddle = import_paddle()
    atomic_save({k: paddle.to_tensor(v) for k, v in state.items()}, path)
