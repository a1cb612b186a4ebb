"""Super-resolving whole images with any runner, without Paddle: memory-bounded tiling
(`tile_windows`, `upscale`) and integer images of every common layout (`super_resolve_image`:
gray, RGB, RGBA, 8/16-bit in, the same layout out). Images are read and written with
`data.io.read_image(path, keep_gray=True, keep_alpha=True)` and `data.io.write_image`.
"""
import cv2
import numpy as np

from ..data.colour import output_image, to_chw_float
from ..errors import InputError
from ..memory import peak_memory_rise


def check_tiling(tile, tile_pad, names=("tile", "tile_pad")):
    """The one rule for tiling arguments, wherever they come from (upscale, the page, the
    tools' --tile / --tile-pad): tile None (the whole image at once) or >= 1 LR pixels;
    tile_pad None (the model's receptive field radius) or >= 0. Raises InputError naming the
    arguments as the caller calls them (`names`)."""
    if tile is not None and tile < 1 or tile_pad is not None and tile_pad < 0:
        raise InputError(f"{names[0]} must be >= 1 and {names[1]} >= 0, got {names[0]} "
                         f"{tile} and {names[1]} {tile_pad}")


PROBE_SIDE = 128  # LR pixels: the probe run of measure_memory_per_pixel
# The probe's bytes per pixel against whole-image runs at 500x500 and 1000x1000 (SRResNet and
# MSRResNet, 8 features, x4; onnxruntime and the Paddle 3.3 predictor): from 5% under to 40%
# over; the margin covers the first and the image arrays around the run.
MEMORY_MARGIN = 1.5


def measure_memory_per_pixel(runner):
    """Peak memory bytes per LR pixel of `runner.run`, measured on the model as it runs
    here (runtime, threads, graph): the rise of the process's peak memory over one run on a
    PROBE_SIDE x PROBE_SIDE zero image. Run it before any other run: a runtime that keeps
    the memory of an earlier run (Paddle's allocator) needs less new memory. None where the
    process's memory counters are missing (not Linux)."""
    batch = np.zeros((1, runner.info.in_channels, PROBE_SIDE, PROBE_SIDE), np.float32)
    rise = peak_memory_rise(lambda: runner.run(batch))
    return None if rise is None else rise / PROBE_SIDE ** 2


def untiled_bytes(per_pixel, h, w):
    """Estimated peak bytes of running a whole h x w LR image (`per_pixel`: measured by
    measure_memory_per_pixel), the margin included."""
    return MEMORY_MARGIN * per_pixel * h * w


def automatic_tile(per_pixel, h, w, receptive_field_radius, available):
    """The tile side (LR pixels) that keeps a run on an h x w image within half of the
    `available` bytes (the rest: the image arrays, other programs), or None when the whole
    image fits, or nothing is known (`per_pixel` or `available` None). Tiles with the
    receptive field as context give the untiled output, so this costs no quality; a model
    without a finite one (`receptive_field_radius` None) is never tiled."""
    if (not per_pixel or available is None or receptive_field_radius is None
            or untiled_bytes(per_pixel, h, w) <= available / 2):
        return None
    window = int((available / 2 / untiled_bytes(per_pixel, 1, 1)) ** 0.5)
    return max(16, window - 2 * receptive_field_radius)


# The refusal of a tiled run padded by an unbounded receptive field ({0}, {1}: the names
# of the tile and tile_pad arguments where the caller takes them)
UNBOUNDED = ("tiling refused: this model's output depends on the whole image (its receptive "
             "field is unbounded, e.g. a global pooling), so tiles would not add up to the "
             "untiled output; run it without {0}, or give {1} to accept seams")
# The refusal of a tiled run padded by default of a model whose output shifts with no input
# shift of introspect.PERIODS (shift_period None): where a tile starts would change its output
SHIFT_VARIANT = ("tiling refused: shifting this model's input by 1, 2, 4 or 8 pixels does not "
                 "shift its output alike (it depends on where in the image a pixel lies), so "
                 "tiles would not add up to the untiled output; run it without {0}, or give {1} "
                 "to accept seams")


def tile_padding(info, tile_pad, names=("tile", "tile_pad")):
    """The context of a tiled run: `tile_pad`, or for None the model's receptive field radius
    (info: a runner's ModelInfo). Raises InputError (naming the arguments as the caller calls
    them) when tiles cannot add up to the untiled output: UNBOUNDED when that radius is
    unbounded (None), SHIFT_VARIANT when the model has no shift period (None)."""
    if tile_pad is not None:
        return tile_pad
    if info.receptive_field_radius is None:
        raise InputError(UNBOUNDED.format(*names))
    if info.shift_period is None:
        raise InputError(SHIFT_VARIANT.format(*names))
    return info.receptive_field_radius


def tiled(tile, h, w):
    """True when `tile` (LR pixels, None: whole image) splits an h x w LR image."""
    return tile is not None and (tile < h or tile < w)


def tile_windows(size, tile, pad, period=1):
    """Tiles along one axis: (core_start, core_end, window_start, window_end) in LR pixels.

    Cores partition [0, size) into runs of `tile`; each window is the core widened by `pad`,
    its start moved down to a multiple of `period` (the model's shift_period: a window
    starting elsewhere would see its pixels grouped unlike the whole image, as RRDBNet x2 / x1
    do), then slid inside the image, so all windows have the same length: min(size, tile +
    2*pad + period - 1), plus what makes size - length a multiple of `period` (the window slid
    against the end starts at one too, and has the whole image's bottom / right cells).
    A same-shaped input lets oneDNN and GPU kernels reuse their plans; sliding keeps >= pad
    context on every side that is not the image border, where the untiled run sees the same
    zero padding.
    """
    length = tile + 2 * pad + period - 1
    length = min(size, length + (size - length) % period)
    for start in range(0, size, tile):
        end = min(start + tile, size)
        window = min(max(start - pad, 0) // period * period, size - length)
        yield start, end, window, window + length


def upscale(run_fn, lr, scale, tile=None, tile_pad=None, finish=None, period=1):
    """Super-resolve one image, whole or tile by tile.

    Args:
        run_fn: runner.run: float32 [N, C, h, w] in [0, 1] -> [N, C_out, h*s, w*s].
        lr: float32 [C, h, w] in [0, 1].
        scale: the model's SR factor s.
        tile: core tile side in LR pixels; None runs the whole image at once. The network's
            memory then depends on tile + 2 * tile_pad, not on the image size.
        tile_pad: LR pixels of context on each side of a tile; >= the model's
            receptive_field_radius makes tiled output equal untiled output up to float
            rounding. Required with `tile`.
        finish: optional callable float32 [C_out, y, x] -> array [y, x, ...] (e.g. the
            final integer image), applied to each tile's output: the whole result is then
            held only in its final form (a uint8 RGB output needs 3 bytes per pixel instead
            of the 12 of float32), so peak memory is that plus one tile's buffers.
        period: the model's shift_period; tile windows start at its multiples.
    Returns:
        float32 [C_out, h*s, w*s] in the model's output range, or with `finish` the
        [h*s, w*s, ...] array it makes.
    """
    lr = np.asarray(lr, dtype=np.float32)
    if lr.ndim != 3:
        raise ValueError(f"upscale expects one image [C, h, w], got shape {list(lr.shape)}")
    _, h, w = lr.shape
    check_tiling(tile, tile_pad)
    if not tiled(tile, h, w):
        sr = run_fn(lr[None])[0]
        return sr if finish is None else finish(sr)
    if tile_pad is None:
        raise ValueError("upscale: a tiled run needs tile_pad (the model's "
                         "receptive_field_radius makes tiled output equal untiled output)")
    out = None
    for y0, y1, wy0, wy1 in tile_windows(h, tile, tile_pad, period):
        for x0, x1, wx0, wx1 in tile_windows(w, tile, tile_pad, period):
            sr = run_fn(np.ascontiguousarray(lr[None, :, wy0:wy1, wx0:wx1]))[0]
            core = sr[:, (y0 - wy0) * scale:(y1 - wy0) * scale,
                      (x0 - wx0) * scale:(x1 - wx0) * scale]
            del sr  # the window's output: free before the next tile runs
            if finish is not None:
                core = finish(core)  # [y, x, ...]
            if out is None:
                shape = ((core.shape[0], h * scale, w * scale) if finish is None
                         else (h * scale, w * scale) + core.shape[2:])
                out = np.empty(shape, dtype=core.dtype)
            if finish is None:
                out[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = core
            else:
                out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = core
    return out


def super_resolve_image(runner, image, tile=None, tile_pad=None):
    """Super-resolve an integer image of any common layout; returns the same layout and dtype.

    Args:
        runner: any runner (see `metadata`): LayerRunner, Predictor, OnnxRunner.
        image: uint8 or uint16, [H, W] or [H, W, 1] gray, [H, W, 3] RGB, [H, W, 4] RGBA.
            Gray runs through a 3-channel model as R=G=B and comes back as luma (BT.601);
            RGB through a 1-channel model runs channel by channel. Alpha is upscaled with
            OpenCV bicubic and re-attached (the network never sees it).
        tile, tile_pad: see `upscale`; tile_pad None -> the model's receptive field radius.
            Windows start at multiples of the model's shift_period (1 when it has none and
            tile_pad is given).
    Returns:
        uint8/uint16 image [H*s, W*s(, C)] with the input's dtype and channel layout.
    Raises:
        InputError (tile_padding) for a tiled run with tile_pad None of a model whose
        receptive field is unbounded or that has no shift period.
    """
    info = runner.info
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"super_resolve_image expects uint8 or uint16 pixels, got {image.dtype}")
    if info.in_channels not in (1, 3) or info.out_channels != info.in_channels:
        raise InputError(f"inference needs a 1->1 or 3->3 channel model, this one maps "
                         f"{info.in_channels}->{info.out_channels}")
    squeeze = image.ndim == 2
    pixels = image[:, :, None] if squeeze else image
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise InputError(f"expected a gray, RGB or RGBA image, got shape {list(image.shape)}")
    alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    color = pixels[:, :, :3] if alpha is not None else pixels
    gray = color.shape[2] == 1
    lr = to_chw_float(color)
    run = runner.run
    if info.in_channels == 3 and gray:
        lr = np.repeat(lr, 3, axis=0)
    elif info.in_channels == 1 and not gray:
        def run(batch):  # one-channel model: the colour channels become a batch of images
            n, c, h, w = batch.shape
            sr = runner.run(batch.reshape(n * c, 1, h, w))
            return sr.reshape(n, c, *sr.shape[2:])
    pad = tile_padding(info, tile_pad) if tiled(tile, *image.shape[:2]) else None

    def finish(sr):  # a tile's float output -> its pixels in the input's layout and dtype
        return output_image(sr, info.output_range, image.dtype, gray)
    out = upscale(run, lr, info.scale, tile, pad, finish, info.shift_period or 1)
    if alpha is not None:
        size = (out.shape[1], out.shape[0])
        out = np.dstack([out, cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC)])
    return out[:, :, 0] if squeeze else out


__all__ = ["UNBOUNDED", "SHIFT_VARIANT", "check_tiling", "tile_padding", "tiled",
           "measure_memory_per_pixel", "untiled_bytes", "automatic_tile", "tile_windows",
           "upscale", "super_resolve_image"]
