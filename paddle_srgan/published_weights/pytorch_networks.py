"""What we know of published PyTorch SR networks' weight files: for each layout, the keys that
identify it, how its keys map to our layer names, the class of our model table it is (one
class per published network, models/srresnet.py) and the options the keys cannot tell, and its
forward pass written from the published definition on its own key names (run with
torch or Paddle ops by `convert.parity`). `convert.py` reads, converts and checks files with it.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


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

class ReferenceOps:
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


def _ref_sgrvinod(ops, x):
    """sgrvinod a-PyTorch-Tutorial-to-Super-Resolution, models.py SRResNet."""
    head = ops.prelu(ops.conv(x, "conv_block1.conv_block.0"), "conv_block1.conv_block.1")
    feat = head
    for i in range(ops.count(r"residual_blocks\.(\d+)\.")):
        b = f"residual_blocks.{i}."
        r = ops.prelu(ops.bn(ops.conv(feat, b + "conv_block1.conv_block.0"),
                         b + "conv_block1.conv_block.1"), b + "conv_block1.conv_block.2")
        feat = feat + ops.bn(ops.conv(r, b + "conv_block2.conv_block.0"),
                           b + "conv_block2.conv_block.1")
    feat = ops.bn(ops.conv(feat, "conv_block2.conv_block.0"), "conv_block2.conv_block.1") + head
    for j in range(ops.count(r"subpixel_convolutional_blocks\.(\d+)\.")):
        b = f"subpixel_convolutional_blocks.{j}."
        feat = ops.prelu(ops.shuffle(ops.conv(feat, b + "conv")), b + "prelu")
    return ops.lib.tanh(ops.conv(feat, "conv_block3.conv_block.0"))


def _ref_onnx(ops, x):
    """pytorch/pytorch test/onnx/model_defs/srresnet.py SRResNet."""
    head = ops.prelu(ops.conv(x, "conv1"), "prelu1")
    feat = head
    for i in range(1, ops.count(r"residual_block(\d+)\.") + 1):
        b = f"residual_block{i}.0."
        r = ops.prelu(ops.bn(ops.conv(feat, b + "conv1"), b + "bn1"), b + "prelu")
        feat = feat + ops.bn(ops.conv(r, b + "conv2"), b + "bn2")
    feat = ops.bn(ops.conv(feat, "skip_conv"), "skip_bn") + head
    for j in range(1, ops.count(r"upscale_block(\d+)\.") + 1):
        b = f"upscale_block{j}.0."
        feat = ops.prelu(ops.shuffle(ops.conv(feat, b + "upscaling_conv")), b + "upscaling")
    return ops.conv(feat, "output_conv")


def _ref_msrresnet(ops, x):
    """BasicSR basicsr/archs/srresnet_arch.py MSRResNet (x2, x4); older mmsr/KAIR files name
    the trunk recon_trunk and conv_hr HRconv."""
    trunk = "recon_trunk" if ops.has("recon_trunk.0.conv1.weight") else "body"
    feat = ops.F.leaky_relu(ops.conv(x, "conv_first"), 0.1)
    for i in range(ops.count(rf"{trunk}\.(\d+)\.")):
        feat = feat + ops.conv(ops.F.relu(ops.conv(feat, f"{trunk}.{i}.conv1")),
                               f"{trunk}.{i}.conv2")
    ups = ops.count(r"upconv(\d+)\.")
    for j in range(1, ups + 1):
        feat = ops.F.leaky_relu(ops.shuffle(ops.conv(feat, f"upconv{j}")), 0.1)
    hr = "HRconv" if ops.has("HRconv.weight") else "conv_hr"
    out = ops.conv(ops.F.leaky_relu(ops.conv(feat, hr), 0.1), "conv_last")
    return out + ops.F.interpolate(x, scale_factor=2 ** ups, mode="bilinear", align_corners=False)


def _ref_leftthomas(ops, x):
    """leftthomas/SRGAN model.py Generator (block7: conv + BN, or conv + PReLU in old files)."""
    head = ops.prelu(ops.conv(x, "block1.0"), "block1.1")
    feat = head
    blocks = [int(m[1]) for k in ops.w for m in [re.match(r"block(\d+)\.conv1\.weight$", k)] if m]
    for n in sorted(blocks):
        b = f"block{n}."
        r = ops.prelu(ops.bn(ops.conv(feat, b + "conv1"), b + "bn1"), b + "prelu")
        feat = feat + ops.bn(ops.conv(r, b + "conv2"), b + "bn2")
    end = ops.bn if ops.has("block7.1.running_mean") else ops.prelu
    feat = head + end(ops.conv(feat, "block7.0"), "block7.1")
    ups = ops.count(r"block8\.(\d+)\.conv\.")
    for j in range(ups):
        feat = ops.prelu(ops.shuffle(ops.conv(feat, f"block8.{j}.conv")), f"block8.{j}.prelu")
    return (ops.lib.tanh(ops.conv(feat, f"block8.{ups}")) + 1) / 2


@dataclass(frozen=True)
class Layout:
    """A published PyTorch network's state-dict layout.

    signature: regexes that each match some key of such a state dict (detection);
    rules: (pattern, replacement) applied in order to each key, first match wins (keys no rule
        matches are kept, and then reported as unexpected); a replacement is a regex template
        or a function (match, set of all keys) -> str;
    model: the class of models.MODELS the layout is (its state-dict keys are the targets);
    options: constructor options of `model` the keys cannot tell (how the published scripts
        feed the network); the rest is read off the tensors;
    reference: forward pass on the PyTorch names (`ReferenceOps`, input) -> output, or None.
    """

    source: str
    signature: tuple
    rules: tuple
    model: str
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
        model="SRResNet",
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
        model="OnnxSRResNet",
        reference=_ref_onnx),
    "msrresnet": Layout(
        "BasicSR basicsr/archs/srresnet_arch.py MSRResNet (also mmsr/KAIR recon_trunk, HRconv)",
        (r"^conv_first\.weight$", r"^(body|recon_trunk)\.0\.conv1\.weight$", r"^upconv1\."),
        ((r"^conv_first\.", "head_conv."),
         (r"^(body|recon_trunk)\.(\d+)\.conv([12])\.", r"body.\2.conv\3."),
         (r"^upconv(\d+)\.", _renumber("upsample.{}.conv.", 1)),
         (r"^(conv_hr|HRconv)\.", "hr_conv."),
         (r"^conv_last\.", "tail_conv.")),
        model="MSRResNet",
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
        model="LeftthomasSRGAN",
        reference=_ref_leftthomas),
    "discriminator": Layout(
        "sgrvinod a-PyTorch-Tutorial-to-Super-Resolution Discriminator",
        (r"^conv_blocks\.0\.conv_block\.0\.weight$", r"^fc1\.weight$"),
        ((r"^conv_blocks\.(\d+)\.conv_block\.(\d+)\.", _discriminator_key),),
        model="Discriminator"),
}
