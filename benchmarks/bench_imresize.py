"""Speed of paddle_srgan.data.imresize against the usual loop-based numpy port.

Prints one JSON object: median milliseconds (single thread) for two workloads,

* ``crop_384_to_96``: one 384x384x3 uint8 HR training crop -> 96x96 LR (x1/4),
* ``div2k_1356x2040_to_339x510``: a DIV2K-sized HxW 1356x2040x3 uint8 image -> x1/4,

for our exact mode (MATLAB per-pass rounding), our float mode (one final rounding) and the
baseline below, with speedups (baseline ms / ours ms) and the max abs difference between
the baseline and each mode (the baseline rounds once, so it should equal float mode).

    python benchmarks/bench_imresize.py [--repeats N]
"""

import argparse
import json
import math
import os
import platform
import time

# Pin every thread pool before numpy/cv2 load them, so the numbers are per core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from paddle_srgan.data.imresize import imresize  # noqa: E402

cv2.setNumThreads(1)


def baseline_imresize(img, scale):
    """The common Python port of MATLAB imresize (bicubic, antialiased).

    Float64 throughout with one final ``np.round`` + clip, and each 1-D pass a Python loop
    over output indices (``np.take`` of the source pixels, dot with that index's weights).

    Args:
        img: uint8 [H, W, C].
        scale: float > 0, same for both axes.

    Returns:
        uint8 [ceil(H * scale), ceil(W * scale), C].
    """
    def cubic(x):
        absx = np.abs(x)
        return ((1.5 * absx ** 3 - 2.5 * absx ** 2 + 1) * (absx <= 1)
                + (-0.5 * absx ** 3 + 2.5 * absx ** 2 - 4 * absx + 2)
                * ((absx > 1) & (absx <= 2)))

    def contributions(in_len, out_len):
        width = 4.0
        kernel = cubic
        if scale < 1:
            width /= scale
            kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
        u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
        left = np.floor(u - width / 2)
        ind = left[:, None] + np.arange(math.ceil(width) + 2)
        weights = kernel(u[:, None] - ind)
        weights /= weights.sum(axis=1, keepdims=True)
        aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
        ind = aux[np.mod(ind.astype(int) - 1, len(aux))]
        keep = weights.any(axis=0)
        return weights[:, keep], ind[:, keep]

    out = img.astype(np.float64)
    for dim in (0, 1):  # equal scales: MATLAB resizes rows first
        out_len = math.ceil(img.shape[dim] * scale)
        weights, ind = contributions(out.shape[dim], out_len)
        shape = list(out.shape)
        shape[dim] = out_len
        resized = np.empty(shape)
        for i in range(out_len):
            src = np.take(out, ind[i], axis=dim)
            index = [slice(None)] * out.ndim
            index[dim] = i
            resized[tuple(index)] = np.tensordot(weights[i], src, axes=([0], [dim]))
        out = resized
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def synthetic_image(h, w, seed=0):
    """uint8 [h, w, 3]: smooth gradients plus noise, so rounding and overshoot behave
    roughly as on photographs without shipping a DIV2K image."""
    yy, xx = np.mgrid[0:h, 0:w]
    phase = np.arange(3)  # a different pattern per channel
    smooth = 127.5 + 100 * np.sin(xx[..., None] / 23.0 + phase) * np.cos(yy[..., None] / 31.0)
    noise = np.random.default_rng(seed).normal(0, 20, (h, w, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def median_ms(fn, repeats):
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs (after a warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def bench_case(img, repeats):
    """Timings, speedups and agreement for one uint8 [H, W, 3] image resized x1/4."""
    runs = {
        "exact": lambda: imresize(img, 0.25, exact=True),
        "float": lambda: imresize(img, 0.25, exact=False),
        "baseline": lambda: baseline_imresize(img, 0.25),
    }
    ms = {name: median_ms(fn, repeats) for name, fn in runs.items()}
    reference = runs["baseline"]().astype(int)
    result = {"in_hw": list(img.shape[:2]), "out_hw": list(reference.shape[:2])}
    result.update({f"{name}_ms": round(t, 3) for name, t in ms.items()})
    for mode in ("exact", "float"):
        result[f"speedup_{mode}"] = round(ms["baseline"] / ms[mode], 2)
        diff = np.abs(runs[mode]().astype(int) - reference)
        result[f"max_abs_diff_baseline_vs_{mode}"] = int(diff.max())
        result[f"frac_differing_baseline_vs_{mode}"] = round(float(np.mean(diff > 0)), 5)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--smoke", action="store_true",
                        help="one run each: checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.repeats = 1

    report = {
        "benchmark": "imresize bicubic x1/4, uint8 RGB",
        "threads": 1,
        "repeats": args.repeats,
        "statistic": "median ms",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "crop_384_to_96": bench_case(synthetic_image(384, 384), args.repeats),
        "div2k_1356x2040_to_339x510": bench_case(synthetic_image(1356, 2040), args.repeats),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
