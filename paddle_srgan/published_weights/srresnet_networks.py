"""The SRResNet family's published PyTorch weight layouts (see layout.Layout): the SRGAN
paper's SRResNet as the sgrvinod tutorial, PyTorch's ONNX example, BasicSR (MSRResNet) and
leftthomas/SRGAN publish it, and the sgrvinod discriminator. Each is a class of
models/srresnet.py (models/discriminator.py); its forward is written here from the published
definition on its own key names.
"""
import re

from .layout import ConversionError, Layout, indices, tensors


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


def read_srresnet(state):
    """What converted keys and shapes of an SRResNet-family network (models/srresnet.py) tell:
    channels, width, blocks, scale, kernels and the layer ending the body (each class takes
    those of these its constructor has)."""
    head, tail, up = tensors(state, "an SRResNet layout", "head_conv.weight", "tail_conv.weight",
                             "upsample.0.conv.weight")
    num_feat = int(head.shape[0])
    if up.shape[0] != 4 * num_feat:
        raise ConversionError(f"upsample.0.conv.weight has {up.shape[0]} output channels for "
                              f"PixelShuffle({int(round((up.shape[0] / num_feat) ** 0.5))}); "
                              f"SRResNet upsamples by x2 steps only (scale 2, 4 or 8)")
    kwargs = {"in_channels": int(head.shape[1]), "out_channels": int(tail.shape[0]),
              "num_feat": num_feat, "num_block": len(indices(state, r"body\.(\d+)\.")),
              "scale": 2 ** len(indices(state, r"upsample\.(\d+)\.")),
              "head_kernel": int(head.shape[2]), "body_kernel": int(up.shape[2])}
    if "body_conv.weight" in state:
        kwargs["body_end"] = ("conv_act" if any(k.startswith("body_act.") for k in state)
                              else "conv_norm")
    return kwargs


def read_discriminator(state):
    """Discriminator constructor kwargs read off converted keys (channels, width, blocks, fc)."""
    first, fc1 = tensors(state, "a discriminator layout", "features.0.weight", "fc1.weight")
    convs = [k for k in state if re.match(r"features\.\d+\.weight$", k) and state[k].ndim == 4]
    return {"in_channels": int(first.shape[1]), "num_feat": int(first.shape[0]),
            "num_block": len(convs), "fc_size": int(fc1.shape[1])}


SRRESNET_LAYOUTS = {
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
        model="SRResNet", read=read_srresnet,
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
        model="OnnxSRResNet", read=read_srresnet,
        reference=_ref_onnx),
    "msrresnet": Layout(
        "BasicSR basicsr/archs/srresnet_arch.py MSRResNet (also mmsr/KAIR recon_trunk, HRconv)",
        (r"^conv_first\.weight$", r"^(body|recon_trunk)\.0\.conv1\.weight$", r"^upconv1\."),
        ((r"^conv_first\.", "head_conv."),
         (r"^(body|recon_trunk)\.(\d+)\.conv([12])\.", r"body.\2.conv\3."),
         (r"^upconv(\d+)\.", _renumber("upsample.{}.conv.", 1)),
         (r"^(conv_hr|HRconv)\.", "hr_conv."),
         (r"^conv_last\.", "tail_conv.")),
        model="MSRResNet", read=read_srresnet,
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
        model="LeftthomasSRGAN", read=read_srresnet,
        reference=_ref_leftthomas),
    "discriminator": Layout(
        "sgrvinod a-PyTorch-Tutorial-to-Super-Resolution Discriminator",
        (r"^conv_blocks\.0\.conv_block\.0\.weight$", r"^fc1\.weight$"),
        ((r"^conv_blocks\.(\d+)\.conv_block\.(\d+)\.", _discriminator_key),),
        model="Discriminator", read=read_discriminator, linear=r"^fc\d\.weight$"),
}
