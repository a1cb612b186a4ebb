#!/usr/bin/env python
"""Export a trained generator for deployment (paddle.jit; optionally ONNX).

Examples:
    python tools/export.py -c configs/srgan.yml \\
        --weights output/srgan_x4/checkpoints/best.pdparams --out exported/srgan_x4
    python tools/export.py --weights output/demo_x4/checkpoints/gan_G.pdparams \\
        --out exported/demo_x4          # -c left out: the run's output/demo_x4/config.yml
    python tools/export.py -c configs/srgan.yml --weights best.pdparams --out exported/srgan_x4 \\
        --onnx

Writes <out>.json (Paddle 3.x) or <out>.pdmodel (Paddle 2.6), <out>.pdiparams and <out>.yml
(scale, channels, value ranges, receptive field, Paddle version, weights path and md5, and
trained_for: the LR the model was trained on, "bicubic (clean)" or "realworld: JPEG q30-95,
..." from the config's datasets.train, shown by tools/infer.py and tools/app.py); with
--onnx also <out>.onnx (needs `pip install paddle2onnx`). Paddle 2.6 cannot read a Paddle 3.x
export: export with the oldest Paddle that will run it (3.x reads 2.6 exports).
An earlier export at <out> is replaced only once the new one is complete (an interrupted export
leaves the earlier one as it was). Run it with tools/infer.py --model <out>.
"""
import os
import sys

from paddle_srgan import cli
from paddle_srgan.errors import MissingPackageError


def main(argv=None):
    ap = cli.parser(__doc__, config="optional", config_help=cli.WEIGHTS_CONFIG_HELP)
    ap.add_argument("--weights", required=True,
                    help="generator weights: best.pdparams, a checkpoint, or converted weights")
    ap.add_argument("--use-ema", action="store_true",
                    help="export the EMA generator of a training checkpoint")
    ap.add_argument("--out", required=True, help="output prefix, e.g. exported/srgan_x4")
    ap.add_argument("--onnx", action="store_true", help="also write <out>.onnx (paddle2onnx)")
    ap.add_argument("--opset", type=cli.POSITIVE_INT, default=11,
                    help="ONNX opset for --onnx (default 11)")
    args = ap.parse_args(argv)

    from paddle_srgan.deploy import export
    if args.onnx and not export.onnx_available():  # before any work: no half-done export
        raise MissingPackageError(export.ONNX_MISSING)
    cli.check_output_folder(os.path.dirname(os.path.abspath(args.out)), "--out")
    cfg = cli.config_from_args(args, args.weights)
    # the export replaces every file of its prefix: none may be the config or the weights
    from paddle_srgan.deploy.predictor import EXPORT_SUFFIXES
    cli.refuse_replacing_inputs([args.out + suffix for suffix in EXPORT_SUFFIXES],
                                {"config": cfg.get("_source"), "--weights": args.weights})

    from paddle_srgan.checkpoint import load_generator
    from paddle_srgan.compat import import_paddle
    import_paddle().set_device("cpu")  # tracing needs no GPU; the export runs anywhere
    generator = load_generator(cfg, args.weights, args.use_ema, args.override)
    meta = export.export_generator(generator, args.out,
                                   export.provenance(cfg, args.weights, args.use_ema),
                                   onnx_opset=args.opset if args.onnx else None)
    folder = os.path.dirname(os.path.abspath(args.out))
    written = [meta["model_file"], meta["params_file"], os.path.basename(args.out) + ".yml"]
    if args.onnx:
        written.append(os.path.basename(args.out) + ".onnx")
    radius = meta["receptive_field_radius"]
    field = "unbounded, no tiling" if radius is None else f"{radius} LR px"
    print(f"wrote {', '.join(written)} to {folder} (Paddle {meta['paddle_version']}, x"
          f"{meta['scale']}, receptive field {field}; trained for {meta['trained_for']})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
