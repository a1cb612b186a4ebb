"""Training-data throughput of paddle_srgan.data.datasets.build_train_loader.

Prints one JSON object: patches per second and milliseconds per batch (batch 16, 384x384 HR /
96x96 LR crops, x4, flips + rot90) for

* ``hr_only``: LR made from each HR crop by MATLAB-exact bicubic,
* ``paired``: LR read from files written by ``tools/prepare_data.py make-lr``,

each with 0 DataLoader workers (everything in the main process, for reference) and 2
workers, with the image cache off (the default: every patch decodes a whole 2K PNG) and on,
and on 480x480 sub-images (make-lr --sub-images 480 --step 240; cache off).
The data are 8 DIV2K-sized (1356x2040) PNGs, each a 2x2 mosaic of scikit-image's sample
photos, written to a temporary folder. Warm-up batches (worker start-up, first decodes) are
not timed. Other processes running on the machine lower the numbers: check its load.

    python benchmarks/bench_data.py [--batches N] [--warmup N]

Needs scikit-image (the test extra) for the sample photos.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from paddle_srgan.config import load_config
from paddle_srgan.data.datasets import build_train_loader
from paddle_srgan.data.io import write_image

ROOT = Path(__file__).resolve().parents[1]

DIV2K_HW = (1356, 2040)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina", "colorwheel")


def div2k_like_images(n):
    """n uint8 [1356, 2040, 3] images, image i = 2x2 mosaic of photos i..i+3 (cyclic)."""
    try:
        from skimage import data
    except ImportError:
        sys.exit("bench_data.py needs scikit-image for its sample photos: pip install scikit-image")
    h, w = DIV2K_HW[0] // 2, DIV2K_HW[1] // 2
    tiles = [cv2.resize(getattr(data, name)(), (w, h), interpolation=cv2.INTER_CUBIC)
             for name in PHOTOS]
    images = []
    for i in range(n):
        quad = [tiles[(i + j) % len(tiles)] for j in range(4)]
        images.append(np.vstack([np.hstack(quad[:2]), np.hstack(quad[2:])]))
    return images


def throughput(cfg, warmup, batches):
    """Speed of the loader of ``cfg`` over ``batches`` timed batches.

    Returns:
        {"patches_per_s", "ms_per_batch" (wall), "main_cpu_ms_per_batch"}: the CPU time of
        this process, which other load on the machine does not inflate; with 0 workers it
        is all the loading work, with workers it is the cost of receiving batches.
    """
    batch_size = cfg["train"]["batch_size"]
    it = iter(build_train_loader(cfg))
    for _ in range(warmup):
        next(it)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(batches):
        batch = next(it)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert list(batch["hr"].shape) == [batch_size, 3, 384, 384]
    assert list(batch["lr"].shape) == [batch_size, 3, 96, 96]
    # Stop the prefetch thread and workers now, before the next configuration starts its own
    # and before the images' temporary folder goes. `del it` would not: the iterator's own
    # prefetch thread holds a reference to it, so its __del__ (the shutdown) never runs.
    it.__del__()
    return {"patches_per_s": round(batches * batch_size / seconds, 1),
            "ms_per_batch": round(1000 * seconds / batches, 1),
            "main_cpu_ms_per_batch": round(1000 * cpu / batches, 1)}


def prepare(hr_dir, out_dir, *extra):
    """Run tools/prepare_data.py make-lr (x4); returns its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_data.py"), "make-lr",
                    "--hr", str(hr_dir), "--out", str(out_dir), "--scales", "4", *extra],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=10, help="timed batches per configuration")
    ap.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    ap.add_argument("--images", type=int, default=8, help="DIV2K-sized images to synthesise")
    ap.add_argument("--smoke", action="store_true",
                    help="one image, one batch per configuration: checks the script runs")
    args = ap.parse_args()
    batch_size = 16
    if args.smoke:
        args.batches, args.warmup, args.images, batch_size = 1, 0, 1, 2

    import paddle

    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        for i, img in enumerate(div2k_like_images(args.images), start=1):
            write_image(tmp / "HR" / f"{i:04d}.png", img)
        png_mb = np.mean([p.stat().st_size for p in (tmp / "HR").iterdir()]) / 2 ** 20
        make_lr_seconds = prepare(tmp / "HR", tmp / "LR")
        prepare(tmp / "HR", tmp / "LR_sub", "--sub-images", "480", "--step", "240",
                "--sub-out", str(tmp / "HR_sub"))
        n_sub = len(list((tmp / "HR_sub").iterdir()))

        # name: (HR folder, LR folder, type, cache, workers)
        setups = {}
        for mode in ("hr_only", "paired"):
            for cache in (False, True):
                for workers in (0, 2):
                    name = f"{mode}_workers{workers}" + ("_cache" if cache else "")
                    setups[name] = ("HR", "LR/X4", mode, cache, workers)
            for workers in (0, 2):
                setups[f"{mode}_subimages_workers{workers}"] = ("HR_sub", "LR_sub/X4", mode,
                                                                False, workers)
        runs = {}
        for name, (hr_dir, lr_dir, mode, cache, workers) in setups.items():
            cfg = load_config(None, [
                f"data_root={tmp}", f"datasets.train.hr_dir={hr_dir}",
                f"datasets.train.lr_dir={lr_dir}", f"datasets.train.type={mode}",
                "datasets.train.hr_crop=384", f"datasets.train.cache={cache}",
                f"datasets.train.num_workers={workers}", f"train.batch_size={batch_size}",
                "scale=4"])
            runs[name] = throughput(cfg, args.warmup, args.batches)

    report = {
        "benchmark": "build_train_loader throughput, x4, 384 HR / 96 LR crops, flip+rot90",
        "images": args.images,
        "image_hw": list(DIV2K_HW),
        "hr_png_mb_mean": round(float(png_mb), 2),
        "batch_size": batch_size,
        "warmup_batches": args.warmup,
        "timed_batches": args.batches,
        "make_lr_x4_seconds": round(make_lr_seconds, 2),
        "subimages_480_step_240": n_sub,
        "cpu_cores": os.cpu_count(),
        "load_avg_1min": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "numpy": np.__version__,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
