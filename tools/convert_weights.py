#!/usr/bin/env python
"""Convert published PyTorch SRResNet / SRGAN / ESRGAN / Real-ESRGAN weights to a paddle-srgan
.pdparams + model config.

Examples:
    python tools/convert_weights.py --src netG_epoch_4_100.pth --out srgan_leftthomas.pdparams
    python tools/convert_weights.py --src RealESRGAN_x4plus.pth --out realesrgan_x4.pdparams --check
    python tools/eval.py -c realesrgan_x4.yml --weights realesrgan_x4.pdparams --datasets Set5

Sources: torch.save files (.pth/.pt/.tar/.ckpt/.bin; zip or legacy format, read without torch
and without running any code stored in them), .safetensors, .npz (a state dict saved with
numpy), .pdparams. Checkpoints holding the state dict under params_ema / params / state_dict /
model / generator are unwrapped; DataParallel's `module.` prefix is dropped.

Layouts (detected from the keys; --layout forces one):
    srresnet            sgrvinod tutorial SRResNet, or its SRGAN Generator (net. prefix)
    onnx_srresnet       PyTorch's ONNX-example SRResNet (the SRGAN authors' circulating weights)
    msrresnet           BasicSR MSRResNet (x2, x4)
    leftthomas          leftthomas/SRGAN Generator (netG_epoch_<s>_<e>.pth)
    discriminator       sgrvinod tutorial Discriminator
    esrgan_old_arch     ESRGAN's first release, RRDB_ESRGAN_x4_old_arch.pth (model.0, model.1.sub.N)
    esrgan              ESRGAN RRDBNet_arch.py, RRDB_ESRGAN_x4.pth (RRDB_trunk.N, trunk_conv, ...)
    rrdbnet             BasicSR / Real-ESRGAN RRDBNet x4, x2plus, x1 (body.N.rdb1, conv_body, ...)
    srvgg               Real-ESRGAN SRVGGNetCompact (realesr-animevideov3, realesr-general-x4v3)
    vgg_discriminator   BasicSR VGGStyleDiscriminator (ESRGAN's net_d)
    unet_discriminator  BasicSR UNetDiscriminatorSN (Real-ESRGAN's net_d, spectral norm)

Keys are mapped to our layer names, the network's options (width, blocks, scale, activations,
output range, ...) are read off the tensors and the layout, and the weights are loaded into
that network, so every key and shape is checked before anything is written. Writes OUT (the
weights) and OUT with .yml (a model config for tools/eval.py, tools/train.py, tools/export.py;
for a discriminator, its network_d section). --check compares our network's output with the
layout's published forward pass run by PyTorch (if importable) and by Paddle ops, on a random
input.
"""
import os
import sys
from pathlib import Path

from paddle_srgan import cli

HEADER = "# Model config of {weights}, converted by tools/convert_weights.py\n"


def write_config(cfg, path, src, layout):
    import yaml

    from paddle_srgan.storage import atomic_write_text
    header = (HEADER.format(weights=Path(path).with_suffix('.pdparams').name)
              + f"# from {src} (layout: {layout}).\n")
    atomic_write_text(header + yaml.safe_dump(cfg, sort_keys=False), path)


def refuse_foreign_config(path):
    """InputError when `path` (the .yml beside --out) exists but was not written by this tool
    (its first line is not HEADER's): a user's own config is never replaced."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    if first != HEADER.format(weights=Path(path).with_suffix(".pdparams").name):
        from paddle_srgan.errors import InputError
        raise InputError(f"{path} exists and was not written by convert_weights.py (the config "
                         f"of the converted weights goes there); nothing was written: choose "
                         f"another --out")


def report_parity(convert, layout, state, net):
    """Print one line per backend; fail if a difference exceeds convert.PARITY_TOLERANCE."""
    worst = 0.0
    for backend in ("torch", "paddle"):
        try:
            diff = convert.parity(layout, state, net, backend)
        except ModuleNotFoundError as exc:
            if exc.name != backend:  # our own import failing is a bug, not a missing torch
                raise
            print("check: skipped the PyTorch comparison (torch is not importable here)")
            continue
        except convert.ConversionError as exc:
            print(f"check: skipped ({exc})")
            return
        worst = max(worst, diff)
        side = convert.check_side(net)
        print(f"check: max |ours - {layout} definition run by {backend}| = {diff:.2e} "
              f"(random 1x{net.in_channels}x{side}x{side} input, eval mode)")
    if worst > convert.PARITY_TOLERANCE:
        raise convert.ConversionError(f"parity check failed: {worst:.2e} > "
                                      f"{convert.PARITY_TOLERANCE:.0e}")


def main(argv=None):
    from paddle_srgan.published_weights import convert  # cheap: no paddle until a network is built
    ap = cli.parser(__doc__, config=False)
    ap.add_argument("--src", required=True, help="PyTorch weights (.pth/.pt/.safetensors/.npz) "
                                                 "or a .pdparams")
    ap.add_argument("--out", required=True, help="output .pdparams (the .yml goes beside it)")
    ap.add_argument("--layout", "--arch", dest="layout", default="auto",
                    choices=["auto", *convert.LAYOUTS],
                    help="layout of the source keys (default: detected); --arch is the old name")
    ap.add_argument("--check", action="store_true",
                    help="compare outputs with the layout's PyTorch definition (needs torch for "
                         "the PyTorch side; Paddle ops otherwise)")
    args = ap.parse_args(argv)

    from paddle_srgan import models
    config = str(Path(args.out).with_suffix(".yml"))
    cli.refuse_replacing_inputs([args.out, config], {"--src": args.src})
    refuse_foreign_config(config)
    source = convert.read_state(args.src)
    layout = convert.detect_layout(source, args.src) if args.layout == "auto" else args.layout
    state = convert.convert_state(source, layout)
    model, found, kwargs = convert.model_options(state, layout)
    net = models.MODELS[model](**kwargs)
    origins = {ours: theirs for theirs, ours in
               convert.key_map(convert.strip_prefixes(source), layout).items()}
    convert.load_into(net, state, source=f"{args.src} (layout {layout})", origins=origins)
    convert.save_state(state, args.out)
    write_config(convert.model_config(model, kwargs), config, args.src, layout)
    print(f"layout {layout}: {convert.LAYOUTS[layout].source}")
    print(f"wrote {args.out}: {model}({', '.join(f'{k}={v}' for k, v in found.items())}), "
          f"{models.count_parameters(net):,} parameters")
    print(f"wrote {config}")
    if args.check:
        report_parity(convert, layout, source, net)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
