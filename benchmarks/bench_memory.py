#!/usr/bin/env python
"""Peak memory of tools/infer.py against the LR image size, tiled and untiled; one JSON object.

Runs the real command (`tools/infer.py --model EXPORT --input X.png --output DIR [--tile T]`)
in a fresh process per measurement and reads that process's peak resident memory from the
kernel (getrusage's ru_maxrss, through a small launcher): reading the PNG, the network,
assembling the output and encoding the result PNG all count. The model is a small SRResNet
x4 (8 features, 1 block, random weights: memory does not depend on them), exported for the
Paddle predictor; the inputs are scikit-image's astronaut tiled to size (natural content,
so PNG encoding behaves as for a photo). With --tile, the network's buffers follow the tile;
the rest is the output image in its own dtype (H*4 x W*4 x 3 bytes) and its PNG encoding.

    python benchmarks/bench_memory.py [--sizes 300 1200 3000] [--tile 256] [--untiled-max 1200]
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 1200, 3000],
                    help="LR sides (square images)")
    ap.add_argument("--tile", type=int, default=256, help="tile side in LR pixels")
    ap.add_argument("--untiled-max", type=int, default=1200,
                    help="largest LR side also run untiled")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script runs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.tile, args.untiled_max = [48, 96], 32, 96

    import numpy as np
    import skimage.data

    from paddle_srgan.compat import import_paddle
    from paddle_srgan.data.io import write_image
    from paddle_srgan.deploy.export import export_generator
    from paddle_srgan.models import SRResNet
    paddle = import_paddle()

    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        paddle.seed(0)
        prefix = os.path.join(tmp, "tiny_x4")
        export_generator(SRResNet(num_feat=8, num_block=1), prefix)
        astronaut = skimage.data.astronaut()
        for side in args.sizes:
            reps = -(-side // astronaut.shape[0])
            image = np.tile(astronaut, (reps, reps, 1))[:side, :side]
            path = os.path.join(tmp, f"lr_{side}.png")
            write_image(path, image)
            base = [sys.executable, str(ROOT / "tools" / "infer.py"), "--model", prefix,
                    "--input", path, "--output", os.path.join(tmp, "sr")]
            run = {"output_mb_uint8": round(16 * side * side * 3 / 2 ** 20)}
            for name, extra in (("untiled", []), (f"tile{args.tile}", ["--tile",
                                                                      str(args.tile)])):
                if name == "untiled" and side > args.untiled_max:
                    continue
                mb, seconds = peak_rss_mb(base + extra)
                run[name] = {"peak_rss_mb": mb, "seconds": seconds}
            runs[f"{side}x{side}"] = run
        loaded_mb, _ = peak_rss_mb(base[:4] + ["--help"])

    print(json.dumps({
        "benchmark": "tools/infer.py peak RSS, SRResNet x4 (8 features, 1 block), predictor",
        "paddle": paddle.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpu_cores": os.cpu_count(),
        "smoke": args.smoke, "tile": args.tile,
        "help_only_rss_mb": loaded_mb, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
