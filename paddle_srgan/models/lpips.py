"""LPIPS network (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep Features as
a Perceptual Metric"), version 0.1 of the authors' `lpips` package.

d(x0, x1) = sum over taps l of mean_hw( w_l . (f0_l - f1_l)^2 ), where f_l are backbone
activations normalised to unit length along channels and w_l >= 0 are the calibrated "lin"
weights (1x1 convs, no bias). The backbone is torchvision's AlexNet or VGG16 `features`, built
here with torchvision's exact Sequential indices so `features.<i>.*` keys of a torchvision
state dict load unchanged (paddle.vision's AlexNet fuses conv+pool under other names and hides
the ReLU outputs LPIPS taps, so it cannot be reused).

Parameter names: `features.<i>.weight|bias` (torchvision's) and `lins.<k>.weight` (the
package's `lin<k>.model.1.weight`); `from_torch_state` maps the published files to them.
"""
import os
import re

import numpy as np

from ..compat import import_paddle
from ..errors import InputError
from ..safe_load import load_state_dict
from .state import load_state_strict

paddle = import_paddle()
nn = paddle.nn

# torchvision `features` layouts up to the last tapped ReLU:
# ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride).
_ALEX = [("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
         ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
         ("conv", 192, 384, 3, 1, 1), ("relu",),
         ("conv", 384, 256, 3, 1, 1), ("relu",),
         ("conv", 256, 256, 3, 1, 1), ("relu",)]


def _vgg16():
    layers, channels = [], 3
    for block, (convs, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512))):
        if block:
            layers.append(("pool", 2, 2))
        for _ in range(convs):
            layers += [("conv", channels, width, 3, 1, 1), ("relu",)]
            channels = width
    return layers


BACKBONES = {
    # taps: indices of the ReLUs compared (alex relu1..relu5; vgg relu1_2, relu2_2, relu3_3,
    # relu4_3, relu5_3), as the slices of lpips/pretrained_networks.py cut them.
    # min_size: smallest H and W for which the last tap is at least 1x1 (alex: the 11x11
    # stride-4 conv then two 3x3 stride-2 pools; vgg: four 2x2 pools).
    "alex": {"layers": _ALEX, "taps": (1, 4, 7, 9, 11), "min_size": 31},
    "vgg": {"layers": _vgg16(), "taps": (3, 8, 15, 22, 29), "min_size": 16},
}

# ScalingLayer of the lpips package: maps [-1, 1] inputs to roughly ImageNet-normalised ones
# (shift = (mean - 0.5) / 0.5, scale = std / 0.5 of the ImageNet statistics, rounded).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# lpips.normalize_tensor adds this to the channel norm (keeps all-zero features finite).
_NORM_EPS = 1e-10


class LPIPSWeightsError(InputError):
    """LPIPS weights do not fit the network; the message names the file and the tensors."""


def lin_channels(backbone):
    """Channels of the five tapped feature maps, e.g. (64, 192, 384, 256, 256) for alex."""
    layers = BACKBONES[backbone]["layers"]  # every tapped ReLU follows a conv: its out channels
    return tuple(layers[i - 1][2] for i in BACKBONES[backbone]["taps"])


class LPIPS(nn.Layer):
    """LPIPS v0.1 distance with an AlexNet or VGG16 backbone; frozen, eval mode.

    Args:
        backbone: 'alex' (the authors' recommended forward metric) or 'vgg'. Weights start
            random (Paddle's default init); load real ones with `set_weights` / `load_lpips`.
    Input:  img0, img1 float32 [N, 3, H, W] RGB in [-1, 1], H and W >= `min_size`.
    Output: float32 [N] distances, >= 0 when the lin weights are (the published ones are).
    """

    def __init__(self, backbone="alex"):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"LPIPS backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        self.backbone = backbone
        spec = BACKBONES[backbone]
        self.taps = spec["taps"]
        self.min_size = spec["min_size"]
        layers = []
        for kind, *args in spec["layers"]:
            if kind == "conv":
                c_in, c_out, k, stride, pad = args
                layers.append(nn.Conv2D(c_in, c_out, k, stride=stride, padding=pad))
            elif kind == "relu":
                layers.append(nn.ReLU())
            else:
                layers.append(nn.MaxPool2D(kernel_size=args[0], stride=args[1]))
        self.features = nn.Sequential(*layers)
        self.lins = nn.LayerList([nn.Conv2D(c, 1, 1, bias_attr=False)
                                  for c in lin_channels(backbone)])
        self.register_buffer("shift", paddle.to_tensor(_SHIFT).reshape([1, 3, 1, 1]),
                             persistable=False)
        self.register_buffer("scale", paddle.to_tensor(_SCALE).reshape([1, 3, 1, 1]),
                             persistable=False)
        for p in self.parameters():
            p.stop_gradient = True
        self.eval()

    def set_weights(self, state, source="weights"):
        """Set {our name: array} on the network, listing every missing, unexpected and
        mis-shaped tensor (Paddle's set_state_dict only warns about the first)."""
        state = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
        return load_state_strict(self, state, f"{source} (LPIPS-{self.backbone})",
                                 error=LPIPSWeightsError)

    def forward(self, img0, img1):
        n = img0.shape[0]
        # One pass over both images: half the per-layer overhead on CPU.
        x = (paddle.concat([img0, img1]) - self.shift) / self.scale
        total = 0.0
        lins = iter(self.lins)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                unit = x / (paddle.sqrt(paddle.sum(x * x, axis=1, keepdim=True)) + _NORM_EPS)
                diff = (unit[:n] - unit[n:]) ** 2
                total = total + paddle.mean(next(lins)(diff), axis=[1, 2, 3])
        return total


def backbone_of(state, source="weights"):
    """'alex' or 'vgg', read off the first conv (11x11 in AlexNet, 3x3 in VGG16)."""
    first = state.get("features.0.weight")
    if first is None:
        raise LPIPSWeightsError(f"{source}: no features.0.weight, so not a torchvision AlexNet/"
                                f"VGG16 or LPIPS state dict ({len(state)} tensors, e.g. "
                                f"{', '.join(sorted(state)[:3])})")
    for name, spec in BACKBONES.items():
        k = spec["layers"][0][3]
        if tuple(first.shape[-2:]) == (k, k):
            return name
    raise LPIPSWeightsError(f"{source}: features.0.weight has shape {list(first.shape)}; "
                            f"expected 11x11 (AlexNet) or 3x3 (VGG16) kernels")


def from_torch_state(backbone_state, lin_state, backbone_source="backbone",
                     lin_source="lin weights"):
    """Published PyTorch tensors -> (backbone name, {our name: float32 array}).

    Args:
        backbone_state: torchvision AlexNet / VGG16 state dict as {name: array}
            (`features.<i>.weight|bias`; `classifier.*` and layers past the last tap are
            ignored: LPIPS does not use them).
        lin_state: the lpips package's weights/v0.1/<net>.pth as {name: array}
            (`lin<k>.model.1.weight`, [1, C_k, 1, 1]; `model.0` when saved without dropout).
    """
    backbone = backbone_of(backbone_state, backbone_source)
    last_tap = BACKBONES[backbone]["taps"][-1]
    out = {}
    for key, value in backbone_state.items():
        m = re.match(r"^features\.(\d+)\.(weight|bias)$", key)
        if m and int(m.group(1)) <= last_tap:
            out[key] = np.ascontiguousarray(value, dtype=np.float32)
    lins = {}
    for key, value in lin_state.items():
        m = re.match(r"^lin(\d+)\.model\.[01]\.weight$", key)
        if m:
            lins[int(m.group(1))] = value
    if not lins:
        raise LPIPSWeightsError(f"{lin_source}: no lin<k>.model.1.weight tensors, so not an "
                                f"LPIPS lin weights file (weights/v0.1/{backbone}.pth)")
    channels = tuple(int(lins[k].shape[1]) for k in sorted(lins))
    if channels != lin_channels(backbone):
        fits = [name for name in BACKBONES if lin_channels(name) == channels]
        what = f"LPIPS-{fits[0]} lin weights" if fits else "not LPIPS v0.1 alex/vgg lin weights"
        raise LPIPSWeightsError(
            f"{lin_source}: lin layers with channels {channels} are {what}, but "
            f"{backbone_source} is a torchvision {backbone} backbone needing "
            f"{lin_channels(backbone)} (use weights/v0.1/{backbone}.pth)")
    for k in sorted(lins):
        out[f"lins.{k}.weight"] = np.ascontiguousarray(lins[k], dtype=np.float32)
    return backbone, out


_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def load_lpips(path, backbone=None):
    """The LPIPS v0.1 network, in eval mode, with the weights of a local .pdparams written
    once by tools/convert_lpips_weights.py (torchvision backbone + the authors' calibrated
    lin layers; nothing is downloaded), for ``metrics.lpips(img1, img2, net)``.

    backbone: 'alex' or 'vgg' to insist on one; None takes what the file holds.
    """
    if not os.path.isfile(str(path)):
        net = backbone or "alex"
        raise FileNotFoundError(
            f"LPIPS weights not found: {path}. Make them once: python "
            f"tools/convert_lpips_weights.py --lin lpips/weights/v0.1/{net}.pth (from the "
            f"'lpips' PyPI package) --backbone {_BACKBONE_FILES[net]} (torchvision's, "
            f"https://download.pytorch.org/models/{_BACKBONE_FILES[net]}) --out {path}")
    state = {k: np.asarray(v) for k, v in load_state_dict(
        path, "LPIPS weights (make them with tools/convert_lpips_weights.py)",
        LPIPSWeightsError).items()}
    found = backbone_of(state, str(path))
    if backbone is not None and backbone != found:
        raise LPIPSWeightsError(f"{path} holds LPIPS-{found} weights, not {backbone!r}: "
                                f"pass backbone={found!r} (or None)")
    return LPIPS(found).set_weights(state, str(path))
