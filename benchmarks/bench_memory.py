#!/usr/bin/env python
"""Peak memory of tools/infer.py against the LR image size, tiled and untiled; one JSON object.

Runs the real command (`tools/infer.py --model EXPORT --input X.png --output DIR [--tile T]
[--tile-pad P]`) in a fresh process per measurement and reads that process's peak resident
memory from the kernel (getrusage's ru_maxrss, through a small launcher): reading the PNG, the
network, assembling the output and encoding the result PNG all count. The model (--model,
random weights: memory does not depend on them) is exported for the Paddle predictor:
  srresnet-tiny  SRResNet x4, 8 features, 1 block (the default)
  rrdbnet23      RRDBNet x4 of ESRGAN / RealESRGAN_x4plus: 64 features, 23 RRDBs, growth 32
  rrdbnet1       the same widths with 1 RRDB: the same activations per tile (so the same tiled
                 memory but ~63 MB of weights), 1/8 of the arithmetic, for large images
The inputs (--sizes: N for NxN, or WxH) are scikit-image's astronaut tiled to size (natural
content, so PNG encoding behaves as for a photo). With --tile, the network's buffers follow the
tile; the rest is the output image in its own dtype (H*4 x W*4 x 3 bytes) and its PNG encoding.
`within_bound`: peak <= output (uint8) + 1.5 GB, the bound of issue 27 for RRDBNet.

    python benchmarks/bench_memory.py [--sizes 300 1200 3000] [--tile 256] [--untiled-max 1200]
    python benchmarks/bench_memory.py --model rrdbnet23 --sizes 250 500x250 500 --tile 128 \
        --tile-pad 16 --untiled-max 0
    python benchmarks/bench_memory.py --smoke      # seconds: checks the script runs
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

ROOT = Path(__file__).resolve().parents[1]

MODELS = {"srresnet-tiny": ("SRResNet", {"num_feat": 8, "num_block": 1}),
          "rrdbnet23": ("RRDBNet", {"num_feat": 64, "num_block": 23, "num_grow_ch": 32}),
          "rrdbnet1": ("RRDBNet", {"num_feat": 64, "num_block": 1, "num_grow_ch": 32})}
SMOKE_KWARGS = {"SRResNet": {"num_feat": 8, "num_block": 1},
                "RRDBNet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}}
BOUND_MB = 1536  # issue 27: a tiled RRDBNet run peaks within the output's size + 1.5 GB


# Runs the command and prints its peak RSS. Linux keeps a process's high-water mark across
# exec, and a child starts from its parent's (vfork shares the parent's memory): measured from
# this benchmark, which has Paddle loaded, every command would "peak" at the benchmark's own
# size. This small launcher's children start from a few MB instead.
LAUNCHER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def peak_rss_mb(command):
    """(peak RSS in MB, wall seconds) of running `command` to completion."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *map(str, command)],
                          capture_output=True, text=True,
                          env={**os.environ, "GLOG_minloglevel": "2"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{proc.stderr[-2000:]}")
    return round(int(proc.stdout.split()[-1]) / 1024), round(seconds, 1)


def lr_size(text):
    """"N" -> (N, N), "WxH" -> (H, W): an LR size of --sizes."""
    try:
        w, h = text.split("x") if "x" in text else (text, text)
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or WxH, got {text!r}") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, default="srresnet-tiny")
    ap.add_argument("--sizes", type=lr_size, nargs="+", default=["300", "1200", "3000"],
                    help="LR sizes: N (NxN) or WxH")
    ap.add_argument("--tile", type=int, default=256, help="tile side in LR pixels")
    ap.add_argument("--tile-pad", type=int,
                    help="LR pixels of context per tile (default: the receptive field)")
    ap.add_argument("--untiled-max", type=int, default=1200,
                    help="largest LR side also run untiled")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script runs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.tile, args.untiled_max = [(48, 48), (48, 96)], 32, 96

    import numpy as np
    import skimage.data

    from paddle_srgan import models
    from paddle_srgan.compat import import_paddle
    from paddle_srgan.data.io import write_image
    from paddle_srgan.deploy.export import export_generator
    paddle = import_paddle()

    cls, kwargs = MODELS[args.model]
    kwargs = SMOKE_KWARGS[cls] if args.smoke else kwargs
    pad = [] if args.tile_pad is None else ["--tile-pad", str(args.tile_pad)]
    runs, load_before = {}, os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        paddle.seed(0)
        prefix = os.path.join(tmp, "model_x4")
        generator = getattr(models, cls)(**kwargs)
        meta = export_generator(generator, prefix)
        astronaut = skimage.data.astronaut()
        for h, w in args.sizes:
            reps = (-(-h // astronaut.shape[0]), -(-w // astronaut.shape[1]), 1)
            path = os.path.join(tmp, f"lr_{w}x{h}.png")
            write_image(path, np.tile(astronaut, reps)[:h, :w])
            base = [sys.executable, str(ROOT / "tools" / "infer.py"), "--model", prefix,
                    "--input", path, "--output", os.path.join(tmp, "sr")]
            output_mb = round(16 * h * w * 3 / 2 ** 20)
            run = {"output_mb_uint8": output_mb}
            for name, extra in (("untiled", []), (f"tile{args.tile}", ["--tile",
                                                                      str(args.tile), *pad])):
                if name == "untiled" and max(h, w) > args.untiled_max:
                    continue
                mb, seconds = peak_rss_mb(base + extra)
                run[name] = {"peak_rss_mb": mb, "seconds": seconds,
                             "within_bound": mb <= output_mb + BOUND_MB}
            runs[f"{w}x{h}"] = run
        loaded_mb, _ = peak_rss_mb(base[:4] + ["--help"])

    print(json.dumps({
        "benchmark": "tools/infer.py peak RSS, x4, predictor", "model": args.model,
        "network": cls, "kwargs": kwargs,
        "parameters": sum(int(p.size) for p in generator.parameters()),
        "paddle": paddle.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpu_cores": os.cpu_count(),
        "load_average_1min": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "smoke": args.smoke, "tile": args.tile,
        "tile_pad": meta["receptive_field_radius"] if args.tile_pad is None else args.tile_pad,
        "receptive_field_radius": meta["receptive_field_radius"],
        "bound": f"peak <= output_mb_uint8 + {BOUND_MB} MB",
        "help_only_rss_mb": loaded_mb, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
