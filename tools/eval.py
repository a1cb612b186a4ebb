#!/usr/bin/env python
"""PSNR/SSIM and NIQE of generators on SR benchmarks, computed the way the literature does.

Protocol: LR = MATLAB-exact bicubic of the mod-cropped HR (or the LR_bicubic/X<s> folders with
--lr-from folder), SR quantised to 8 bit, PSNR/SSIM on BT.601 Y with `scale` border pixels
removed (SSIM: 11x11 Gaussian, sigma 1.5; a gray image is scored on its own values, as the
literature's MATLAB scripts do); RGB columns too. Perception: NIQE (MATLAB release, lower is
more natural) and the grid score (dB of spectral peaks at the pixel-shuffle period) on the
same luma and border. A bicubic row and an HR row (the HR images' own NIQE) come with every
set.

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
the weights' checkpoints/ folder, or results/bicubic_x<scale>); --figures adds labelled crops
and perception_distortion.png (PSNR against NIQE, every method and the HR line).
"""
import functools
import os
import sys

from paddle_srgan import cli
from paddle_srgan.errors import InputError

ALL_SETS = ["Set5", "Set14", "B100", "Urban100", "DIV2K"]  # data.benchmarks.BENCHMARKS


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def default_out(weights, scale, degrade=None):
    """eval/<stem>[_vs_<stem>...] beside the first weights' checkpoints/ folder; with a
    degradation spec, '_<spec without colons>' added (clean results are not overwritten)."""
    if degrade:
        return default_out(weights, scale) + "_" + degrade.replace(":", "")
    if not weights:
        return os.path.join("results", f"bicubic_x{scale}")
    folder = os.path.dirname(os.path.abspath(weights[0]))
    if os.path.basename(folder) == "checkpoints":
        folder = os.path.dirname(folder)
    return os.path.join(folder, "eval", "_vs_".join(stem(w) for w in weights))


def method_names(network, weights):
    """The results' name of each weights file: the network's class for one file, the files'
    stems for several (mse_G, gan_G; the path when stems repeat)."""
    if len(weights) == 1:
        return [network]
    stems = [stem(w) for w in weights]
    return stems if len(set(stems)) == len(stems) else list(weights)


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
                    help=f"benchmarks to run (default: those of {', '.join(ALL_SETS)} present); "
                         f"a folder of images (e.g. your own held-out photos) works too")
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
    ap.add_argument("--no-niqe", action="store_true",
                    help="skip NIQE (about 30 ms per 512x512 image; the grid score stays)")
    ap.add_argument("--lpips", metavar="WEIGHTS",
                    help="also score LPIPS v0.1 (lower is better) with the .pdparams made once by "
                         "tools/convert_lpips_weights.py (RGB evaluation only)")
    ap.add_argument("--use-ema", action="store_true",
                    help="evaluate the EMA generator of a training checkpoint")
    ap.add_argument("--out", help="output folder for results files and images")
    args = ap.parse_args(argv)

    if args.bicubic_only:
        cfg = cli.config_from_args(args) if args.config else None
        scale = args.scale or (cfg["scale"] if cfg else 4)
    else:
        if not args.weights:
            raise InputError("give --weights FILE [FILE ...] (with -c CONFIG unless they lie in "
                             "a training run's checkpoints/ folder), or --bicubic-only")
        cfg = cli.config_from_args(args, args.weights[0])
        scale = cfg["scale"]
        if args.scale and args.scale != scale:
            raise InputError(f"--scale {args.scale} differs from the config's scale {scale}")
    channel = cfg["datasets"]["val"]["channel"] if cfg else None
    from paddle_srgan.data.degrade_spec import canonical
    degrade = canonical(args.degrade)  # a bad spec fails here, before any work
    weights = [] if args.bicubic_only else args.weights
    out_dir = args.out or default_out(weights, scale, degrade)
    cli.check_output_folder(out_dir, "--out")  # before any work
    from paddle_srgan.engine.report import check_result_files
    check_result_files(out_dir)

    from paddle_srgan.data.benchmarks import open_benchmark_sets
    sets = open_benchmark_sets(args.data_root, args.datasets, scale, args.lr_from, channel,
                               degrade)

    lpips_net = None
    if args.lpips:
        if channel is not None:
            raise InputError("--lpips needs RGB evaluation; this config evaluates one channel")
        from paddle_srgan.models.lpips import load_lpips
        lpips_net = load_lpips(args.lpips)

    from paddle_srgan.engine import evaluator, figures, report
    generators = {}
    named = dict(zip(method_names(cfg["network_g"]["type"], weights), weights)) if weights else {}
    if named:
        from paddle_srgan.checkpoint import load_generator
        from paddle_srgan.compat import use_device
        use_device(cfg["device"], cfg["cpu_threads"])
        for name, path in named.items():
            generators[name] = load_generator(cfg, path, args.use_ema, args.override)
            generators[name].eval()

    from tqdm import tqdm
    writer = figures.EvalImageWriter(out_dir, scale, args.save_images, args.figures,
                                     methods=["bicubic", *generators])
    results = evaluator.evaluate_sets(
        sets, scale, generators,
        scorers=[evaluator.lpips_scorer(lpips_net)] if lpips_net is not None else [],
        on_image=writer, progress=functools.partial(tqdm, leave=False), niqe=not args.no_niqe)
    meta = evaluator.evaluation_meta(scale, channel, args.lr_from, sets, named, args.use_ema,
                                     lpips_net, args.lpips, niqe=not args.no_niqe,
                                     degrade=degrade)
    report.write_results(out_dir, results, meta)
    print(report.console_table(results, degrade))
    written = "results.json, per_image.csv, results.md"
    if args.figures and not args.no_niqe:
        figures.plot_perception_distortion(
            figures.perception_distortion_panels(results),
            os.path.join(out_dir, "perception_distortion.png"), title=f"x{scale}")
        written += ", perception_distortion.png"
    print(f"\nwrote {out_dir}/{written}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
