"""Cost of the real-world degradation pipeline (datasets.train.type realworld) in the loader.

Prints one JSON object: patches per second (batch 16, 256x256 HR / 64x64 LR crops, x4,
flips + rot90) of build_train_loader with ``hr_only`` (MATLAB bicubic) and ``realworld``
(Real-ESRGAN's second-order model, its default parameters, and the shuffled order), with 0 and
2 DataLoader workers, plus the pipeline's own milliseconds per patch in this process and those
of each primitive on one HR-sized patch (which stage is slow). The images
are Set5's five HR photos resized to 480x480 (the size of make-lr --sub-images 480), with the
image cache on, so decoding does not hide the LR-making cost. Warm-up batches are not timed.
Other processes on the machine lower the numbers: the load average is reported.

    python benchmarks/bench_degradations.py [--batches N] [--warmup N] [--smoke]
"""
import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from paddle_srgan.config import DEFAULTS, load_config
from paddle_srgan.data.datasets import build_train_loader
from paddle_srgan.data.io import list_images, read_image, write_image
from paddle_srgan.data.realworld import RealWorldDegradation

ROOT = Path(__file__).resolve().parents[1]


def throughput(cfg, warmup, batches):
    """{"patches_per_s", "ms_per_batch"} of the loader of ``cfg`` over ``batches`` batches."""
    batch_size, crop = cfg["train"]["batch_size"], cfg["datasets"]["train"]["hr_crop"]
    it = iter(build_train_loader(cfg))
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
    seconds = time.perf_counter() - start
    assert list(batch["lr"].shape) == [batch_size, 3, crop // 4, crop // 4]
    it.__del__()  # stop the workers now (see bench_data.py)
    return {"patches_per_s": round(batches * batch_size / seconds, 1),
            "ms_per_batch": round(1000 * seconds / batches, 1)}


def pipeline_ms(crop, n):
    """Milliseconds per patch of RealWorldDegradation alone, one process, n patches."""
    degrade = RealWorldDegradation(**DEFAULTS["datasets"]["train"]["degradation"])
    hr = cv2.resize(read_image(ROOT / "data" / "benchmarks" / "Set5" / "HR" / "baby.png"),
                    (crop, crop), interpolation=cv2.INTER_AREA)
    start = time.perf_counter()
    for i in range(n):
        degrade(hr, 4, np.random.default_rng([0, 0, i]))
    return round(1000 * (time.perf_counter() - start) / n, 2)


def stage_ms(crop, n):
    """Milliseconds per call of each primitive of a stage on one crop x crop x 3 float32 patch
    (the sizes of stage 1), one process: which stage is the slow one."""
    from paddle_srgan.data import degradations as deg
    img = np.random.default_rng(0).random((crop, crop, 3), dtype=np.float32)
    rng = np.random.default_rng(1)
    stages = {
        "blur_21_isotropic_separable": lambda: deg.blur(
            img, deg.anisotropic_gaussian_kernel(21, 2.0)),
        "blur_21_anisotropic": lambda: deg.blur(
            img, deg.anisotropic_gaussian_kernel(21, 2.0, 1.0, 0.5)),
        "resize_down_bicubic": lambda: deg.resize(img, crop // 2, crop // 2, "bicubic"),
        "gaussian_noise_colour": lambda: deg.gaussian_noise(img, 10.0, False, rng),
        "poisson_noise_colour": lambda: deg.poisson_noise(img, 1.0, False, rng),
        "poisson_noise_gray": lambda: deg.poisson_noise(img, 1.0, True, rng),
        "jpeg": lambda: deg.jpeg(img, 50),
    }
    out = {}
    for name, run in stages.items():
        run()
        start = time.perf_counter()
        for _ in range(n):
            run()
        out[name] = round(1000 * (time.perf_counter() - start) / n, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=10, help="timed batches per configuration")
    ap.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    ap.add_argument("--smoke", action="store_true",
                    help="64x64 crops, batch 2, one batch per configuration (seconds)")
    args = ap.parse_args()
    batch_size, crop = 16, 256
    if args.smoke:
        args.batches, args.warmup, batch_size, crop = 1, 0, 2, 64

    import paddle

    load_at_start = os.getloadavg()[0]
    cv2.setNumThreads(1)  # as build_train_loader does with workers: one thread per process
    single_ms = pipeline_ms(crop, 4 if args.smoke else 100)
    stages = stage_ms(crop, 2 if args.smoke else 30)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_degradations_") as tmp:
        for path in list_images(ROOT / "data" / "benchmarks" / "Set5" / "HR"):
            img = cv2.resize(read_image(path), (480, 480), interpolation=cv2.INTER_AREA)
            write_image(Path(tmp) / path.name, img)
        for mode, order in (("hr_only", None), ("realworld", "realesrgan"),
                            ("realworld", "shuffled")):
            for workers in (0, 2):
                cfg = load_config(None, [
                    f"data_root={tmp}", "datasets.train.hr_dir=.", f"datasets.train.type={mode}",
                    f"datasets.train.hr_crop={crop}", "datasets.train.cache=true",
                    f"datasets.train.num_workers={workers}", f"train.batch_size={batch_size}",
                    f"datasets.train.degradation.order={order or 'realesrgan'}", "scale=4"])
                name = mode + (f"_{order}" if order else "") + f"_workers{workers}"
                runs[name] = throughput(cfg, args.warmup, args.batches)
    print(json.dumps({
        "benchmark": "build_train_loader throughput, x4, hr_only vs realworld (Real-ESRGAN "
                     "second-order degradations), cached 480x480 images",
        "hr_crop": crop, "batch_size": batch_size, "warmup_batches": args.warmup,
        "timed_batches": args.batches,
        "realworld_pipeline_ms_per_patch_one_thread": single_ms,
        "stage_ms_one_thread": stages,
        "cpu_cores": os.cpu_count(),
        "load_avg_1min": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(), "paddle": paddle.__version__,
        "numpy": np.__version__, "opencv": cv2.__version__,
        "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
