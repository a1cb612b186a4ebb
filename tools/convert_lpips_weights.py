#!/usr/bin/env python
"""One-time step: make the LPIPS weights file that eval.py --lpips (models.lpips.load_lpips)
reads.

LPIPS v0.1 needs two published PyTorch files, read here without PyTorch:
  --lin       the authors' calibrated lin layers: lpips/weights/v0.1/alex.pth (or vgg.pth)
              inside the `lpips` package (pip download lpips --no-deps; the .whl is a zip)
  --backbone  torchvision's ImageNet weights, downloaded once by hand:
              https://download.pytorch.org/models/alexnet-owt-7be5be79.pth  (alex)
              https://download.pytorch.org/models/vgg16-397923af.pth        (vgg)
Both may also be .npz files of the same state dicts (np.savez(f, **{k: v.numpy() ...})) or
.safetensors.
The backbone (alex or vgg) is read off the tensors; every key and shape is checked by loading
the result into the network before anything is written.

Example:
    python tools/convert_lpips_weights.py --lin lpips/weights/v0.1/alex.pth \\
        --backbone alexnet-owt-7be5be79.pth --out weights/lpips_alex.pdparams
"""
import os
import sys

from paddle_srgan import cli

WHERE = {"--lin": "weights/v0.1/<alex|vgg>.pth of the 'lpips' package (pip download lpips)",
         "--backbone": "torchvision's alexnet-owt-7be5be79.pth or vgg16-397923af.pth from "
                       "https://download.pytorch.org/models/"}


def read_weights(path, flag):
    """{name: np.ndarray} of a .npz, or of a torch.save file (.pth, zip or legacy format,
    read without PyTorch) / .safetensors."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{flag} {path}: no such file (expected {WHERE[flag]})")
    if path.lower().endswith(".npz"):
        from paddle_srgan.published_weights.convert import read_state
        return read_state(path)
    from paddle_srgan.published_weights.torch_files import read_torch_weights
    return read_torch_weights(path)


def main(argv=None):
    ap = cli.parser(__doc__, config=False)
    ap.add_argument("--lin", required=True,
                    help="LPIPS lin weights: weights/v0.1/alex.pth or vgg.pth")
    ap.add_argument("--backbone", required=True,
                    help="torchvision weights: alexnet-owt-7be5be79.pth or vgg16-397923af.pth")
    ap.add_argument("--out", required=True, help="output .pdparams")
    args = ap.parse_args(argv)

    lin_state = read_weights(args.lin, "--lin")
    backbone_state = read_weights(args.backbone, "--backbone")

    from paddle_srgan.models import lpips
    from paddle_srgan.published_weights.convert import save_state
    backbone, state = lpips.from_torch_state(backbone_state, lin_state,
                                             backbone_source=args.backbone, lin_source=args.lin)
    lpips.LPIPS(backbone).set_weights(state, source=f"{args.backbone} + {args.lin}")
    save_state(state, args.out)
    print(f"wrote {args.out}: LPIPS v0.1, {backbone} backbone, {len(state)} tensors "
          f"({sum(v.size for v in state.values()):,} values)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
