#!/usr/bin/env python
"""Training step time of the real trainer (Trainer._step) on synthetic batches; one JSON object.

Times (a) an MSE-phase step (SRResNet: forward, pixel MSE, backward, Adam) and (b) a GAN-phase
step (G: VGG54/12.75 content + 1e-3 adversarial, then D on real and detached fake), with
random weights (VGG19 up to relu5_4 included), the same shapes as ../shared/bench/torchref/
bench_step.py so the two print comparable numbers:

    python benchmarks/bench_train.py --batch 4 --lr-size 24 --iters 5
    <torch venv>/bin/python ../shared/bench/torchref/bench_step.py \\
        --batch 4 --lr-size 24 --threads 2 --iters 5

Also reports the process's peak RSS and, with --device gpu, the peak GPU memory Paddle's allocator
held (the GPU memory a run with that batch and patch size needs). Data loading is excluded (see
bench_data.py).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr-size", type=int, default=24, help="LR patch side; HR = 4x")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--amp", choices=["O1"], help="mixed precision (GPU; CPU runs fp32)")
    args = ap.parse_args()

    from paddle_srgan.compat import import_paddle
    from paddle_srgan.config import load_config
    from paddle_srgan.engine.trainer import Trainer
    paddle = import_paddle()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(ROOT / "configs" / "srgan.yml", [
            f"output_dir={tmp}", f"device={args.device}", "vgg.weights=none",
            f"data_root={ROOT / 'data'}", "datasets.train.hr_dir=demo",
            "datasets.val.max_images=1", f"train.batch_size={args.batch}",
            "train.phases.0.iters=1000", "train.phases.1.iters=1000",
            "train.phases.1.lr_milestones=[500]"] + ([f"train.amp={args.amp}"] if args.amp else []))
        trainer = Trainer(cfg)
        hr_size = args.lr_size * cfg["scale"]
        paddle.seed(0)
        batch = {"lr": paddle.rand([args.batch, 3, args.lr_size, args.lr_size]),
                 "hr": paddle.rand([args.batch, 3, hr_size, hr_size])}
        result = {"paddle": paddle.__version__, "python": platform.python_version(),
                  "device": trainer.device, "nproc": os.cpu_count(), "batch": args.batch,
                  "lr_size": args.lr_size, "hr_size": hr_size, "iters": args.iters,
                  "amp": trainer.amp}
        for phase, key in ((0, "srresnet_step_s"), (1, "srgan_step_s")):
            trainer._start_phase(phase)
            for _ in range(args.warmup):
                out = trainer._step(batch)
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                out = trainer._step(batch)
                float(out["g_total"])  # wait for the device before stopping the clock
                times.append(time.perf_counter() - t0)
            result[key] = {"median": round(statistics.median(times), 4),
                           "min": round(min(times), 4), "max": round(max(times), 4)}
        trainer.log.close()
        if trainer.device == "gpu":  # what the allocator held at most: the GPU memory to expect
            result["gpu_peak_allocated_mb"] = round(
                paddle.device.cuda.max_memory_allocated() / 2 ** 20, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
