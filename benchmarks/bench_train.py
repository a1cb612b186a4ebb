#!/usr/bin/env python
"""Training step time of the real training step (engine.step.PhaseStep) on synthetic batches;
one JSON object.

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

    python benchmarks/bench_train.py --smoke       # seconds: checks the script runs
"""
import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr-size", type=int, default=24, help="LR patch side; HR = 4x")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--amp", choices=["O1"], help="mixed precision (GPU; CPU runs fp32)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny networks and patches, one step: checks the script runs")
    args = ap.parse_args()
    tiny = []
    if args.smoke:
        args.batch, args.lr_size, args.warmup, args.iters = 1, 8, 0, 1
        tiny = ["network_g.num_feat=8", "network_g.num_block=1", "network_d.num_feat=8",
                "network_d.fc_size=16", "vgg.layer=relu2_2"]

    from paddle_srgan.compat import import_paddle, seed_everything, use_device
    from paddle_srgan.config import load_config
    from paddle_srgan.engine.step import NanGuard, PhaseStep, build_networks
    paddle = import_paddle()

    cfg = load_config(ROOT / "configs" / "srgan.yml", [
        f"device={args.device}", "vgg.weights=none", f"train.batch_size={args.batch}"]
        + tiny + ([f"train.amp={args.amp}"] if args.amp else []))
    device = use_device(cfg["device"], cfg["cpu_threads"])
    amp = args.amp if device == "gpu" else None  # the trainer's rule: AMP on GPUs only
    seed_everything(cfg["seed"])
    nets = build_networks(cfg)
    guard = NanGuard(enabled=cfg["train"]["nan_guard"], limit=cfg["train"]["max_nan_steps"])
    hr_size = args.lr_size * cfg["scale"]
    batch = {"lr": paddle.rand([args.batch, 3, args.lr_size, args.lr_size]),
             "hr": paddle.rand([args.batch, 3, hr_size, hr_size])}
    result = {"paddle": paddle.__version__, "python": platform.python_version(),
              "device": device, "nproc": os.cpu_count(), "batch": args.batch,
              "lr_size": args.lr_size, "hr_size": hr_size, "iters": args.iters, "amp": amp,
              "smoke": args.smoke}
    for phase, key in zip(cfg["train"]["phases"], ("srresnet_step_s", "srgan_step_s")):
        step = PhaseStep(nets, phase, cfg["train"], cfg["losses"], (cfg["scale"],), guard, amp)
        for _ in range(args.warmup):
            step(batch)
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            out = step(batch)
            float(out["g_total"])  # wait for the device before stopping the clock
            times.append(time.perf_counter() - t0)
        result[key] = {"median": round(statistics.median(times), 4),
                       "min": round(min(times), 4), "max": round(max(times), 4)}
    if device == "gpu":  # what the allocator held at most: the GPU memory to expect
        result["gpu_peak_allocated_mb"] = round(
            paddle.device.cuda.max_memory_allocated() / 2 ** 20, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
