#!/usr/bin/env python
"""CPU inference time of paper-size x4 generators, side by side in one run; one JSON object.

Models (--models, default all; random weights, seed 0: speed and memory do not depend on them):
  srresnet       SRResNet x4 (paper: 64 features, 16 blocks), LR 128x128 and 510x339 (WxH)
  rrdbnet23      RRDBNet x4, 64 features, 23 RRDBs, growth 32 (ESRGAN, RealESRGAN_x4plus), 128x128
  srvgg-general  SRVGGNetCompact x4, 64 features, 32 convs (realesr-general-x4v3), 256x256
  srvgg-anime    SRVGGNetCompact x4, 64 features, 16 convs (realesr-animevideov3), 256x256

* latency_s: median seconds per image (a warm-up run excluded) and s_per_output_mp: the same
  per megapixel of output, through the backends (--backends): dygraph, paddle.jit.load, the
  paddle.inference predictor (oneDNN) on the paddle.jit export, onnxruntime on its ONNX
  conversion (when paddle2onnx and onnxruntime are installed) and PyTorch eager
  (torch.inference_mode) on the published definition in tests/fixtures/esrgan_torch_ref.py
  (RRDBNet, SRVGGNetCompact; the repository holds none for SRResNet) with the same weights,
  run by a worker process under --torch-python (torch is never a dependency of this package).
  The backends run round-robin on the same input, one process per model and size, the torch
  worker answering the Paddle process run by run, so background load on a shared machine hits
  them alike; every process gets --threads threads (OMP_NUM_THREADS, the runners' settings,
  torch.set_num_threads). max_abs_diff_vs_predictor: each backend's largest output difference
  from the predictor's: random paper-size SRResNet weights amplify float rounding (1e-6 at the
  input moves outputs by ~0.02), so its parity is measured with calibrated weights in tests.
* SRResNet also gets peak_rss_mb: peak resident memory (VmHWM) of a fresh process that loads
  the model and super-resolves one 510x339 LR image to 2040x1356, whole and with --tile (pad
  = the receptive field, 40 LR pixels), for dygraph and the predictor; `loaded_rss_mb` is the
  same process before inference. Tiled memory of RRDBNet: benchmarks/bench_memory.py.

    python benchmarks/bench_infer.py [--models rrdbnet23 srvgg-general] [--repeats 3]
        [--threads 2] [--tile 128] [--torch-python /path/to/venv-with-torch/bin/python]
    python benchmarks/bench_infer.py --smoke     # seconds: tiny widths on tiny inputs
"""
import argparse
import contextlib
import importlib.util
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
TORCH_REFERENCE = ROOT / "tests" / "fixtures"  # esrgan_torch_ref.py, the published definitions

# name -> Paddle class, its kwargs, the torch reference class and kwargs (None: no reference),
# LR sizes (name WxH -> (h, w)), the tiny kwargs of --smoke
MODELS = {
    "srresnet": {"cls": "SRResNet", "kwargs": {}, "torch": None,
                 "sizes": {"128x128": (128, 128), "510x339": (339, 510)},
                 "smoke": {"num_feat": 8, "num_block": 1}},
    "rrdbnet23": {"cls": "RRDBNet", "kwargs": {"num_feat": 64, "num_block": 23,
                                               "num_grow_ch": 32},
                  "torch": ("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 4}),
                  "sizes": {"128x128": (128, 128)},
                  "smoke": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}},
    "srvgg-general": {"cls": "SRVGGNetCompact", "kwargs": {"num_feat": 64, "num_conv": 32},
                      "torch": ("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3,
                                                    "upscale": 4}),
                      "sizes": {"256x256": (256, 256)},
                      "smoke": {"num_feat": 8, "num_conv": 2}},
    "srvgg-anime": {"cls": "SRVGGNetCompact", "kwargs": {"num_feat": 64, "num_conv": 16},
                    "torch": ("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3,
                                                  "upscale": 4}),
                    "sizes": {"256x256": (256, 256)},
                    "smoke": {"num_feat": 8, "num_conv": 2}},
}
SMOKE_SIZES = {"40x24": (24, 40)}  # --smoke: every model on a tiny image, everything once
MEMORY_SIZE = "510x339"  # SRResNet's peak RSS runs
PADDLE_BACKENDS = ("dygraph", "jit_load", "predictor")
ONNX_BACKEND, TORCH_BACKEND = "onnxruntime", "torch"
BACKENDS = PADDLE_BACKENDS + (ONNX_BACKEND, TORCH_BACKEND)


def onnx_backend_available():
    return all(importlib.util.find_spec(m) for m in ("paddle2onnx", "onnxruntime"))


def rss_mb(field):
    """VmHWM (peak) or VmRSS (current) of this process in MB, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024)
    raise RuntimeError(f"no {field} in /proc/self/status")


def cpu_name():
    """The CPU's model name (Linux /proc/cpuinfo), else the machine type."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def model_kwargs(name, smoke):
    spec = MODELS[name]
    return spec["smoke"] if smoke else spec["kwargs"]


def build_generator(name, smoke):
    from paddle_srgan import models
    return getattr(models, MODELS[name]["cls"])(**model_kwargs(name, smoke))


class TorchWorker:
    """PyTorch eager in a process of the --torch-python interpreter (`torch_worker`), behind
    the runner interface: run() asks it for one forward pass of the input it was started with
    (its output stays there until output())."""

    def __init__(self, python, folder, name, lr_file, threads, smoke):
        self.lr_file, self.out_file = lr_file, lr_file[:-len(".npy")] + "_torch.npy"
        self._proc = subprocess.Popen(
            [python, __file__, "--threads", str(threads), *(["--smoke"] if smoke else []),
             "--child", "torch_worker", folder, name, lr_file],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._ask("ready")

    def _ask(self, command):
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline().strip()
        if answer != "ok":
            sys.exit(f"bench_infer: the torch worker failed at {command!r} (see above)")

    def run(self, lr):
        self._ask("run")

    def output(self):
        import numpy as np
        self._ask(f"save {self.out_file}")
        self._proc.stdin.close()
        self._proc.wait()
        return np.load(self.out_file)


def torch_worker(folder, name, lr_file, threads, smoke):
    """Runs under --torch-python: the torch reference of `name` with the weights the parent
    saved as torch_weights.npz, answering "run" / "save FILE" on stdin with "ok"."""
    import numpy as np
    import torch
    sys.path.insert(0, str(TORCH_REFERENCE))
    import esrgan_torch_ref

    torch.set_num_threads(threads)
    cls, extra = MODELS[name]["torch"]
    net = getattr(esrgan_torch_ref, cls)(**extra, **model_kwargs(name, smoke)).eval()
    with np.load(os.path.join(folder, name, "torch_weights.npz")) as weights:
        net.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
    lr = torch.from_numpy(np.load(lr_file))
    out = None
    for line in sys.stdin:
        command, *arg = line.split()
        if command == "run":
            with torch.inference_mode():
                out = net(lr)
        elif command == "save":
            np.save(arg[0], out.numpy())
        print("ok", flush=True)


def make_runner(backend, folder, name, threads, smoke):
    """The runner of `backend` for the model the parent saved in `folder`/`name`."""
    from paddle_srgan.compat import import_paddle
    from paddle_srgan.deploy import predictor
    from paddle_srgan.deploy.metadata import ModelInfo

    prefix = os.path.join(folder, name, "model")
    if backend == ONNX_BACKEND:
        from paddle_srgan.deploy.onnx_runner import OnnxRunner
        return OnnxRunner(prefix + ".onnx", threads)
    if backend == "predictor":
        return predictor.create_predictor(prefix, "cpu", threads)
    info = ModelInfo.from_meta(predictor.read_metadata(prefix), prefix)
    if backend == "jit_load":
        return predictor.LayerRunner(predictor.load_exported(prefix), info)
    generator = build_generator(name, smoke)
    generator.set_state_dict(import_paddle().load(os.path.join(folder, name,
                                                               "weights.pdparams")))
    generator.eval()
    return predictor.LayerRunner(generator, info)


def child_latency(folder, name, size, repeats, threads, backends, torch_python, smoke):
    """{"times": {backend: [seconds, ...]}, "max_abs_diff_vs_predictor": {backend: float}}
    for one model and LR size, backends interleaved run by run on the same input."""
    import numpy as np
    h, w = (SMOKE_SIZES if smoke else MODELS[name]["sizes"])[size]
    lr = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    lr_file = os.path.join(folder, name, f"lr_{size}.npy")
    np.save(lr_file, lr)
    runners = {b: (TorchWorker(torch_python, folder, name, lr_file, threads, smoke)
                   if b == TORCH_BACKEND else make_runner(b, folder, name, threads, smoke))
               for b in backends}
    times = {b: [] for b in backends}
    outputs = {}
    for i in range(repeats + 1):
        for backend, runner in runners.items():
            start = time.perf_counter()
            outputs[backend] = runner.run(lr)
            if i:  # run 0 is the warm-up (graph build, oneDNN plans, allocator growth)
                times[backend].append(time.perf_counter() - start)
    if TORCH_BACKEND in runners:
        outputs[TORCH_BACKEND] = runners[TORCH_BACKEND].output()
    diff = {b: float(np.abs(out - outputs["predictor"]).max())
            for b, out in outputs.items() if b != "predictor" and "predictor" in outputs}
    return {"times": times, "max_abs_diff_vs_predictor": diff}


def child_memory(folder, backend, tile, threads, smoke):
    """Peak RSS of one SRResNet 510x339 -> 2040x1356 super-resolution, whole (tile 0) or
    tiled."""
    import numpy as np

    from paddle_srgan.deploy.tiling import upscale
    runner = make_runner(backend, folder, "srresnet", threads, smoke)
    h, w = (SMOKE_SIZES["40x24"] if smoke else MODELS["srresnet"]["sizes"][MEMORY_SIZE])
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
    torch_python = ["--torch-python", args.torch_python] if args.torch_python else []
    proc = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                           "--repeats", str(args.repeats), *smoke, *torch_python,
                           "--child", *child_args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"bench_infer child {child_args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_python_of(args):
    """The interpreter that runs PyTorch: --torch-python, else this one when it has torch."""
    if args.torch_python or not importlib.util.find_spec("torch"):
        return args.torch_python
    return sys.executable


def torch_version(python):
    return subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def save_torch_weights(generator, path):
    """Our state dict under the reference's names (same layouts; PReLU slopes: Paddle
    `_weight`, torch `weight`) as an npz the torch worker reads."""
    import numpy as np
    np.savez(path, **{k.replace("._weight", ".weight"): v.numpy()
                      for k, v in generator.state_dict().items()})


def bench_model(args, folder, name, backends):
    """The JSON entry of one model: export, then one latency child per LR size."""
    from paddle_srgan.compat import import_paddle
    from paddle_srgan.deploy import export
    paddle = import_paddle()

    os.makedirs(os.path.join(folder, name))
    paddle.seed(0)
    generator = build_generator(name, args.smoke)
    generator.eval()
    paddle.save(generator.state_dict(), os.path.join(folder, name, "weights.pdparams"))
    start = time.perf_counter()
    meta = export.export_generator(generator, os.path.join(folder, name, "model"))
    entry = {"network": MODELS[name]["cls"], "kwargs": model_kwargs(name, args.smoke),
             "parameters": sum(int(p.size) for p in generator.parameters()),
             "export_s": round(time.perf_counter() - start, 1)}
    if ONNX_BACKEND in backends:
        with stdout_to_stderr():  # paddle2onnx logs to stdout; ours is the JSON alone
            export.export_onnx(os.path.join(folder, name, "model"))
    if TORCH_BACKEND in backends and MODELS[name]["torch"]:
        save_torch_weights(generator, os.path.join(folder, name, "torch_weights.npz"))
    else:
        backends = tuple(b for b in backends if b != TORCH_BACKEND)
    entry["sizes"] = {}
    for size, (h, w) in (SMOKE_SIZES if args.smoke else MODELS[name]["sizes"]).items():
        result = run_child(args, "latency", folder, name, size, *backends)
        latency = {b: statistics.median(t) for b, t in result["times"].items()}
        output_mp = 16 * h * w / 1e6
        entry["sizes"][size] = {
            "output_mp": round(output_mp, 4),
            "latency_s": {b: round(t, 3) for b, t in latency.items()},
            "s_per_output_mp": {b: round(t / output_mp, 2) for b, t in latency.items()},
            "max_abs_diff_vs_predictor": {b: float(f"{d:.2g}") for b, d in
                                          result["max_abs_diff_vs_predictor"].items()}}
    if name == "srresnet" and args.tile:
        entry[f"memory_{MEMORY_SIZE}_x4"] = {
            "tile": args.tile, "tile_pad": meta["receptive_field_radius"],
            **{backend: {"untiled": run_child(args, "memory", folder, backend, "0"),
                         f"tile{args.tile}": run_child(args, "memory", folder, backend,
                                                       str(args.tile))}
               for backend in ("dygraph", "predictor") if backend in backends}}
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                    help="networks to time (default: all)")
    ap.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                    help="default: all that are installed; the predictor always runs (the "
                         "others are compared with it)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per backend and size")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of every backend")
    ap.add_argument("--tile", type=int, default=128,
                    help="tile side (LR px) of SRResNet's memory runs; 0: no memory runs")
    ap.add_argument("--torch-python", help="a Python with torch and numpy for the PyTorch "
                                           "column (default: this one, if it has torch)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny widths on a tiny image, once: checks the script runs")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.repeats, args.tile = 1, min(args.tile, 16)

    if args.child:
        kind, folder, *rest = args.child
        if kind == "torch_worker":
            torch_worker(folder, *rest, args.threads, args.smoke)
            return
        result = (child_latency(folder, rest[0], rest[1], args.repeats, args.threads, rest[2:],
                                args.torch_python, args.smoke)
                  if kind == "latency"
                  else child_memory(folder, rest[0], int(rest[1]), args.threads, args.smoke))
        print(json.dumps(result))
        return

    from paddle_srgan.compat import import_paddle
    paddle = import_paddle()
    args.torch_python = torch_python_of(args)
    skipped = {ONNX_BACKEND: None if onnx_backend_available() else
               "not measured: pip install -e \".[onnx]\"",
               TORCH_BACKEND: None if args.torch_python else
               "not measured: give --torch-python (a Python with torch and numpy)"}
    backends = tuple(b for b in BACKENDS
                     if b == "predictor" or b in args.backends and not skipped.get(b))

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_infer_") as folder:
        results = {name: bench_model(args, folder, name, backends) for name in args.models}
    versions = {"paddle": paddle.__version__, "python": platform.python_version()}
    if ONNX_BACKEND in backends:
        versions.update(versions_of("paddle2onnx", "onnxruntime"))
    if TORCH_BACKEND in backends:
        versions["torch"] = torch_version(args.torch_python)
    print(json.dumps({
        "benchmark": "x4 generators, CPU inference, backends round-robin on the same input",
        "smoke": args.smoke, **versions,
        "cpu": cpu_name(), "cpu_cores": os.cpu_count(),
        "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE"),  # every process's
        "threads": args.threads, "repeats": args.repeats,
        "load_average_1min": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "backends": list(backends),
        "not_measured": {b: why for b, why in skipped.items() if why},
        "models": results,
    }, indent=2))


if __name__ == "__main__":
    main()
