#!/usr/bin/env python
"""Prepare super-resolution data: make MATLAB-bicubic LR images, check benchmark folders.

make-lr: LR images of a folder of HR images, DIV2K layout (OUT/X4/0001x4.png for 0001.png).
Each HR image is mod-cropped to a multiple of the scale, then shrunk by MATLAB-exact bicubic
imresize (the protocol every SR paper's LR images follow; OpenCV/Pillow resizes differ).

    python tools/prepare_data.py make-lr --hr data/DIV2K/DIV2K_train_HR \\
        --out data/DIV2K/DIV2K_train_LR_bicubic --scales 2 3 4

  Decoding a 2K PNG costs more than cropping a training patch from it; with
  --sub-images 480 --step 240 --sub-out DIR the HR images are first cut into overlapping
  480x480 sub-images (written to DIR; LR images are then made of those), so training reads
  small files (BasicSR's extract_subimages). Train on them with datasets.train.hr_dir=DIR.

  --degrade SPEC degrades each LR exactly as tools/eval.py --degrade does (the same pixels:
  seeded by file name; grammar in paddle_srgan/data/degrade_spec.py), e.g.
  --degrade blur:1.2+noise:5+jpeg:50.

check: which benchmark sets are in place under a root folder, with image counts.

    python tools/prepare_data.py check --root data/benchmarks [--datasets Set5 Set14]

  Expected layout: ROOT/Set5/HR, ROOT/Set14/HR, ROOT/B100/HR (or BSD100, BSDS100),
  ROOT/Urban100/HR, ROOT/DIV2K/DIV2K_valid_HR; optional LR next to HR in LR_bicubic/X4
  (DIV2K: DIV2K_valid_LR_bicubic/X4). Exit code 1 if a requested set is missing.

download: fetch a set, verify its checksum, unpack it into that layout (sources, sums and
citations: paddle_srgan/data/sources.py and docs/data.md).

    python tools/prepare_data.py download Set14 [--data-root data] [--scales 2 3 4]

  Set5 Set14 B100 Urban100 come from EDSR's benchmark.tar (~250 MB, kept in
  DATA_ROOT/downloads/ for the other sets), DIV2K (validation, 0801-0900) and DIV2K_train
  (0001-0800, 3.5 GB) from the DIV2K site; they land in DATA_ROOT/benchmarks/<set>/HR and
  LR_bicubic/X<s>, DATA_ROOT/benchmarks/DIV2K/ and DATA_ROOT/DIV2K/. A broken download
  resumes where it stopped (run the command again); LR scales the archive lacks are made by
  make-lr. --check-only reports what is in place; --mirror URL (or $PADDLE_SRGAN_DATA_MIRROR)
  fetches the same file names from another server; --sha256 FILE=HEX pins a sum.
"""
import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from paddle_srgan import cli
from paddle_srgan.errors import InputError


def benchmark_name(text):
    """argparse type: a benchmark name in any case, aliases accepted."""
    from paddle_srgan.data.benchmarks import canonical_name
    try:
        return canonical_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def crop_starts(length, crop, step, thresh):
    """Start offsets of sub-image crops along one axis (BasicSR extract_subimages).

    Crops every ``step`` pixels; one more crop flush with the far border if the uncovered
    remainder is larger than ``thresh``. An axis shorter than ``crop`` gets one whole-axis crop.
    """
    if length <= crop:
        return [0]
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def extract_subimages(job):
    """Cut one HR image into sub-images; returns how many were written."""
    from paddle_srgan.data.io import read_image, write_image

    path, out_dir, crop, step, thresh = job
    img = read_image(path)
    h, w = img.shape[:2]
    n = 0
    for y in crop_starts(h, crop, step, thresh):
        for x in crop_starts(w, crop, step, thresh):
            n += 1
            write_image(out_dir / f"{path.stem}_s{n:03d}.png", img[y:y + crop, x:x + crop])
    return n


def make_lr(job):
    """LR images of one HR image at every scale; returns the number of files written."""
    from paddle_srgan.data.degrade_spec import degraded_lr
    from paddle_srgan.data.io import read_image, write_image
    from paddle_srgan.data.transforms import mod_crop

    path, out_dir, scales, degrade = job
    hr = read_image(path, keep_gray=True)
    gray = hr.shape[2] == 1
    hr = np.repeat(hr, 3, axis=2) if gray else hr  # as BenchmarkSet reads it
    for s in scales:
        lr = degraded_lr(np.ascontiguousarray(mod_crop(hr, s)), s, degrade, path.stem, gray)
        write_image(out_dir / f"X{s}" / f"{path.stem}x{s}.png", lr)
    return len(scales)


def check_lr_sizes(hr_files, scale):
    """Refuse, by their headers and before any file is written, HR images with a side
    shorter than the largest scale (their LR would have no pixel)."""
    from paddle_srgan.data.io import image_size
    for path in hr_files:
        h, w = image_size(path)
        if min(h, w) < scale:
            raise InputError(f"image {path} is {w}x{h}; an LR image at x{scale} needs at least "
                             f"{scale}x{scale} pixels")


def run_jobs(fn, jobs, workers, desc):
    """fn over jobs in `workers` processes with a progress bar; returns the sum of results."""
    from tqdm import tqdm

    total = 0
    with tqdm(total=len(jobs), desc=desc, unit="img") as bar, \
            (ProcessPoolExecutor(workers) if workers > 1 else nullcontext()) as pool:
        for result in (pool.map(fn, jobs, chunksize=4) if pool else map(fn, jobs)):
            total += result
            bar.update(1)
    return total


def cmd_make_lr(args):
    from paddle_srgan.data.degrade_spec import canonical
    from paddle_srgan.data.io import list_images
    if any(s < 1 for s in args.scales):
        raise InputError(f"--scales must be integers >= 1, got {args.scales}")
    degrade = canonical(args.degrade)
    for folder, flag in ((args.out, "--out"), (args.sub_out, "--sub-out")):
        if folder is not None:
            cli.check_output_folder(folder, flag)  # before any image is made
    hr_dir = Path(args.hr)
    hr_files = list_images(hr_dir)
    if args.sub_images is not None:
        if args.sub_out is None:
            raise InputError("--sub-images needs --sub-out DIR (where the sub-images go)")
        if args.sub_images < 1 or (args.step or 1) < 1 or args.thresh < 0:
            raise InputError("--sub-images and --step must be >= 1, --thresh >= 0")
        if args.sub_images < max(args.scales):  # before any sub-image is written
            raise InputError(f"--sub-images {args.sub_images} is smaller than the scale "
                             f"x{max(args.scales)}: an LR sub-image would have no pixel")
        step = args.step or args.sub_images // 2
        sub_dir = Path(args.sub_out)
        jobs = [(p, sub_dir, args.sub_images, step, args.thresh) for p in hr_files]
        n = run_jobs(extract_subimages, jobs, args.workers, "sub-images")
        print(f"wrote {n} sub-images of {args.sub_images}x{args.sub_images} (step {step}) "
              f"from {len(hr_files)} images to {sub_dir}")
        hr_dir, hr_files = sub_dir, list_images(sub_dir)
    check_lr_sizes(hr_files, max(args.scales))
    out = Path(args.out)
    jobs = [(p, out, tuple(args.scales), degrade) for p in hr_files]
    n = run_jobs(make_lr, jobs, args.workers, "LR " + " ".join(f"x{s}" for s in args.scales))
    folders = ", ".join(str(out / f"X{s}") for s in args.scales)
    how = "MATLAB bicubic" + (f", degraded {degrade}" if degrade else "")
    print(f"wrote {n} LR images ({how}) of {len(hr_files)} HR images in {hr_dir} "
          f"to {folders}")
    return 0


def check_benchmark(root, name):
    """One report line for a benchmark and whether it was found."""
    from paddle_srgan.data.benchmarks import BENCHMARKS, count_images, lr_folder
    expected, candidates = BENCHMARKS[name]
    for rel in candidates:
        n = count_images(root / rel)
        if n:
            lr = lr_folder(root / rel)
            scales = sorted(p.name for p in lr.glob("X*") if p.is_dir()) if lr.is_dir() else []
            lr_text = ", ".join(f"{s} ({count_images(lr / s)})" for s in scales) or "none"
            note = "" if n == expected else f"  (the published set has {expected}: incomplete?)"
            return True, f"  {name:<9} found    {n:>3} images  {rel}  LR: {lr_text}{note}"
    looked = " or ".join(candidates)
    return False, f"  {name:<9} MISSING  no images in {looked}"


def cmd_check(args):
    root = Path(args.root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark root not found: {root} (give --root DIR)")
    from paddle_srgan.data.benchmarks import BENCHMARKS
    names = list(dict.fromkeys(args.datasets or BENCHMARKS))
    print(f"benchmark sets under {root}:")
    missing = []
    for name in names:
        found, line = check_benchmark(root, name)
        print(line)
        if not found:
            missing.append(name)
    print(f"{len(names) - len(missing)} of {len(names)} found.")
    if missing:
        print(f"missing: {', '.join(missing)}. Put each set's ground-truth images in "
              f"{root}/<name>/HR/ (see --help for the layout).")
        return 1
    return 0


def make_missing_lr(source, data_root, scales, workers):
    """MATLAB-bicubic LR of a downloaded set at `scales` (those its archives lack), written
    where the set's LR folders go; returns the lines to report."""
    from paddle_srgan.data.io import list_images
    hr_files = list_images(data_root / source.hr)
    check_lr_sizes(hr_files, max(scales))
    out = data_root / Path(source.lr.format(s=0)).parent  # make_lr adds X<s>/
    jobs = [(p, out, tuple(scales), None) for p in hr_files]
    run_jobs(make_lr, jobs, workers, "LR " + " ".join(f"x{s}" for s in scales))
    return [f"  LR x{s}: not in the archive; made with MATLAB-exact bicubic (make-lr) -> "
            f"{out / f'X{s}'}" for s in scales]


def cmd_download(args):
    from paddle_srgan.data.download import (
        MIRROR_ENV,
        check_layout,
        download_source,
        parse_pins,
    )
    from paddle_srgan.data.sources import find_source
    source = find_source(args.name)
    scales = list(dict.fromkeys(args.scales))
    if any(s < 1 for s in scales):
        raise InputError(f"--scales must be integers >= 1, got {args.scales}")
    data_root = Path(args.data_root)
    if args.check_only:
        complete, lines = check_layout(source, data_root, scales)
        print(f"{source.name} under {data_root}:")
        print("\n".join(lines))
        print("complete." if complete else f"incomplete: python tools/prepare_data.py "
              f"download {source.name} --data-root {data_root}")
        return 0 if complete else 1
    cli.check_output_folder(data_root, "--data-root")
    mirror = args.mirror or os.environ.get(MIRROR_ENV) or None
    report = download_source(source, data_root, scales, mirror, parse_pins(args.sha256),
                             args.retries)
    lines = [f"  {folder}: {n} images" for folder, n in report.placed.items()]
    if report.missing_lr:
        lines += make_missing_lr(source, data_root, report.missing_lr, args.workers)
    print(f"{source.name}, {source.about}; under {data_root}:")
    print("\n".join(lines) if lines else "  already in place; nothing downloaded")
    for file, (digest, checked) in report.sums.items():
        print(f"  sha256 {file}: {digest} " + ("(matches the published sum)" if checked else
              f"(no published sum: pin it with --sha256 {file}={digest})"))
    for path in report.kept:
        print(f"  archive kept: {path} ({path.stat().st_size / 2**20:.0f} MB; delete it to "
              f"free the space)")
    print(f"  cite: {source.cite}\n  licence: {source.licence}")
    return 0


def main(argv=None):
    ap = cli.parser(__doc__, config=False)
    sub = ap.add_subparsers(dest="command", required=True,
                            metavar="{make-lr,check,download}")

    mk = sub.add_parser("make-lr", help="MATLAB-bicubic LR images of an HR folder",
                        description="Write OUT/X<s>/<stem>x<s>.png for every HR image and scale.")
    mk.add_argument("--hr", required=True, help="folder of HR images")
    mk.add_argument("--out", required=True, help="output root; X<s>/ folders are created in it")
    mk.add_argument("--scales", type=int, nargs="+", default=[4], help="scales (default: 4)")
    mk.add_argument("--sub-images", type=int, metavar="N",
                    help="first cut HR images into NxN sub-images (e.g. 480), written to --sub-out")
    mk.add_argument("--step", type=int, help="sub-image stride (default: N/2)")
    mk.add_argument("--thresh", type=int, default=0,
                    help="skip a border remainder of at most this many pixels (default: 0)")
    mk.add_argument("--sub-out", help="folder for the sub-images")
    mk.add_argument("--degrade", metavar="SPEC",
                    help="degrade each LR as tools/eval.py --degrade does (same pixels), e.g. "
                         "blur:1.2+noise:5+jpeg:50")
    mk.add_argument("--workers", type=cli.POSITIVE_INT, default=min(4, os.cpu_count() or 1),
                    help="processes (default: min(4, CPU cores))")

    ck = sub.add_parser("check", help="report which benchmark sets are in place",
                        description="Report found/missing benchmark sets with image counts.")
    ck.add_argument("--root", default="data/benchmarks",
                    help="benchmark root (default: %(default)s)")
    ck.add_argument("--datasets", nargs="+", type=benchmark_name, metavar="NAME",
                    help="sets to check (default: Set5 Set14 B100 Urban100 DIV2K)")
    dl = sub.add_parser("download", help="fetch, verify and unpack a data set",
                        description="Fetch a data set (resuming a broken download), verify "
                                    "its checksum and unpack it into the layout of `check`.")
    dl.add_argument("name", metavar="NAME",
                    help="Set5, Set14, B100, Urban100, DIV2K (validation) or DIV2K_train")
    dl.add_argument("--data-root", default="data",
                    help="data folder; sets land in its benchmarks/ and DIV2K/ (default: "
                         "%(default)s)")
    dl.add_argument("--scales", type=int, nargs="*", default=[4],
                    help="LR scales to place next to HR (default: 4; none: HR only)")
    dl.add_argument("--check-only", action="store_true",
                    help="report what is in place, download nothing (exit code 1 if "
                         "incomplete)")
    dl.add_argument("--mirror", metavar="URL",
                    help="a folder URL serving the same file names (a lab server, a local "
                         "copy); default: $PADDLE_SRGAN_DATA_MIRROR, else the sources' URLs")
    dl.add_argument("--sha256", nargs="+", action="extend", default=[], metavar="FILE=HEX",
                    help="expected sha256 of an archive, replacing the published one (or "
                         "pinning one where none is published)")
    dl.add_argument("--retries", type=cli.bounded(int, 0), default=3,
                    help="resume a broken connection this many times at once (default: 3)")
    dl.add_argument("--workers", type=cli.POSITIVE_INT, default=min(4, os.cpu_count() or 1),
                    help="processes for LR images the archive lacks (default: min(4, cores))")
    for p in (mk, ck, dl):
        p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")

    args = ap.parse_args(argv)
    commands = {"make-lr": cmd_make_lr, "check": cmd_check, "download": cmd_download}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(cli.run(main))
