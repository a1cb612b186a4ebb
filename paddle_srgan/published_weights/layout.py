"""What the importer knows of one published PyTorch network (`Layout`), and the operations its
reference forward is written in (`ReferenceOps`: the same calls on torch or on Paddle).

The layouts themselves live with their family (srresnet_networks.py, esrgan_networks.py); the
table of all of them is pytorch_networks.LAYOUTS.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import InputError


class ConversionError(InputError):
    """The source file or its keys do not fit the target network; the message lists them."""


@dataclass(frozen=True)
class Layout:
    """A published PyTorch network's state-dict layout.

    source: where such files come from (printed by tools/convert_weights.py);
    signature: regexes that each match some key of such a state dict (detection);
    rules: (pattern, replacement) applied in order to each key, first match wins (keys no rule
        matches are kept, and then reported as unexpected if our network lacks them); a
        replacement is a regex template or a function (match, set of all keys) -> str;
    model: the class of models.MODELS the layout is (its state-dict keys are the targets);
    read: converted state {our key: array} -> the constructor options its tensors tell
        (widths, blocks, scale, channels, ...); ConversionError when they do not fit;
    options: constructor options of `model` the keys cannot tell (how the published scripts
        build or feed the network); the rest is read off the tensors;
    reference: forward pass on the PyTorch names (`ReferenceOps`, input) -> output, or None;
    linear: regex of our keys that are nn.Linear weights: [out, in] in PyTorch, [in, out] in
        Paddle, so they are transposed.
    """

    source: str
    signature: tuple
    rules: tuple
    model: str
    read: Callable
    options: dict = field(default_factory=dict)
    reference: Optional[Callable] = None
    linear: str = r"(?!)"  # matches nothing


def tensors(state, what, *keys):
    """The arrays `keys` of a converted `state`, or a ConversionError naming the first one
    missing (`what`: the network the layout should have given)."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ConversionError(f"no {missing[0]} after conversion: not {what}")
    return [state[k] for k in keys]


def indices(state, pattern):
    """The sorted distinct integers group 1 of `pattern` takes over the keys of `state`."""
    return sorted({int(m[1]) for k in state for m in [re.match(pattern, k)] if m})


class ReferenceOps:
    """What the reference forwards need, from `lib` (torch or paddle: same call forms).

    `w` holds the PyTorch-named state as `lib` tensors (float32, PyTorch's shapes: Linear
    weights [out, in])."""

    def __init__(self, lib, state):
        self.lib, self.F = lib, lib.nn.functional
        to_tensor = getattr(lib, "from_numpy", None) or lib.to_tensor
        self.tensor = lambda a: to_tensor(np.array(a, dtype=np.float32))  # own, writable copy
        self.w = {k: self.tensor(v) for k, v in state.items()}

    def has(self, key):
        return key in self.w

    def count(self, pattern):
        """How many distinct indices group 1 of `pattern` takes over the keys."""
        return len({m[1] for k in self.w for m in [re.match(pattern, k)] if m})

    def conv(self, x, name, stride=1, padding=None, weight=None):
        """Conv2d with `name`.weight (or `weight`) and `name`.bias if present; padding
        kernel // 2 unless given."""
        w = self.w[name + ".weight"] if weight is None else weight
        pad = int(w.shape[-1]) // 2 if padding is None else padding
        return self.F.conv2d(x, w, self.w.get(name + ".bias"), stride, pad)

    def bn(self, x, name):  # eval mode: running statistics, eps 1e-5 in both frameworks
        return self.F.batch_norm(x, self.w[name + ".running_mean"], self.w[name + ".running_var"],
                                 self.w[name + ".weight"], self.w[name + ".bias"], False)

    def prelu(self, x, name):
        return self.F.prelu(x, self.w[name + ".weight"])

    def lrelu(self, x, slope=0.2):
        return self.F.leaky_relu(x, slope)

    def linear(self, x, name):
        """x [N, in] @ weight[out, in]^T + bias (PyTorch's Linear, written for both libs)."""
        return self.lib.matmul(x, self.w[name + ".weight"].T) + self.w[name + ".bias"]

    def cat(self, xs):
        """Concatenation along channels (torch.concat and paddle.concat alike)."""
        return self.lib.concat(xs, 1)

    def shuffle(self, x, factor=2):
        return self.F.pixel_shuffle(x, factor)

    def unshuffle(self, x, factor):
        return self.F.pixel_unshuffle(x, factor)

    def upsample(self, x, factor, mode="nearest"):
        """Nearest (or bilinear, half-pixel) upsampling by `factor`."""
        if mode == "nearest":
            return self.F.interpolate(x, scale_factor=factor, mode=mode)
        return self.F.interpolate(x, scale_factor=factor, mode=mode, align_corners=False)
