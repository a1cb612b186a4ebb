#!/usr/bin/env python
"""PSNR/SSIM/MS-SSIM and NIQE of generators on SR benchmarks, computed the way the literature does.

Protocol: LR = MATLAB-exact bicubic of the mod-cropped HR (or the LR_bicubic/X<s> folders with
--lr-from folder), SR quantised to 8 bit, PSNR/SSIM on BT.601 Y with `scale` border pixels
removed (SSIM: 11x11 Gaussian, sigma 1.5; MS-SSIM: SSIM at five scales; a gray image is
scored on its own values, as the literature's MATLAB scripts do); RGB columns too.
Perception: NIQE (MATLAB release, lower is more natural) and the grid score (dB of spectral
peaks at the pixel-shuffle period) on the same luma and border. A bicubic row and an HR row
(the HR images' own NIQE) come with every set.

Examples:
    python tools/eval.py -c configs/srgan.yml --weights output/srgan_x4/checkpoints/best.pdparams \\
        --data-root data/benchmarks --datasets Set5 Set14 B100 Urban100 DIV2K
    python tools/eval.py --figures --datasets Set5 data/heldout/HR \\
        --weights output/demo_x4/checkpoints/{mse_G,gan_G}.pdparams  # config: the run's
    python tools/eval.py --bicubic-only --scale 4 --data-root data/benchmarks --datasets Set5

Under degradation (a fixed, per-image seeded spec on the MATLAB-bicubic LR; grammar in
paddle_srgan/data/degrade_spec.py):
    python tools/eval.py --bicubic-only --datasets Set5 --degrade blur:1.2+noise:5+jpeg:50

Writes results.json, per_image.csv and results.md to --out (default: an eval/ folder next to
the weights' checkpoints/ folder; for --bicubic-only, eval/bicubic_x<scale> in the -c config's
run directory, or in output_dir); rows are named by the weights' file stems; --figures adds
labelled crops (figures/; gray images shown gray, as tools/infer.py returns them) and
perception_distortion.png (PSNR against NIQE, every method and the HR line).
"""
import sys

from paddle_srgan import cli
from paddle_srgan.evaluation import session


def main(argv=None):
    ap = cli.parser(__doc__, config="optional",
                    config_help="model config of --weights; default: the config.yml of the "
                                "training run the (first) weights lie in")
    ap.add_argument("--weights", nargs="+", default=[],
                    help="generator weights: best.pdparams, a checkpoint, or converted weights; "
                         "several files (same config) are compared side by side")
    ap.add_argument("--data-root", default="data/benchmarks",
                    help="folder holding Set5/, Set14/, ...")
    ap.add_argument("--datasets", nargs="+", default=None,
                    help=f"benchmarks to run (default: those of "
                         f"{', '.join(session.ALL_SETS)} present); a folder of images "
                         f"(e.g. your own held-out photos) works too")
    ap.add_argument("--scale", type=cli.POSITIVE_INT,
                    help="SR factor for --bicubic-only (else the config's)")
    ap.add_argument("--lr-from", choices=["matlab", "folder"], default="matlab",
                    help="LR inputs: MATLAB-exact bicubic of HR (default) or <set>/LR_bicubic/X<s>")
    ap.add_argument("--degrade", metavar="SPEC",
                    help="degrade the MATLAB-bicubic LR: blur:SIGMA (Gaussian, of the HR before "
                         "the shrink), noise:SIGMA (Gaussian, 0-255 scale), jpeg:Q, joined by '+' "
                         "(applied in that order; noise seeded by file name), e.g. "
                         "blur:1.2+noise:5+jpeg:50")
    ap.add_argument("--bicubic-only", action="store_true", help="only the bicubic baseline")
    ap.add_argument("--save-images", action="store_true", help="write SR outputs as PNG")
    ap.add_argument("--figures", action="store_true",
                    help="write labelled centre crops LR | bicubic | SR | HR (with PSNR) and the "
                         "perception-distortion plane (PSNR against NIQE) as PNG")
    session.add_metric_flags(ap)  # --no-niqe, --no-msssim, --lpips WEIGHTS: metrics.table
    ap.add_argument("--use-ema", action="store_true",
                    help="evaluate the EMA generator of a training checkpoint")
    ap.add_argument("--out", help="output folder for results files and images")
    return session.run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli.run(main))
