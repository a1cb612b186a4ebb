#!/usr/bin/env python
"""Convert PyTorch SRResNet / SRGAN weights to a paddle-srgan .pdparams.

Example:
    python tools/convert_weights.py --src srresnet.npz --arch srresnet --out srresnet.pdparams

The source is a PyTorch state dict saved as .npz (on the PyTorch side:
np.savez('x.npz', **{k: v.cpu().numpy() for k, v in model.state_dict().items()})). Keys are
mapped to our layer names, the network's options (blocks, width, scale, channels) are read off
the tensors, and the result is loaded into the network to check every key and shape before
anything is written.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paddle_srgan import cli  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__, config=False)
    ap.add_argument("--src", required=True, help="PyTorch weights (.npz) or a .pdparams")
    ap.add_argument("--arch", required=True, choices=["srresnet", "discriminator"],
                    help="network the weights belong to (sgrvinod tutorial layout)")
    ap.add_argument("--out", required=True, help="output .pdparams")
    args = ap.parse_args(argv)

    from paddle_srgan import convert, models
    state = convert.convert_state(convert.read_state(args.src), args.arch)
    if args.arch == "srresnet":
        kwargs = convert.infer_srresnet_kwargs(state)
        net = models.SRResNet(**kwargs)
    else:
        kwargs = {"in_channels": int(state["features.0.weight"].shape[1])}
        net = models.Discriminator(**kwargs)
    convert.load_into(net, state, source=args.src)
    convert.save_state(state, args.out)
    print(f"wrote {args.out}: {type(net).__name__}({', '.join(f'{k}={v}' for k, v in kwargs.items())}), "
          f"{models.count_parameters(net):,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
