"""Import PyTorch-trained weights into our networks (key renaming, layout fixes, checks).

Supported sources: `.npz` holding a PyTorch state dict's tensors as arrays under their
PyTorch names (what `np.savez(f, **{k: v.numpy() for k, v in sd.items()})` writes), and our
own `.pdparams`. Supported layout: the sgrvinod "a-PyTorch-Tutorial-to-Super-Resolution"
SRResNet / SRGAN Generator (`net.` prefix) and Discriminator.

Mapping rules (see ../shared/data/parity/README.md for the PyTorch side):
* conv weights are OIHW in both frameworks: copied as is;
* BN running_mean / running_var -> _mean / _variance; num_batches_tracked dropped;
* PReLU weight -> _weight (same shape, [1] for a shared slope);
* nn.Linear weights are [out, in] in PyTorch and [in, out] in Paddle: transposed.
"""
import os
import re

import numpy as np

from .compat import import_paddle
from .engine.checkpoint import atomic_save


class ConversionError(ValueError):
    """The source file or its keys do not fit the target network; the message lists them."""


# (pattern, replacement) applied in order to each PyTorch key (after prefix stripping).
_SRRESNET_RULES = [
    (r"^conv_block1\.conv_block\.0\.", "head_conv."),
    (r"^conv_block1\.conv_block\.1\.", "head_act."),
    (r"^residual_blocks\.(\d+)\.conv_block1\.conv_block\.0\.", r"body.\1.conv1."),
    (r"^residual_blocks\.(\d+)\.conv_block1\.conv_block\.1\.", r"body.\1.bn1."),
    (r"^residual_blocks\.(\d+)\.conv_block1\.conv_block\.2\.", r"body.\1.act."),
    (r"^residual_blocks\.(\d+)\.conv_block2\.conv_block\.0\.", r"body.\1.conv2."),
    (r"^residual_blocks\.(\d+)\.conv_block2\.conv_block\.1\.", r"body.\1.bn2."),
    (r"^conv_block2\.conv_block\.0\.", "body_conv."),
    (r"^conv_block2\.conv_block\.1\.", "body_bn."),
    (r"^subpixel_convolutional_blocks\.(\d+)\.conv\.", r"upsample.\1.conv."),
    (r"^subpixel_convolutional_blocks\.(\d+)\.prelu\.", r"upsample.\1.act."),
    (r"^conv_block3\.conv_block\.0\.", "tail_conv."),
]


def _discriminator_key(key):
    """sgrvinod `conv_blocks.<i>.conv_block.<j>` -> our flat `features.<k>` (BN from block 1)."""
    m = re.match(r"^conv_blocks\.(\d+)\.conv_block\.(\d+)\.(.*)$", key)
    if m:
        block, sub, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        start = 0 if block == 0 else 2 + 3 * (block - 1)  # block 0 has no BN: conv, lrelu
        return f"features.{start + sub}.{rest}"
    return key


LAYOUTS = {
    "srresnet": lambda key: _apply_rules(key, _SRRESNET_RULES),
    "discriminator": _discriminator_key,
}
NON_WEIGHT_KEYS = re.compile(r"(^|/)(input|output\w*|meta)$|/|num_batches_tracked$")


def _apply_rules(key, rules):
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def read_state(path):
    """Read a weights file into {name: np.ndarray}. Non-weight fixture entries are dropped."""
    if not os.path.isfile(path):
        raise ConversionError(f"weights file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                state = {k: z[k] for k in z.files}
        except (ValueError, OSError) as exc:
            raise ConversionError(f"{path}: not a readable .npz ({exc})") from None
    elif ext == ".pdparams":
        paddle = import_paddle()
        state = {k: np.asarray(v) for k, v in paddle.load(path).items()}
    else:
        raise ConversionError(
            f"{path}: unsupported extension '{ext}'; expected .npz (PyTorch state dict saved "
            f"with numpy) or .pdparams")
    return {k: v for k, v in state.items() if not NON_WEIGHT_KEYS.search(k)}


def convert_state(state, layout):
    """PyTorch-named arrays -> Paddle-named float32 arrays for our `layout` network."""
    if layout not in LAYOUTS:
        raise ConversionError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    out = {}
    for key, value in state.items():
        key = re.sub(r"^(module\.|net\.)+", "", key)
        new = LAYOUTS[layout](key)
        new = new.replace("running_mean", "_mean").replace("running_var", "_variance")
        new = re.sub(r"act\.weight$", "act._weight", new)  # Paddle's PReLU names its slope _weight
        if re.match(r"^fc\d\.weight$", new):
            value = value.T
        out[new] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def infer_srresnet_kwargs(state):
    """SRResNet constructor kwargs read off converted keys (blocks, width, scale, channels)."""
    try:
        head = state["head_conv.weight"]
        tail = state["tail_conv.weight"]
    except KeyError as exc:
        raise ConversionError(f"no {exc.args[0]} after conversion: not an SRResNet layout") from None
    blocks = {int(m.group(1)) for k in state for m in [re.match(r"body\.(\d+)\.", k)] if m}
    ups = {int(m.group(1)) for k in state for m in [re.match(r"upsample\.(\d+)\.", k)] if m}
    return {"in_channels": int(head.shape[1]), "out_channels": int(tail.shape[0]),
            "num_feat": int(head.shape[0]), "num_block": len(blocks), "scale": 2 ** len(ups),
            "head_kernel": int(head.shape[2]), "body_kernel": int(state["body_conv.weight"].shape[2])}


def load_into(model, state, source="weights"):
    """Set `state` ({name: array}) on `model`, raising a ConversionError that lists every
    missing, unexpected and mis-shaped key instead of Paddle's first-failure warning."""
    paddle = import_paddle()
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {list(state[k].shape)} vs model {list(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if list(state[k].shape) != list(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {', '.join(missing[:8])}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:8])}")
    if shapes:
        problems.append(f"mis-shaped {len(shapes)}: {'; '.join(shapes[:8])}")
    if problems:
        raise ConversionError(f"{source} does not fit {type(model).__name__}: " + " | ".join(problems))
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    return model


def save_state(state, path):
    """Write {name: array} as a .pdparams that `paddle.load` reads back (atomically)."""
    paddle = import_paddle()
    atomic_save({k: paddle.to_tensor(v) for k, v in state.items()}, path)
