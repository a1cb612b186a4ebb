#!/usr/bin/env python
"""What the no-reference metrics cost per image: NIQE (metrics.niqe) and the grid score
(metrics.periodic_artifacts), single thread, on natural RGB images of the sizes evaluation
meets (a Set5 image, a 512x512 photo, a DIV2K-sized 1356x2040 frame: scikit-image's
astronaut and coffee, tiled or cropped to size).

    python benchmarks/bench_niqe.py [--repeats N] [--smoke]

Prints one JSON object: median milliseconds per image for each metric and size, and the
NIQE values (a check that the images are natural: 3-6).
"""
import argparse
import json
import os
import platform
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # per core, like an evaluation worker

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from paddle_srgan.metrics import scores as metrics  # noqa: E402

cv2.setNumThreads(1)


def images():
    astronaut, coffee = skimage.data.astronaut(), skimage.data.coffee()  # 512x512, 400x600
    div2k = np.tile(astronaut, (3, 4, 1))[:1356, :2040]
    return {"256x256": astronaut[128:384, 128:384], "400x600": coffee,
            "512x512": astronaut, "1356x2040": div2k}


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times)), 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one run each: checks the script runs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    out = {"machine": platform.processor() or platform.machine(), "threads": 1,
           "niqe_ms": {}, "grid_ms": {}, "niqe": {}}
    for name, img in images().items():
        out["niqe"][name] = round(metrics.niqe(img, 4), 3)
        out["niqe_ms"][name] = median_ms(lambda: metrics.niqe(img, 4), args.repeats)
        out["grid_ms"][name] = median_ms(lambda: metrics.periodic_artifacts(img, 4),
                                         args.repeats)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
