"""Training-data throughput of paddle_srgan.data.datasets.build_train_loader.

Prints one JSON object: patches per second and milliseconds per batch (batch 16, 384x384 HR /
96x96 LR crops, x4, flips + rot90) for

* ``hr_only``: LR made from each HR crop by MATLAB-exact bicubic,
* ``paired``: LR read from files written by ``tools/prepare_data.py make-lr``,

each with 0 DataLoader workers (everything in the main process, for reference) and 2
workers, with the image cache off (the default: every patch decodes a whole 2K PNG) and on.
The data are 8 DIV2K-sized (1356x2040) PNGs, each a 2x2 mosaic of scikit-image's sample
photos, written to a temporary folder. Warm-up batches (worker start-up, first decodes) are
not timed.

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paddle_srgan.config import load_config  # noqa: E402
from paddle_srgan.data.datasets import build_train_loader  # noqa: E402
from paddle_srgan.data.io import write_image  # noqa: E402

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
    """(patches/s, ms/batch) of the loader of ``cfg`` over ``batches`` timed batches."""
    batch_size = cfg["train"]["batch_size"]
    it = iter(build_train_loader(cfg))
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
    seconds = time.perf_counter() - start
    assert list(batch["hr"].shape) == [batch_size, 3, 384, 384]
    assert list(batch["lr"].shape) == [batch_size, 3, 96, 96]
    del it  # stops the workers before the next configuration starts its own
    return batches * batch_size / seconds, 1000 * seconds / batches


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=10, help="timed batches per configuration")
    ap.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    ap.add_argument("--images", type=int, default=8, help="DIV2K-sized images to synthesise")
    args = ap.parse_args()

    import paddle

    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        for i, img in enumerate(div2k_like_images(args.images), start=1):
            write_image(tmp / "HR" / f"{i:04d}.png", img)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_data.py"), "make-lr",
                        "--hr", str(tmp / "HR"), "--out", str(tmp / "LR"), "--scales", "4"],
                       check=True, capture_output=True)
        make_lr_seconds = time.perf_counter() - start
        png_mb = np.mean([p.stat().st_size for p in (tmp / "HR").iterdir()]) / 2 ** 20

        runs = {}
        for mode in ("hr_only", "paired"):
            for cache in (False, True):
                for workers in (0, 2):
                    cfg = load_config(None, [
                        f"data_root={tmp}", "datasets.train.hr_dir=HR",
                        "datasets.train.lr_dir=LR/X4", f"datasets.train.type={mode}",
                        "datasets.train.hr_crop=384", f"datasets.train.cache={cache}",
                        f"datasets.train.num_workers={workers}", "train.batch_size=16",
                        "scale=4"])
                    rate, ms = throughput(cfg, args.warmup, args.batches)
                    name = f"{mode}_workers{workers}" + ("_cache" if cache else "")
                    runs[name] = {"patches_per_s": round(rate, 1), "ms_per_batch": round(ms, 1)}

    report = {
        "benchmark": "build_train_loader throughput, x4, 384 HR / 96 LR crops, flip+rot90",
        "images": args.images,
        "image_hw": list(DIV2K_HW),
        "hr_png_mb_mean": round(float(png_mb), 2),
        "batch_size": 16,
        "warmup_batches": args.warmup,
        "timed_batches": args.batches,
        "make_lr_x4_seconds": round(make_lr_seconds, 2),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "numpy": np.__version__,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
