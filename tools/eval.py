#!/usr/bin/env python
"""PSNR/SSIM of a generator on SR benchmarks, computed the way the literature does.

Protocol: LR = MATLAB-exact bicubic of the mod-cropped HR (or the LR_bicubic/X<s> folders with
--lr-from folder), SR quantised to 8 bit, PSNR/SSIM on BT.601 Y with `scale` border pixels
removed (SSIM: 11x11 Gaussian, sigma 1.5; a gray image is scored on its own values, as the
literature's MATLAB scripts do); RGB columns too. A bicubic row is computed by the
same code.

Examples:
    python tools/eval.py -c configs/srgan.yml --weights output/srgan_x4/checkpoints/best.pdparams \\
        --data-root data/benchmarks --datasets Set5 Set14 B100 Urban100 DIV2K
    python tools/eval.py --bicubic-only --scale 4 --data-root data/benchmarks --datasets Set5

Writes results.json, per_image.csv and results.md to --out (default: an eval/ folder next to
the weights' checkpoints/ folder, or results/bicubic_x<scale>).
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from paddle_srgan import cli  # noqa: E402

ALL_SETS = ["Set5", "Set14", "B100", "Urban100", "DIV2K"]


def default_out(weights, scale):
    if weights is None:
        return os.path.join("results", f"bicubic_x{scale}")
    folder = os.path.dirname(os.path.abspath(weights))
    stem = os.path.splitext(os.path.basename(weights))[0]
    if os.path.basename(folder) == "checkpoints":
        folder = os.path.dirname(folder)
    return os.path.join(folder, "eval", stem)


def main(argv=None):
    ap = cli.parser(__doc__, config="optional",
                    config_help="model config (needed unless --bicubic-only)")
    ap.add_argument("--weights", help="generator weights: best.pdparams, a checkpoint, or "
                                      "converted weights")
    ap.add_argument("--data-root", default="data/benchmarks", help="folder holding Set5/, Set14/, ...")
    ap.add_argument("--datasets", nargs="+", default=None,
                    help=f"benchmarks to run (default: those of {', '.join(ALL_SETS)} present)")
    ap.add_argument("--scale", type=int, help="SR factor for --bicubic-only (else the config's)")
    ap.add_argument("--lr-from", choices=["matlab", "folder"], default="matlab",
                    help="LR inputs: MATLAB-exact bicubic of HR (default) or <set>/LR_bicubic/X<s>")
    ap.add_argument("--bicubic-only", action="store_true", help="only the bicubic baseline")
    ap.add_argument("--save-images", action="store_true", help="write SR outputs as PNG")
    ap.add_argument("--figures", action="store_true",
                    help="write labelled centre crops LR | bicubic | SR | HR (with PSNR) as PNG")
    ap.add_argument("--lpips", metavar="WEIGHTS",
                    help="also score LPIPS v0.1 (lower is better) with the .pdparams made once by "
                         "tools/convert_lpips_weights.py (RGB evaluation only)")
    ap.add_argument("--use-ema", action="store_true",
                    help="evaluate the EMA generator of a training checkpoint")
    ap.add_argument("--out", help="output folder for results files and images")
    args = ap.parse_args(argv)

    from paddle_srgan.data import benchmarks
    from paddle_srgan.data.benchmarks import BenchmarkSet

    if args.bicubic_only:
        cfg = cli.config_from_args(args) if args.config else None
        scale = args.scale or (cfg["scale"] if cfg else 4)
    else:
        if not args.config or not args.weights:
            raise ValueError("give -c CONFIG and --weights FILE (or --bicubic-only)")
        cfg = cli.config_from_args(args)
        scale = cfg["scale"]
        if args.scale and args.scale != scale:
            raise ValueError(f"--scale {args.scale} differs from the config's scale {scale}")
    channel = cfg["datasets"]["val"]["channel"] if cfg else None
    if args.datasets:
        names = [benchmarks.canonical_name(n) for n in args.datasets]
    else:
        names = [n for n in ALL_SETS if benchmarks.count_images(
            Path(args.data_root) / benchmarks.BENCHMARKS[n][1][0])]
        if not names:
            raise FileNotFoundError(f"no benchmark sets under {args.data_root} (expected "
                                    f"{', '.join(ALL_SETS)}; see tools/prepare_data.py check)")
    sets = {}
    for name in names:  # find them all first: a missing set fails before any work
        hr_dir = benchmarks.find_benchmark(args.data_root, name)
        lr_dir = None
        if args.lr_from == "folder":
            lr_dir = benchmarks.lr_folder(hr_dir) / f"X{scale}"
            if not lr_dir.is_dir():
                raise FileNotFoundError(f"--lr-from folder: {lr_dir} does not exist")
        sets[name] = BenchmarkSet(hr_dir, scale, lr_dir=lr_dir, channel=channel, key=name)

    lpips_net = None
    if args.lpips:
        if channel is not None:
            raise ValueError("--lpips needs RGB evaluation; this config evaluates one channel")
        from paddle_srgan import metrics as metrics_mod
        lpips_net = metrics_mod.load_lpips(args.lpips)

    from paddle_srgan.engine import evaluator, figures, report
    generator, method = None, None
    if not args.bicubic_only:
        from paddle_srgan.compat import use_device
        from paddle_srgan.engine.checkpoint import load_generator_weights
        from paddle_srgan.storage import file_md5
        from paddle_srgan.models import build_generator
        use_device(cfg["device"], cfg["cpu_threads"])
        generator = load_generator_weights(build_generator(cfg), args.weights, args.use_ema)
        generator.eval()
        method = cfg["network_g"]["type"]

    out_dir = args.out or default_out(args.weights if generator else None, scale)
    from tqdm import tqdm

    from paddle_srgan.data.io import write_image

    results = {}
    for name, dataset in sets.items():
        results[name] = {}
        bicubic_images = {}
        for label, net in [("bicubic", None)] + ([(method, generator)] if generator else []):
            lpips_scores = {}

            def on_image(item, sr, row, label=label, name=name, lpips_scores=lpips_scores):
                stem = item["name"]
                if lpips_net is not None:  # 16-bit scored on the 8-bit scale, like psnr/ssim
                    k = 255.0 / np.iinfo(item["hr"].dtype).max
                    lpips_scores[stem] = metrics_mod.lpips(sr * k, item["hr"] * k, lpips_net,
                                                           crop_border=scale)
                if label == "bicubic":
                    bicubic_images[stem] = (sr, row)
                if args.save_images:
                    write_image(os.path.join(out_dir, "images", name, label, f"{stem}.png"), sr)
                if args.figures and (label != "bicubic" or generator is None):
                    bicubic, bicubic_row = bicubic_images[stem]
                    panels = [("LR", item["lr_image"]),
                              (f"bicubic {bicubic_row['psnr']:.2f} dB", bicubic)]
                    if generator is not None:
                        panels.append((f"SR {row['psnr']:.2f} dB", sr))
                    panels.append(("HR", item["hr"]))
                    box = figures.centre_box(item["hr"].shape, 160, scale)
                    write_image(os.path.join(out_dir, "figures", name, f"{stem}.png"),
                                figures.comparison(panels, box))
            items = tqdm(dataset, desc=f"{name} {label}", leave=False, total=len(dataset))
            res = evaluator.evaluate(items, scale, net, on_image, rgb=True,
                                     level_scales=getattr(generator, "target_scales", None))
            if lpips_net is not None:
                for row in res["per_image"]:
                    row["lpips"] = lpips_scores[row["name"]]
                res["lpips"] = float(np.mean([row["lpips"] for row in res["per_image"]]))
            results[name][label] = res

    from paddle_srgan import metrics
    meta = {**metrics.protocol(scale, y_channel=channel is None,
                               lr_from="matlab-bicubic" if args.lr_from == "matlab"
                               else "LR_bicubic folder"),
            "scale": scale, "channel": channel, "weights": args.weights,
            "weights_md5": file_md5(args.weights) if generator else None, "use_ema": args.use_ema,
            "datasets": names}
    if lpips_net is not None:
        meta.update(metrics.lpips_protocol(lpips_net, scale), lpips_weights=args.lpips)
    report.write_results(out_dir, results, meta)
    print(report.console_table(results))
    print(f"\nwrote {out_dir}/results.json, per_image.csv, results.md")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
