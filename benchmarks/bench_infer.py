#!/usr/bin/env python
"""CPU inference latency and peak memory of the paper-size SRResNet x4; one JSON object.

* latency_s: median seconds per image (warm-up run excluded) for 128x128 and 510x339 (WxH)
  LR inputs, through dygraph, paddle.jit.load, the paddle.inference predictor (oneDNN) and,
  when paddle2onnx and onnxruntime are installed, onnxruntime on the ONNX export. The
  backends run round-robin on the same input in one process per size, so background load on
  a shared machine hits them alike. onnx_max_abs_diff_vs_predictor: largest difference of
  the two outputs (output range [-1, 1]); random paper-size weights amplify float rounding
  (1e-6 at the input moves outputs by ~0.02), so parity itself is measured with calibrated
  weights in tests and the README.
* peak_rss_mb: peak resident memory (VmHWM) of a fresh process that loads the model and
  super-resolves one 510x339 LR image to 2040x1356, whole and with --tile (pad = the
  model's receptive field, 40 LR pixels), for dygraph and the predictor; `loaded_rss_mb` is
  the same process before inference. Tiled peaks depend on the tile, not the image.

Random weights (seed 0): speed and memory do not depend on them.

    python benchmarks/bench_infer.py [--repeats 3] [--threads 2] [--tile 128]
    python benchmarks/bench_infer.py --smoke     # seconds: a tiny model on tiny inputs
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SIZES = {"128x128": (128, 128), "510x339": (339, 510)}  # name (WxH) -> (h, w)
MEMORY_SIZE = "510x339"
SMOKE_SIZES = {"40x24": (24, 40)}  # --smoke: a tiny model on a tiny image, everything once
SMOKE_MODEL = {"num_feat": 8, "num_block": 1}
PADDLE_BACKENDS = ("dygraph", "jit_load", "predictor")
ONNX_BACKEND = "onnxruntime"


def onnx_backend_available():
    import importlib.util
    return all(importlib.util.find_spec(m) for m in ("paddle2onnx", "onnxruntime"))


def rss_mb(field):
    """VmHWM (peak) or VmRSS (current) of this process in MB, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024)
    raise RuntimeError(f"no {field} in /proc/self/status")


def make_runner(backend, folder, threads, smoke=False):
    """The runner of `backend` for the model saved in `folder` by the parent."""
    from paddle_srgan.compat import import_paddle
    from paddle_srgan.deploy import predictor
    from paddle_srgan.deploy.metadata import ModelInfo
    from paddle_srgan.models import SRResNet

    prefix = os.path.join(folder, "srresnet_x4")
    if backend == ONNX_BACKEND:
        from paddle_srgan.deploy.onnx_runner import OnnxRunner
        return OnnxRunner(prefix + ".onnx", threads)
    if backend == "predictor":
        return predictor.create_predictor(prefix, "cpu", threads)
    info = ModelInfo.from_meta(predictor.read_metadata(prefix), prefix)
    if backend == "jit_load":
        return predictor.LayerRunner(predictor.load_exported(prefix), info)
    generator = SRResNet(**(SMOKE_MODEL if smoke else {}))
    generator.set_state_dict(import_paddle().load(os.path.join(folder, "weights.pdparams")))
    generator.eval()
    return predictor.LayerRunner(generator, info)


def child_latency(folder, size, repeats, threads, backends, smoke=False):
    """{"times": {backend: [seconds, ...]}, "onnx_max_abs_diff": float or None} for one LR
    size, backends interleaved run by run on the same input."""
    import numpy as np
    h, w = (SMOKE_SIZES if smoke else SIZES)[size]
    lr = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    runners = {b: make_runner(b, folder, threads, smoke) for b in backends}
    times = {b: [] for b in backends}
    outputs = {}
    for i in range(repeats + 1):
        for backend, runner in runners.items():
            start = time.perf_counter()
            outputs[backend] = runner.run(lr)
            if i:  # run 0 is the warm-up (graph build, oneDNN plans, allocator growth)
                times[backend].append(time.perf_counter() - start)
    diff = None
    if ONNX_BACKEND in outputs:
        diff = float(np.abs(outputs[ONNX_BACKEND] - outputs["predictor"]).max())
    return {"times": times, "onnx_max_abs_diff": diff}


def child_memory(folder, backend, tile, threads, smoke=False):
    """Peak RSS of one 510x339 -> 2040x1356 super-resolution, whole (tile 0) or tiled."""
    import numpy as np

    from paddle_srgan.deploy.tiling import upscale
    runner = make_runner(backend, folder, threads, smoke)
    h, w = (SMOKE_SIZES["40x24"] if smoke else SIZES[MEMORY_SIZE])
    lr = np.random.default_rng(0).random((3, h, w), dtype=np.float32)
    loaded = rss_mb("VmRSS")
    start = time.perf_counter()
    sr = upscale(runner.run, lr, 4, tile or None, runner.info.receptive_field_radius)
    seconds = time.perf_counter() - start
    assert sr.shape == (3, 4 * h, 4 * w)
    return {"peak_rss_mb": rss_mb("VmHWM"), "loaded_rss_mb": loaded, "seconds": round(seconds, 1)}


@contextlib.contextmanager
def stdout_to_stderr():
    """Send file descriptor 1 (C++ libraries' logs too) to stderr inside the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def versions_of(*packages):
    from importlib.metadata import version
    return {p: version(p) for p in packages}


def run_child(args, *child_args):
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "GLOG_minloglevel": "2",
           "PYTHONWARNINGS": "ignore"}
    smoke = ["--smoke"] if args.smoke else []
    proc = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                           "--repeats", str(args.repeats), *smoke, "--child", *child_args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"bench_infer child {child_args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per backend and size")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (predictor, OpenMP)")
    ap.add_argument("--tile", type=int, default=128, help="tile side (LR px) for the memory runs")
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny model on a tiny image, once: checks the script runs")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.repeats, args.tile = 1, 16

    if args.child:
        kind, folder, what = args.child[:3]
        result = (child_latency(folder, what, args.repeats, args.threads, args.child[3:],
                                args.smoke)
                  if kind == "latency"
                  else child_memory(folder, what, int(args.child[3]), args.threads,
                                    args.smoke))
        print(json.dumps(result))
        return

    from paddle_srgan.compat import import_paddle
    from paddle_srgan.deploy import export
    from paddle_srgan.models import SRResNet
    paddle = import_paddle()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_infer_") as folder:
        paddle.seed(0)
        generator = SRResNet(**(SMOKE_MODEL if args.smoke else {}))
        paddle.save(generator.state_dict(), os.path.join(folder, "weights.pdparams"))
        meta = export.export_generator(generator, os.path.join(folder, "srresnet_x4"))
        backends = PADDLE_BACKENDS
        if onnx_backend_available():
            with stdout_to_stderr():  # paddle2onnx logs to stdout; ours is the JSON alone
                export.export_onnx(os.path.join(folder, "srresnet_x4"))
            backends += (ONNX_BACKEND,)
        latency, speedup, onnx_diff = {}, {}, {}
        for size in (SMOKE_SIZES if args.smoke else SIZES):
            result = run_child(args, "latency", folder, size, *backends)
            latency[size] = {b: round(statistics.median(t), 3)
                             for b, t in result["times"].items()}
            speedup[size] = round(latency[size]["dygraph"] / latency[size]["predictor"], 2)
            onnx_diff[size] = result["onnx_max_abs_diff"]
        memory = {backend: {"untiled": run_child(args, "memory", folder, backend, "0"),
                            f"tile{args.tile}": run_child(args, "memory", folder, backend,
                                                           str(args.tile))}
                  for backend in ("dygraph", "predictor")}

    print(json.dumps({
        "benchmark": "SRResNet x4 (paper size, 1.55M parameters) CPU inference",
        "smoke": args.smoke,
        "paddle": paddle.__version__,
        "python": platform.python_version(),
        "cpu_cores": os.cpu_count(),
        "threads": args.threads,
        "repeats": args.repeats,
        "load_average_1min": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "program_file": meta["model_file"],
        "latency_s": latency,
        "predictor_speedup_vs_dygraph": speedup,
        "onnx": versions_of("paddle2onnx", "onnxruntime") if ONNX_BACKEND in backends else
        "not measured: pip install -e \".[onnx]\"",
        "onnx_max_abs_diff_vs_predictor": onnx_diff,
        f"memory_{MEMORY_SIZE}_x4": {"tile": args.tile,
                                        "tile_pad": meta["receptive_field_radius"], **memory},
    }, indent=2))


if __name__ == "__main__":
    main()
