#!/usr/bin/env python
"""The real-photo figure (README and docs/results.md): one held-out photo whose x4 LR was
saved as JPEG, super-resolved by bicubic, a clean-trained and a realworld-trained generator,
side by side.

The LR is exactly what `tools/eval.py --degrade SPEC` evaluates (data.degrade_spec: MATLAB
bicubic, then JPEG). The panels are centre crops (or --box) labelled "PSNR / NIQE" of the
whole image (Y, 4-pixel border; NIQE: lower is more natural), scored by evaluation.evaluator as
tools/eval.py scores them:

    LR (JPEG) | bicubic | clean-trained | realworld-trained | HR

    python benchmarks/make_realworld_figure.py \\
        --clean output/demo_x4/checkpoints/mse_G.pdparams \\
        --realworld output/demo_realworld_x4/checkpoints/mse_G.pdparams \\
        [--image grace_hopper] [--degrade jpeg:50] [--out docs/realworld_jpeg50.png]

Each weights file's model config is its run's config.yml (as for tools/eval.py without -c).
Prints one JSON object: the file written and each panel's scores.
"""
import argparse
import json
import sys
from pathlib import Path

from paddle_srgan import cli
from paddle_srgan.data.benchmarks import BenchmarkSet
from paddle_srgan.data.io import write_image
from paddle_srgan.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def scored(item, scale, generator=None):
    """(SR image, {"psnr", "niqe", ...}) of bicubic (generator None) or a generator."""
    from paddle_srgan.evaluation.evaluator import evaluate
    images = []
    result = evaluate([item], scale, generator,
                      on_image=lambda _item, sr, _row: images.append(sr))
    return images[0], result["per_image"][0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", required=True, help="weights of the clean-trained generator")
    ap.add_argument("--realworld", required=True,
                    help="weights of the realworld-trained generator")
    ap.add_argument("--heldout", default=str(ROOT / "data" / "heldout" / "HR"),
                    help="folder of held-out HR photos (benchmarks/make_heldout.py)")
    ap.add_argument("--image", default="grace_hopper", help="file stem in --heldout")
    ap.add_argument("--degrade", default="jpeg:50", help="tools/eval.py --degrade SPEC")
    ap.add_argument("--box", type=int, nargs=3, metavar=("TOP", "LEFT", "SIDE"),
                    help="HR crop shown (default: a centred 176-pixel square)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "realworld_jpeg50.png"))
    args = ap.parse_args(argv)

    from paddle_srgan.checkpoint import load_generator
    from paddle_srgan.compat import use_device
    from paddle_srgan.config import load_config, weights_config
    from paddle_srgan.evaluation.figures import centre_box, comparison

    use_device("cpu", 0)
    models = {}
    for label, weights in (("clean", args.clean), ("realworld", args.realworld)):
        cfg = load_config(weights_config(None, weights))
        models[label] = load_generator(cfg, weights)
        models[label].eval()
    scale = cfg["scale"]
    items = [item for item in BenchmarkSet(args.heldout, scale, degrade=args.degrade)
             if item["name"] == args.image]
    if not items:
        raise InputError(f"--image {args.image}: no such image in {args.heldout}")
    item = items[0]
    panels, scores = [(f"LR ({args.degrade})", item["lr_image"])], {}
    for label, generator in [("bicubic", None), *models.items()]:
        image, row = scored(item, scale, generator)
        scores[label] = {k: round(float(row[k]), 3) for k in ("psnr", "ssim", "niqe", "grid")}
        panels.append((f"{label}: {row['psnr']:.2f} dB / {row['niqe']:.2f}", image))
    panels.append(("HR", item["hr_image"]))
    box = tuple(args.box) if args.box else centre_box(item["hr_image"].shape, 176, scale)
    write_image(args.out, comparison(panels, box))
    print(json.dumps({"out": args.out, "image": args.image, "degrade": args.degrade,
                      "box": list(box), "scores": scores}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
