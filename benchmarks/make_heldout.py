#!/usr/bin/env python
"""Write the held-out natural images that the demo's quality is judged on.

Nine photographs that ship inside installed wheels (so anyone can rebuild the set offline)
and that no bundled config trains on (data/demo/ holds astronaut, chelsea, coffee, rocket and
the immunohistochemistry slide): scikit-image's brick, camera, coins, grass, gravel, moon,
hubble_deep_field and the left view of stereo_motorcycle, and matplotlib's grace_hopper.jpg.
Six are gray; the evaluation scores gray files on their own values (see docs/evaluation.md).

    python benchmarks/make_heldout.py [--out data/heldout/HR]
    python tools/eval.py -c CONFIG --weights W --datasets Set5 data/heldout/HR

Prints one JSON object: {"out": folder, "images": {name: [height, width, channels]}}.
"""
import argparse
import json
import os
import sys

import matplotlib
import numpy as np
import skimage.data

from paddle_srgan.data.io import read_image, write_image

SKIMAGE = ("brick", "camera", "coins", "grass", "gravel", "moon", "hubble_deep_field")


def heldout_images():
    """{name: uint8 [H, W] gray or [H, W, 3] RGB}."""
    images = {name: getattr(skimage.data, name)() for name in SKIMAGE}
    images["motorcycle_left"] = skimage.data.stereo_motorcycle()[0]
    hopper = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    images["grace_hopper"] = read_image(hopper)
    return images


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/heldout/HR", help="folder to write the PNGs to")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    shapes = {}
    for name, img in heldout_images().items():
        write_image(os.path.join(args.out, f"{name}.png"), img)
        shapes[name] = list(np.atleast_3d(img).shape)
    print(json.dumps({"out": args.out, "images": shapes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
