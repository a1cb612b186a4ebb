"""Import PyTorch-trained weights into our networks (key renaming, layout fixes, checks).

Sources (`read_state`): `torch.save` files (.pth/.pt/.tar/.ckpt/.bin, zip or legacy format) and
.safetensors, read without torch by `paddle_srgan.torch_weights`; .npz holding a PyTorch state
dict's tensors under their PyTorch names (`np.savez(f, **{k: v.numpy() for k, v in
sd.items()})`); our own .pdparams.

Layouts (`LAYOUTS`, detected from the keys by `detect_layout`): which published PyTorch network
the keys come from, how they map to our layer names, and the `SRResNet` options that network
needs. Each layout also has `reference`, its forward pass written from the published definition
on the PyTorch key names, run with torch or Paddle ops by `parity` (tools/convert_weights.py
--check).

Mapping rules (see tests/fixtures/srresnet_sgrvinod.md for the PyTorch side):
* conv weights are OIHW in both frameworks: copied as is;
* BN running_mean / running_var -> _mean / _variance; num_batches_tracked dropped;
* PReLU weight -> _weight (same shape: [1] shared, [C] per channel);
* nn.Linear weights are [out, in] in PyTorch and [in, out] in Paddle: transposed;
* `module.` (DataParallel) and `net.` (the sgrvinod Generator wrapper) prefixes are dropped.
"""
import importlib
import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .compat import import_paddle
from .engine.checkpoint import atomic_save
from .torch_weights import TorchWeightsError, read_torch_weights


class ConversionError(ValueError):
    """The source file or its keys do not fit the target network; the message lists them."""


NON_WEIGHT_KEYS = re.compile(r"(^|/)(input|output\w*|meta)$|/|num_batches_tracked$")
TORCH_EXTENSIONS = (".pth", ".pt", ".tar", ".ckpt", ".bin", ".safetensors")
PARITY_TOLERANCE = 1e-4  # max abs difference of a float32 port (the parity fixture: 7.5e-7)


def _renumber(template, first):
    """Replacement for a rule whose group 1 counts from `first`: our indices count from 0."""
    return lambda match, keys: template.format(int(match[1]) - first)


def _leftthomas_block7(match, keys):
    # block7 is conv + BN in the current repository, conv + PReLU in older epochs/*.pth files.
    return "body_bn." if "block7.1.running_mean" in keys else "body_act."


def _discriminator_key(match, keys):
    """sgrvinod `conv_blocks.<i>.conv_block.<j>` -> our flat `features.<k>` (BN from block 1)."""
    block, sub = int(match[1]), int(match[2])
    start = 0 if block == 0 else 2 + 3 * (block - 1)  # block 0 has no BN: conv, lrelu
    return f"features.{start + sub}."


# --- reference forwards: each published network on its own key names ---------------------

class _Ops:
    """What the reference forwards need, from `lib` (torch or paddle: same call forms)."""

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

    def conv(self, x, name):
        w = self.w[name + ".weight"]
        return self.F.conv2d(x, w, self.w.get(name + ".bias"), padding=int(w.shape[-1]) // 2)

    def bn(self, x, name):  # eval mode: running statistics, eps 1e-5 in both frameworks
        return self.F.batch_norm(x, self.w[name + ".running_mean"], self.w[name + ".running_var"],
                                 self.w[name + ".weight"], self.w[name + ".bias"], False)

    def prelu(self, x, name):
        return self.F.prelu(x, self.w[name + ".weight"])

    def shuffle(self, x):
        return self.F.pixel_shuffle(x, 2)


def _ref_sgrvinod(o, x):
    """sgrvinod a-PyTorch-Tutorial-to-Super-Resolution, models.py SRResNet."""
    head = o.prelu(o.conv(x, "conv_block1.conv_block.0"), "conv_block1.conv_block.1")
    feat = head
    for i in range(o.count(r"residual_blocks\.(\d+)\.")):
        b = f"residual_blocks.{i}."
        r = o.prelu(o.bn(o.conv(feat, b + "conv_block1.conv_block.0"),
                         b + "conv_block1.conv_block.1"), b + "conv_block1.conv_block.2")
        feat = feat + o.bn(o.conv(r, b + "conv_block2.conv_block.0"),
                           b + "conv_block2.conv_block.1")
    feat = o.bn(o.conv(feat, "conv_block2.conv_block.0"), "conv_block2.conv_block.1") + head
    for j in range(o.count(r"subpixel_convolutional_blocks\.(\d+)\.")):
        b = f"subpixel_convolutional_blocks.{j}."
        feat = o.prelu(o.shuffle(o.conv(feat, b + "conv")), b + "prelu")
    return o.lib.tanh(o.conv(feat, "conv_block3.conv_block.0"))


def _ref_onnx(o, x):
    """pytorch/pytorch test/onnx/model_defs/srresnet.py SRResNet."""
    head = o.prelu(o.conv(x, "conv1"), "prelu1")
    feat = head
    for i in range(1, o.count(r"residual_block(\d+)\.") + 1):
        b = f"residual_block{i}.0."
        r = o.prelu(o.bn(o.conv(feat, b + "conv1"), b + "bn1"), b + "prelu")
        feat = feat + o.bn(o.conv(r, b + "conv2"), b + "bn2")
    feat = o.bn(o.conv(feat, "skip_conv"), "skip_bn") + head
    for j in range(1, o.count(r"upscale_block(\d+)\.") + 1):
        b = f"upscale_block{j}.0."
        feat = o.prelu(o.shuffle(o.conv(feat, b + "upscaling_conv")), b + "upscaling")
    return o.conv(feat, "output_conv")


def _ref_msrresnet(o, x):
    """BasicSR basicsr/archs/srresnet_arch.py MSRResNet (x2, x4); older mmsr/KAIR files name
    the trunk recon_trunk and conv_hr HRconv."""
    trunk = "recon_trunk" if o.has("recon_trunk.0.conv1.weight") else "body"
    feat = o.F.leaky_relu(o.conv(x, "conv_first"), 0.1)
    for i in range(o.count(rf"{trunk}\.(\d+)\.")):
        feat = feat + o.conv(o.F.relu(o.conv(feat, f"{trunk}.{i}.conv1")), f"{trunk}.{i}.conv2")
    ups = o.count(r"upconv(\d+)\.")
    for j in range(1, ups + 1):
        feat = o.F.leaky_relu(o.shuffle(o.conv(feat, f"upconv{j}")), 0.1)
    hr = "HRconv" if o.has("HRconv.weight") else "conv_hr"
    out = o.conv(o.F.leaky_relu(o.conv(feat, hr), 0.1), "conv_last")
    return out + o.F.interpolate(x, scale_factor=2 ** ups, mode="bilinear", align_corners=False)


def _ref_leftthomas(o, x):
    """leftthomas/SRGAN model.py Generator (block7: conv + BN, or conv + PReLU in old files)."""
    head = o.prelu(o.conv(x, "block1.0"), "block1.1")
    feat = head
    blocks = [int(m[1]) for k in o.w for m in [re.match(r"block(\d+)\.conv1\.weight$", k)] if m]
    for n in sorted(blocks):
        b = f"block{n}."
        r = o.prelu(o.bn(o.conv(feat, b + "conv1"), b + "bn1"), b + "prelu")
        feat = feat + o.bn(o.conv(r, b + "conv2"), b + "bn2")
    end = o.bn if o.has("block7.1.running_mean") else o.prelu
    feat = head + end(o.conv(feat, "block7.0"), "block7.1")
    ups = o.count(r"block8\.(\d+)\.conv\.")
    for j in range(ups):
        feat = o.prelu(o.shuffle(o.conv(feat, f"block8.{j}.conv")), f"block8.{j}.prelu")
    return (o.lib.tanh(o.conv(feat, f"block8.{ups}")) + 1) / 2


@dataclass(frozen=True)
class Layout:
    """A published PyTorch network's state-dict layout.

    signature: regexes that each match some key of such a state dict (detection);
    rules: (pattern, replacement) applied in order to each key, first match wins (keys no rule
        matches are kept, and then reported as unexpected); a replacement is a regex template
        or a function (match, set of all keys) -> str;
    options: constructor options of `model` the keys cannot tell (activation kinds, skips,
        output activation and range); the rest is read off the tensors;
    reference: forward pass on the PyTorch names (`_Ops`, input) -> output, or None.
    """

    source: str
    signature: tuple
    rules: tuple
    model: str = "SRResNet"
    options: dict = field(default_factory=dict)
    reference: Optional[Callable] = None


LAYOUTS = {
    "srresnet": Layout(
        "sgrvinod a-PyTorch-Tutorial-to-Super-Resolution SRResNet / SRGAN Generator (net.)",
        (r"^conv_block1\.conv_block\.0\.weight$", r"^residual_blocks\."),
        ((r"^conv_block1\.conv_block\.0\.", "head_conv."),
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
         (r"^conv_block3\.conv_block\.0\.", "tail_conv.")),
        # the tutorial's scripts feed ImageNet-normalised LR (lr_img_type='imagenet-norm')
        options={"input_norm": "imagenet"},
        reference=_ref_sgrvinod),
    "onnx_srresnet": Layout(
        "PyTorch test/onnx/model_defs/srresnet.py SRResNet (the SRGAN authors' circulating "
        "weights)",
        (r"^conv1\.weight$", r"^skip_conv\.weight$"),
        ((r"^conv1\.", "head_conv."),
         (r"^prelu1\.", "head_act."),
         (r"^residual_block(\d+)\.0\.prelu\.", _renumber("body.{}.act.", 1)),
         (r"^residual_block(\d+)\.0\.(?=(conv|bn)[12]\.)", _renumber("body.{}.", 1)),
         (r"^skip_conv\.", "body_conv."),
         (r"^skip_bn\.", "body_bn."),
         (r"^upscale_block(\d+)\.0\.upscaling_conv\.", _renumber("upsample.{}.conv.", 1)),
         (r"^upscale_block(\d+)\.0\.upscaling\.", _renumber("upsample.{}.act.", 1)),
         (r"^output_conv\.", "tail_conv.")),
        options={"output_act": "none", "output_range": [-1.0, 1.0]},
        reference=_ref_onnx),
    "msrresnet": Layout(
        "BasicSR basicsr/archs/srresnet_arch.py MSRResNet (also mmsr/KAIR recon_trunk, HRconv)",
        (r"^conv_first\.weight$", r"^(body|recon_trunk)\.0\.conv1\.weight$", r"^upconv1\."),
        ((r"^conv_first\.", "head_conv."),
         (r"^(body|recon_trunk)\.(\d+)\.conv([12])\.", r"body.\2.conv\3."),
         (r"^upconv(\d+)\.", _renumber("upsample.{}.conv.", 1)),
         (r"^(conv_hr|HRconv)\.", "hr_conv."),
         (r"^conv_last\.", "tail_conv.")),
        options={"act": "leakyrelu", "negative_slope": 0.1, "block_act": "relu",
                 "global_skip": False, "input_skip": "bilinear", "output_act": "none",
                 "output_range": [0.0, 1.0]},
        reference=_ref_msrresnet),
    "leftthomas": Layout(
        "leftthomas/SRGAN model.py Generator (netG_epoch_<s>_<e>.pth)",
        (r"^block1\.0\.weight$", r"^block8\."),
        ((r"^block1\.0\.", "head_conv."),
         (r"^block1\.1\.", "head_act."),
         (r"^block(\d+)\.prelu\.", _renumber("body.{}.act.", 2)),
         (r"^block(\d+)\.(?=(conv|bn)[12]\.)", _renumber("body.{}.", 2)),
         (r"^block7\.0\.", "body_conv."),
         (r"^block7\.1\.", _leftthomas_block7),
         (r"^block8\.(\d+)\.conv\.", r"upsample.\1.conv."),
         (r"^block8\.(\d+)\.prelu\.", r"upsample.\1.act."),
         (r"^block8\.(\d+)\.", "tail_conv.")),
        options={"output_act": "tanh01"},
        reference=_ref_leftthomas),
    "discriminator": Layout(
        "sgrvinod a-PyTorch-Tutorial-to-Super-Resolution Discriminator",
        (r"^conv_blocks\.0\.conv_block\.0\.weight$", r"^fc1\.weight$"),
        ((r"^conv_blocks\.(\d+)\.conv_block\.(\d+)\.", _discriminator_key),),
        model="Discriminator"),
}


def strip_prefixes(state):
    """Keys without leading `module.` (DataParallel) / `net.` (sgrvinod Generator) parts."""
    return {re.sub(r"^(module\.|net\.)+", "", k): v for k, v in state.items()}


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
    raise ConversionError(f"{source}: keys ({', '.join(keys[:4])}, ...) match no known layout "
                          f"({', '.join(LAYOUTS)}); choose one with --layout if it is one")


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
        value = state[key].T if re.match(r"^fc\d\.weight$", new) else state[key]
        out[new] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def infer_srresnet_kwargs(state):
    """SRResNet constructor kwargs read off converted keys and shapes: channels, width,
    blocks, scale, kernels, and which optional layers (BN, conv biases, PReLU kind, body
    end, HR conv) are present."""
    try:
        head = state["head_conv.weight"]
        tail = state["tail_conv.weight"]
        up = state["upsample.0.conv.weight"]
    except KeyError as exc:
        raise ConversionError(f"no {exc.args[0]} after conversion: not an SRResNet layout") from None
    num_feat = int(head.shape[0])
    if up.shape[0] != 4 * num_feat:
        raise ConversionError(f"upsample.0.conv.weight has {up.shape[0]} output channels for "
                              f"PixelShuffle({int(round((up.shape[0] / num_feat) ** 0.5))}); "
                              f"SRResNet upsamples by x2 steps only (scale 2, 4 or 8)")
    blocks = {int(m[1]) for k in state for m in [re.match(r"body\.(\d+)\.", k)] if m}
    ups = {int(m[1]) for k in state for m in [re.match(r"upsample\.(\d+)\.", k)] if m}
    kwargs = {"in_channels": int(head.shape[1]), "out_channels": int(tail.shape[0]),
              "num_feat": num_feat, "num_block": len(blocks), "scale": 2 ** len(ups),
              "head_kernel": int(head.shape[2]), "body_kernel": int(up.shape[2]),
              "norm": "bn" if any(k.endswith("._mean") for k in state) else "none",
              "conv_bias": "body.0.conv1.bias" in state or "body_conv.bias" in state,
              "body_end": ("none" if "body_conv.weight" not in state else
                           "conv_act" if any(k.startswith("body_act.") for k in state) else
                           "conv_norm"),
              "hr_conv": "hr_conv.weight" in state}
    if "head_act._weight" in state:  # a PReLU: its slope count tells shared from per-channel
        kwargs["act"] = "prelu" if state["head_act._weight"].size == 1 else "prelu_channel"
    return kwargs


def infer_discriminator_kwargs(state):
    """Discriminator constructor kwargs read off converted keys (channels, width, blocks, fc)."""
    try:
        first, fc1 = state["features.0.weight"], state["fc1.weight"]
    except KeyError as exc:
        raise ConversionError(f"no {exc.args[0]} after conversion: "
                              f"not a discriminator layout") from None
    convs = [k for k in state if re.match(r"features\.\d+\.weight$", k) and state[k].ndim == 4]
    return {"in_channels": int(first.shape[1]), "num_feat": int(first.shape[0]),
            "num_block": len(convs), "fc_size": int(fc1.shape[1])}


def model_options(state, layout):
    """(class name, kwargs read off the tensors, full constructor kwargs) for converted
    `state` of `layout`: the tensors' options overlaid with the layout's fixed ones."""
    lay = LAYOUTS[layout]
    if lay.model == "Discriminator":
        found = infer_discriminator_kwargs(state)
    else:
        found = {**infer_srresnet_kwargs(state), **lay.options}
    from . import models  # imports paddle: keep this module cheap for tools' --help
    params = inspect.signature(models.MODELS[lay.model].__init__).parameters
    full = {k: p.default for k, p in params.items() if k != "self"}
    full.update(found)
    return lay.model, found, full


def model_config(model, kwargs):
    """A config (dict) that `config.load_config` reads and `models.build_generator` builds:
    the network section with every constructor option; scale and input channels are written
    where the config keeps them (top-level `scale`, the data's `channel`)."""
    section = {"type": model, **{k: list(v) if isinstance(v, tuple) else v
                                 for k, v in kwargs.items() if k not in ("scale", "in_channels")}}
    if model == "Discriminator":
        return {"network_d": section}
    if section.get("out_channels") == kwargs["in_channels"]:
        del section["out_channels"]  # the default: same as the input
    cfg = {"scale": kwargs["scale"], "network_g": section}
    if kwargs["in_channels"] == 1:  # single-channel weights: assume they were trained on Y
        cfg["datasets"] = {"train": {"channel": "Y"}, "val": {"channel": "Y"}}
    return cfg


def load_into(model, state, source="weights", origins=None):
    """Set `state` ({name: array}) on `model`, raising a ConversionError that lists every
    missing, unexpected and mis-shaped key instead of Paddle's first-failure warning.
    `origins` ({our key: file key}) adds the file's names to the messages."""
    paddle = import_paddle()
    origins = origins or {}

    def named(k):
        return f"{k} (file: {origins[k]})" if origins.get(k, k) != k else k

    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = [named(k) for k in sorted(set(state) - set(own))]
    shapes = [f"{named(k)}: file {list(state[k].shape)} vs model {list(own[k].shape)}"
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


def parity(layout, state, model, backend="torch", size=16, seed=0):
    """Max |model(x) - reference(x)| for a seeded random x [1, C, size, size] in [0, 1], where
    reference is `layout`'s published forward on the PyTorch-named `state`, computed with
    `backend` ('torch' or 'paddle' ops), both in eval mode (BN on running statistics).

    Raises ImportError if `backend` is not installed, ConversionError if the layout has no
    reference forward.
    """
    reference = LAYOUTS[layout].reference
    if reference is None:
        raise ConversionError(f"layout {layout!r} has no reference forward to check against")
    lib = importlib.import_module(backend)
    paddle = import_paddle()
    x = np.random.default_rng(seed).random([1, model.in_channels, size, size], dtype=np.float32)
    ops = _Ops(lib, strip_prefixes(state))
    seen = x  # what the published network sees: its own input normalisation happens outside
    if getattr(model, "input_norm", "none") == "imagenet":
        from .models.vgg import IMAGENET_MEAN, IMAGENET_STD
        seen = ((x - np.reshape(IMAGENET_MEAN, (1, 3, 1, 1)))
                / np.reshape(IMAGENET_STD, (1, 3, 1, 1))).astype(np.float32)
    expected = reference(ops, ops.tensor(seen)).detach().cpu().numpy()
    model.eval()
    return float(np.abs(model(paddle.to_tensor(x)).numpy() - expected).max())


def save_state(state, path):
    """Write {name: array} as a .pdparams that `paddle.load` reads back (atomically)."""
    paddle = import_paddle()
    atomic_save({k: paddle.to_tensor(v) for k, v in state.items()}, path)
