#!/usr/bin/env python
"""Super-resolve images with an exported model (paddle.inference or ONNX) or training weights.

Examples:
    python tools/infer.py --model exported/srgan_x4 --input photos/ --output sr/
    python tools/infer.py --model exported/srgan_x4.onnx --input photos/ --output sr/
    python tools/infer.py --model exported/srgan_x4 --input "photos/*.jpg" --output sr/ --tile 256
    python tools/infer.py -c configs/srgan.yml --weights best.pdparams --input a.png --output sr/
    python tools/infer.py --weights output/demo_x4/checkpoints/gan_G.pdparams --input a.png \\
        --output sr/                    # -c left out: the run's output/demo_x4/config.yml

--input takes files, folders (their images, not recursive) and glob patterns, listed once
before anything is written. Each output is <output>/<stem>_x<scale>.png (an output that would
replace an input, e.g. your photo_x4.png beside photo.png, stops the run before any
writing) with the input's bit depth (16-bit stays 16-bit) and layout: gray
stays gray, RGBA keeps its alpha (upscaled bicubic). --tile bounds memory: the image is
processed in tiles of that many LR pixels (0 or none: whole) with --tile-pad pixels of context
(default: the model's receptive field, which makes tiled output equal untiled output; a model
whose output depends on the whole image, e.g. through a global pooling, has none and refuses
--tile without --tile-pad). An unreadable file is reported and skipped; the exit code is then 1
(an error in the code itself stops the run). It first prints what the model was trained for
("bicubic (clean)" or "realworld: JPEG q30-95, ..."; for JPEG photos pick a realworld model);
a model for clean input given a photo with JPEG blocking (a JPEG of quality 80 or less, or
an 8x8 block grid in its pixels: paddle_srgan/deploy/suitability.py) ends with one warning
line naming those inputs and configs/realworld.yml.
An .onnx model runs through onnxruntime on the CPU (pip install onnxruntime) and needs its
<prefix>.yml beside it, not Paddle.
"""
import glob
import os
import sys
from pathlib import Path

from paddle_srgan import cli
from paddle_srgan.deploy.runners import check_model_choice, load_runner
from paddle_srgan.errors import InputError, UserError


def collect_inputs(patterns):
    """Files named by `patterns` (files, folders, globs), in the given order, no duplicates."""
    from paddle_srgan.data.io import list_images

    files = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            files.extend(list_images(pattern))
        elif os.path.isfile(pattern):
            files.append(Path(pattern))
        else:
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"--input {pattern}: no such file or folder, and no "
                                        f"file matches it as a pattern")
            files.extend(Path(p) for p in matches)
    return list(dict.fromkeys(files))


def output_names(files, out_dir, scale):
    """{input: <out_dir>/<stem>_x<scale>.png}. InputError (one line naming the files) when
    two inputs get one output name, or an output would replace an input of this run: the
    user's own photo_x4.png beside photo.png is never overwritten (nor upscaled again)."""
    inputs = {cli.file_identity(path): path for path in files}
    names = {}
    for path in files:
        target = Path(out_dir) / f"{path.stem}_x{scale}.png"
        clash = next((p for p, t in names.items() if t == target), None)
        if clash is not None:
            raise InputError(f"{clash} and {path} would both be written to {target}; "
                             f"run them with different --output folders")
        replaced = inputs.get(cli.file_identity(target)) if os.path.exists(target) else None
        if replaced is not None:
            raise InputError(f"the result of {path} would replace {replaced}, an input of this "
                             f"run; nothing was written: give --output a folder that holds no "
                             f"input")
        names[path] = target
    return names


def upscale_file(runner, path, target, tile, tile_pad, per_pixel):
    """Super-resolve the image file `path` into `target`. Without `tile`, an image whose
    estimated memory (`per_pixel`: tiling.measure_memory_per_pixel) exceeds half of what is
    available runs in tiles, said on stderr. Returns the JPEG blocking found in the input
    (suitability.jpeg_blocking) when the model was trained for clean input, else None."""
    from tqdm import tqdm

    from paddle_srgan.data.io import read_image, write_image
    from paddle_srgan.deploy.metadata import CLEAN
    from paddle_srgan.deploy.suitability import jpeg_blocking
    from paddle_srgan.deploy.tiling import automatic_tile, super_resolve_image, untiled_bytes
    from paddle_srgan.memory import available_memory
    image = read_image(path, keep_gray=True, keep_alpha=True)
    h, w = image.shape[:2]
    # a one-channel model runs the colours of an RGB image as a batch of three
    runs = 3 if runner.info.in_channels == 1 and image.ndim == 3 and image.shape[2] >= 3 else 1
    # a model without a shift period is never tiled unasked, as one with an unbounded field
    radius = runner.info.receptive_field_radius if runner.info.shift_period else None
    auto = None if tile or per_pixel is None else automatic_tile(
        per_pixel * runs, h, w, radius, available_memory())
    if auto:
        tqdm.write(f"{path}: {w}x{h} at once needs about "
                   f"{untiled_bytes(per_pixel * runs, h, w) / 1e9:.1f} GB, more than half of "
                   f"the memory available: tiles of {auto} (--tile sets them)", file=sys.stderr)
    write_image(target, super_resolve_image(runner, image, tile or auto, tile_pad))
    return jpeg_blocking(path, image) if runner.info.trained_for == CLEAN else None


def main(argv=None):
    ap = cli.model_parser(__doc__, tile_default=None)
    ap.add_argument("--input", nargs="+", required=True, help="image files, folders or globs")
    ap.add_argument("--output", required=True, help="folder for the <stem>_x<scale>.png results")
    args = ap.parse_args(argv)
    check_model_choice(args.model, args.config, args.weights)  # before scanning the inputs
    cli.check_output_folder(args.output, "--output")
    tile, tile_pad = cli.tiling_arguments(args)

    files = collect_inputs(args.input)
    runner = load_runner(**cli.runner_arguments(args))
    targets = output_names(files, args.output, runner.info.scale)
    from paddle_srgan.deploy.tiling import tile_padding
    if tile is not None:  # a model that cannot be tiled is refused before any image
        tile_padding(runner.info, tile_pad, ("--tile", "--tile-pad"))
    # which inputs the model is for: a clean-trained model sharpens a photo's JPEG blocks
    print(f"model trained for: {runner.info.trained_for}")

    from tqdm import tqdm

    from paddle_srgan.deploy.suitability import advice
    from paddle_srgan.deploy.tiling import measure_memory_per_pixel

    # without --tile: the model's memory per pixel, measured once (before any other run), so
    # an image too large to run at once is run in tiles instead of failing
    per_pixel = None if tile else measure_memory_per_pixel(runner)
    failed, blocked = [], []
    # closed before an error or a signal leaves the loop, so their line starts a line
    with tqdm(files, desc="super-resolving", unit="img") as progress:
        for path in progress:
            try:
                finding = upscale_file(runner, path, targets[path], tile, tile_pad, per_pixel)
                if finding:
                    blocked.append((path.name, finding))
            except (UserError, OSError, MemoryError) as exc:  # a bug keeps its traceback
                if args.debug:
                    raise
                hint = "" if "--tile" in str(exc) or not isinstance(exc, MemoryError) \
                    else " (try --tile 256)"
                tqdm.write(f"skipped {path}: {exc}{hint}", file=sys.stderr)
                failed.append(path)
    done = len(files) - len(failed)
    warning = advice(runner.info.trained_for, blocked)
    if warning:
        print(warning, file=sys.stderr)
    print(f"wrote {done} image(s) to {args.output}")
    if failed:
        print(f"{len(failed)} of {len(files)} failed: {', '.join(map(str, failed))}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
