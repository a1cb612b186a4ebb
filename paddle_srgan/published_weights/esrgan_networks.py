"""The ESRGAN family's published PyTorch weight layouts (see layout.Layout):

    esrgan_old_arch     xinntao/ESRGAN's first release (architecture.py; *_old_arch.pth): one
                        nn.Sequential, `model.0`, `model.1.sub.N.RDB1.conv1.0`, ..., `model.10`
    esrgan              xinntao/ESRGAN RRDBNet_arch.py (RRDB_ESRGAN_x4.pth, RRDB_PSNR_x4.pth;
                        mmsr's names too): conv_first, RRDB_trunk.N.RDB1.conv1, trunk_conv,
                        upconv1, upconv2, HRconv, conv_last
    rrdbnet             BasicSR rrdbnet_arch.py, Real-ESRGAN (RealESRGAN_x4plus.pth, _x2plus):
                        conv_first, body.N.rdb1.conv1, conv_body, conv_up1, ...; our own names
    srvgg               BasicSR srvgg_arch.py SRVGGNetCompact (realesr-animevideov3.pth,
                        realesr-general-x4v3.pth): body.N (convs and PReLU slopes)
    vgg_discriminator   BasicSR VGGStyleDiscriminator (ESRGAN's net_d)
    unet_discriminator  BasicSR UNetDiscriminatorSN (RealESRGAN_x4plus_netD.pth): spectral
                        norm's weight_orig / weight_u / weight_v, our names too

All three RRDBNet layouts are models/rrdbnet.py's RRDBNet; each reference forward below is
written from its published definition on that layout's own key names.
"""
import math

from .layout import ConversionError, Layout, indices, tensors

RESIDUAL_SCALE = 0.2  # ESRGAN's residual scaling of dense blocks and RRDBs (section 3.1)

# Key names of an RRDBNet layout: {i} block, {r} dense block 1..3, {c} conv 1..5, {nb} blocks.
RRDB_NAMES = {
    "esrgan_old_arch": {"first": "model.0", "blocks": r"model\.1\.sub\.(\d+)\.RDB1\.",
                        "rdb": "model.1.sub.{i}.RDB{r}.conv{c}.0", "trunk": "model.1.sub.{nb}",
                        "up1": "model.3", "up2": "model.6", "hr": "model.8", "last": "model.10"},
    "esrgan": {"first": "conv_first", "blocks": r"RRDB_trunk\.(\d+)\.",
               "rdb": "RRDB_trunk.{i}.RDB{r}.conv{c}", "trunk": "trunk_conv", "up1": "upconv1",
               "up2": "upconv2", "hr": "HRconv", "last": "conv_last"},
    "rrdbnet": {"first": "conv_first", "blocks": r"body\.(\d+)\.", "rdb": "body.{i}.rdb{r}.conv{c}",
                "trunk": "conv_body", "up1": "conv_up1", "up2": "conv_up2", "hr": "conv_hr",
                "last": "conv_last"},
}


def _rrdb_reference(names):
    """The RRDBNet forward (ESRGAN section 3.1; Real-ESRGAN's pixel-unshuffle for x2 / x1) on
    the key names `names` (an RRDB_NAMES entry)."""
    def forward(ops, x):
        first = ops.w[names["first"] + ".weight"]
        factor = math.isqrt(int(first.shape[1]) // int(x.shape[1]))  # 1, 2 (x2) or 4 (x1)
        feat = ops.conv(ops.unshuffle(x, factor) if factor > 1 else x, names["first"])
        num_block = ops.count(names["blocks"])
        trunk = feat
        for i in range(num_block):
            block_in = trunk
            for r in (1, 2, 3):
                dense = [trunk]
                for c in (1, 2, 3, 4):
                    conv = names["rdb"].format(i=i, r=r, c=c)
                    dense.append(ops.lrelu(ops.conv(ops.cat(dense), conv)))
                conv = names["rdb"].format(i=i, r=r, c=5)
                trunk = ops.conv(ops.cat(dense), conv) * RESIDUAL_SCALE + dense[0]
            trunk = trunk * RESIDUAL_SCALE + block_in
        feat = feat + ops.conv(trunk, names["trunk"].format(nb=num_block))
        feat = ops.lrelu(ops.conv(ops.upsample(feat, 2), names["up1"]))
        feat = ops.lrelu(ops.conv(ops.upsample(feat, 2), names["up2"]))
        return ops.conv(ops.lrelu(ops.conv(feat, names["hr"])), names["last"])
    return forward


def read_rrdbnet(state):
    """RRDBNet options off converted tensors. The output channels are taken for the input's
    (every published RRDBNet maps RGB to RGB), so conv_first's input channels tell the
    pixel-unshuffle: C (x4), 4C (x2), 16C (x1)."""
    first, last, grow = tensors(state, "an RRDBNet layout", "conv_first.weight",
                                "conv_last.weight", "body.0.rdb1.conv1.weight")
    channels = int(last.shape[0])
    scale = {channels: 4, 4 * channels: 2, 16 * channels: 1}.get(int(first.shape[1]))
    if scale is None:
        raise ConversionError(f"conv_first.weight takes {first.shape[1]} channels for "
                              f"{channels} output channels; RRDBNet takes C (x4), 4C (x2) or "
                              f"16C (x1, pixel-unshuffled input) for C output channels")
    return {"in_channels": channels, "out_channels": channels, "scale": scale,
            "num_feat": int(first.shape[0]), "num_block": len(indices(state, r"body\.(\d+)\.")),
            "num_grow_ch": int(grow.shape[0])}


def _prelu_slopes(match, keys):
    """BasicSR SRVGGNetCompact `body.N.weight`: a conv's (with `body.N.bias`) or, without a
    bias, a PReLU's slopes, which Paddle names `_weight`."""
    return f"body.{match[1]}.{'weight' if f'body.{match[1]}.bias' in keys else '_weight'}"


def _ref_srvgg(ops, x):
    """BasicSR basicsr/archs/srvgg_arch.py SRVGGNetCompact (act_type 'prelu')."""
    convs = sorted({int(k.split(".")[1]) for k in ops.w if k.endswith(".bias")})
    out = x
    for n in convs[:-1]:
        out = ops.prelu(ops.conv(out, f"body.{n}"), f"body.{n + 1}")
    out = ops.conv(out, f"body.{convs[-1]}")
    scale = math.isqrt(int(out.shape[1]) // int(x.shape[1]))
    return ops.shuffle(out, scale) + ops.upsample(x, scale)


def read_srvgg(state):
    """SRVGGNetCompact options off converted tensors: channels, width, convolutions, scale
    (the last conv gives C * scale^2 channels for the pixel shuffle)."""
    convs = indices(state, r"body\.(\d+)\.bias$")
    if len(convs) < 2:
        raise ConversionError("SRVGGNetCompact needs a first and a last convolution "
                              f"(body.N.weight and body.N.bias), found {len(convs)}")
    first, last = state[f"body.{convs[0]}.weight"], state[f"body.{convs[-1]}.weight"]
    channels = int(first.shape[1])
    scale = math.isqrt(int(last.shape[0]) // channels)
    if scale < 1 or scale * scale * channels != last.shape[0]:
        raise ConversionError(f"body.{convs[-1]}.weight gives {last.shape[0]} channels, not "
                              f"{channels} x scale^2 for the pixel shuffle")
    if f"body.{convs[0] + 1}._weight" not in state:
        raise ConversionError(f"body.{convs[0] + 1} holds no PReLU slopes: its activation is "
                              f"ReLU or LeakyReLU, which the weights do not tell (published "
                              f"SRVGGNetCompact files use PReLU)")
    return {"in_channels": channels, "num_feat": int(first.shape[0]),
            "num_conv": len(convs) - 2, "scale": scale, "act_type": "prelu"}


def _ref_vgg_discriminator(ops, x):
    """BasicSR basicsr/archs/discriminator_arch.py VGGStyleDiscriminator (eval mode)."""
    feat = ops.lrelu(ops.conv(x, "conv0_0"))
    feat = ops.lrelu(ops.bn(ops.conv(feat, "conv0_1", 2, 1), "bn0_1"))
    for i in range(1, ops.count(r"conv(\d+)_0\.")):
        feat = ops.lrelu(ops.bn(ops.conv(feat, f"conv{i}_0", 1, 1), f"bn{i}_0"))
        feat = ops.lrelu(ops.bn(ops.conv(feat, f"conv{i}_1", 2, 1), f"bn{i}_1"))
    feat = ops.lrelu(ops.linear(feat.reshape([int(feat.shape[0]), -1]), "linear1"))
    return ops.linear(feat, "linear2")


def read_vgg_discriminator(state):
    """VGGStyleDiscriminator options: channels, width, and the crop side (a 6th stage,
    conv5_0, for 256x256)."""
    (first,) = tensors(state, "a VGG-style discriminator layout", "conv0_0.weight")
    return {"in_channels": int(first.shape[1]), "num_feat": int(first.shape[0]),
            "input_size": 256 if "conv5_0.weight" in state else 128}


def _ref_unet_discriminator(ops, x):
    """BasicSR UNetDiscriminatorSN (skip connections on, as Real-ESRGAN trains it), eval
    mode: each spectral-norm conv uses weight_orig / sigma, sigma = u . (W v) with the stored
    u, v (torch.nn.utils.spectral_norm)."""
    def sn_conv(feat, k, stride=1):
        w = ops.w[f"conv{k}.weight_orig"]
        u, v = ops.w[f"conv{k}.weight_u"], ops.w[f"conv{k}.weight_v"]
        sigma = (u * ops.lib.matmul(w.reshape([int(w.shape[0]), -1]), v)).sum()
        return ops.lrelu(ops.conv(feat, f"conv{k}", stride, 1, weight=w / sigma))

    x0 = ops.lrelu(ops.conv(x, "conv0"))
    x1 = sn_conv(x0, 1, 2)
    x2 = sn_conv(x1, 2, 2)
    x3 = sn_conv(x2, 3, 2)
    x4 = sn_conv(ops.upsample(x3, 2, "bilinear"), 4) + x2
    x5 = sn_conv(ops.upsample(x4, 2, "bilinear"), 5) + x1
    x6 = sn_conv(ops.upsample(x5, 2, "bilinear"), 6) + x0
    return ops.conv(sn_conv(sn_conv(x6, 7), 8), "conv9")


def read_unet_discriminator(state):
    """UNetDiscriminatorSN options: channels and width."""
    (first,) = tensors(state, "a U-Net discriminator layout", "conv0.weight")
    return {"in_channels": int(first.shape[1]), "num_feat": int(first.shape[0])}


def _rrdb_layout(source, signature, rules, names):
    return Layout(source, signature, rules, model="RRDBNet", read=read_rrdbnet,
                  reference=_rrdb_reference(RRDB_NAMES[names]))


ESRGAN_LAYOUTS = {
    "esrgan_old_arch": _rrdb_layout(
        "xinntao/ESRGAN architecture.py RRDB_Net (the first release, *_old_arch.pth)",
        (r"^model\.0\.weight$", r"^model\.1\.sub\.0\.RDB1\.conv1\.0\.weight$"),
        ((r"^model\.0\.", "conv_first."),
         (r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.", r"body.\1.rdb\2.conv\3."),
         (r"^model\.1\.sub\.\d+\.(?=(weight|bias)$)", "conv_body."),  # the trunk conv
         (r"^model\.3\.", "conv_up1."),
         (r"^model\.6\.", "conv_up2."),
         (r"^model\.8\.", "conv_hr."),
         (r"^model\.10\.", "conv_last.")),
        "esrgan_old_arch"),
    "esrgan": _rrdb_layout(
        "xinntao/ESRGAN RRDBNet_arch.py RRDBNet (also mmsr)",
        (r"^conv_first\.weight$", r"^RRDB_trunk\.0\.RDB1\.conv1\.weight$"),
        ((r"^RRDB_trunk\.(\d+)\.RDB([123])\.", r"body.\1.rdb\2."),
         (r"^trunk_conv\.", "conv_body."),
         (r"^upconv([12])\.", r"conv_up\1."),
         (r"^HRconv\.", "conv_hr.")),
        "esrgan"),
    "rrdbnet": _rrdb_layout(
        "BasicSR rrdbnet_arch.py RRDBNet (ESRGAN, Real-ESRGAN x4plus / x2plus)",
        (r"^conv_first\.weight$", r"^body\.0\.rdb1\.conv1\.weight$"),
        (), "rrdbnet"),
    "srvgg": Layout(
        "BasicSR srvgg_arch.py SRVGGNetCompact (Real-ESRGAN realesr-animevideov3, "
        "realesr-general-x4v3)",
        (r"^body\.0\.weight$", r"^body\.0\.bias$", r"^body\.2\.weight$"),
        ((r"^body\.(\d+)\.weight$", _prelu_slopes),),
        model="SRVGGNetCompact", read=read_srvgg, reference=_ref_srvgg),
    "vgg_discriminator": Layout(
        "BasicSR discriminator_arch.py VGGStyleDiscriminator (ESRGAN's discriminator)",
        (r"^conv0_0\.weight$", r"^linear1\.weight$"),
        (), model="VGGStyleDiscriminator", read=read_vgg_discriminator,
        reference=_ref_vgg_discriminator, linear=r"^linear\d\.weight$"),
    "unet_discriminator": Layout(
        "BasicSR discriminator_arch.py UNetDiscriminatorSN (Real-ESRGAN's discriminator)",
        (r"^conv0\.weight$", r"^conv1\.weight_orig$"),
        (), model="UNetDiscriminatorSN", read=read_unet_discriminator,
        # the weights cannot tell; Real-ESRGAN's recipes all train with skip connections
        options={"skip_connection": True}, reference=_ref_unet_discriminator),
}
