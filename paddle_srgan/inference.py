"""What running a super-resolution model needs besides the framework that runs it: the model's
description (`ModelInfo`, read from an export's `.yml`), tiled (memory-bounded) upscaling, and
the image layouts of `tools/infer.py`. No Paddle here: the ONNX path (`onnx_runner`) deploys
with onnxruntime alone, and `export` (Paddle) builds on this module.

A runner is any object with `.info` (a `ModelInfo`) and `.run(lr [N,C,h,w] float32 in [0,1])
-> np.ndarray [N,C_out,h*s,w*s] in info.output_range`: `export.LayerRunner`,
`export.Predictor`, `onnx_runner.OnnxRunner`. `upscale` tiles any such `run`, and
`super_resolve_image` turns integer images of any layout into integer images.
"""
import os
from dataclasses import dataclass

import cv2
import numpy as np
import yaml

from .data.io import read_image, write_image
from .data.transforms import to_image
from .errors import InputError

EXPORT_FORMAT = "paddle-srgan-export"
META_SUFFIX = ".yml"  # not .json: Paddle 3.x writes its program there
# ITU-R 601 luma without offset, as cv2.COLOR_RGB2GRAY and data.io.select_channel("gray").
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ExportError(InputError):
    """An export (Paddle or ONNX) is missing, incomplete or unreadable here; the message names
    the file and what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """What inference needs to know about a generator besides its weights.

    scale: SR factor; in_channels / out_channels: 1 or 3; output_range: (lo, hi) of the
    output values (SRResNet: (-1, 1)); receptive_field_radius: LR pixels on each side of an
    LR pixel that its HR output depends on (the exact tile padding).
    """

    scale: int
    in_channels: int
    out_channels: int
    output_range: tuple
    receptive_field_radius: int

    @classmethod
    def of(cls, generator):
        missing = [a for a in ("scale", "in_channels", "out_channels", "output_range")
                   if not hasattr(generator, a)]
        if missing:
            raise ValueError(f"{type(generator).__name__} cannot be exported: it has no "
                             f"{', '.join(missing)} attribute(s)")
        # export imports Paddle; only a Paddle generator gets here, never an ONNX deployment
        from .export import receptive_field_radius
        return cls(int(generator.scale), int(generator.in_channels), int(generator.out_channels),
                   tuple(float(v) for v in generator.output_range),
                   receptive_field_radius(generator))

    @classmethod
    def from_meta(cls, meta, source):
        missing = [k for k in cls.__dataclass_fields__ if k not in meta]
        if missing:
            raise ExportError(f"{source}: missing key(s) {', '.join(missing)}; re-export with "
                              f"tools/export.py")
        return cls(int(meta["scale"]), int(meta["in_channels"]), int(meta["out_channels"]),
                   tuple(float(v) for v in meta["output_range"]),
                   int(meta["receptive_field_radius"]))


def read_metadata_file(path):
    """The export metadata dict in the `.yml` file `path` (written by export.export_generator).

    Raises ExportError naming the file when it is missing, not YAML or not export metadata.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ExportError(f"{path}: export metadata missing (tools/export.py writes it beside "
                          f"the model; re-export)")
    try:
        with open(path, encoding="utf-8") as f:
            meta = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ExportError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{path}: not paddle-srgan export metadata "
                          f"(expected format: {EXPORT_FORMAT})")
    return meta


def check_batch(lr_batch, channels, who):
    """`lr_batch` as a float32 C-contiguous [N, channels, h, w] array, or ValueError."""
    batch = np.ascontiguousarray(lr_batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1] != channels:
        raise ValueError(f"{who}.run expects [N, {channels}, h, w], got shape {list(batch.shape)}")
    return batch


def _windows(size, tile, pad):
    """Tiles along one axis: (core_start, core_end, window_start, window_end) in LR pixels.

    Cores partition [0, size) into runs of `tile`; each window is the core widened by `pad`,
    then slid inside the image, so all windows have the same length min(size, tile + 2*pad).
    A same-shaped input lets oneDNN and GPU kernels reuse their plans; sliding keeps >= pad
    context on every side that is not the image border, where the untiled run sees the same
    zero padding.
    """
    length = min(size, tile + 2 * pad)
    for start in range(0, size, tile):
        end = min(start + tile, size)
        window = min(max(start - pad, 0), size - length)
        yield start, end, window, window + length


def upscale(run_fn, lr, scale, tile=None, tile_pad=None):
    """Super-resolve one image, whole or tile by tile.

    Args:
        run_fn: runner.run: float32 [N, C, h, w] in [0, 1] -> [N, C_out, h*s, w*s].
        lr: float32 [C, h, w] in [0, 1].
        scale: the model's SR factor s.
        tile: core tile side in LR pixels; None runs the whole image at once. The network's
            memory then depends on tile + 2 * tile_pad, not on the image size (the output
            array itself is 4 * C_out * h*s * w*s bytes).
        tile_pad: LR pixels of context on each side of a tile; >= the model's
            receptive_field_radius makes tiled output equal untiled output up to float
            rounding. Required with `tile`.
    Returns:
        float32 [C_out, h*s, w*s] in the model's output range.
    """
    lr = np.asarray(lr, dtype=np.float32)
    if lr.ndim != 3:
        raise ValueError(f"upscale expects one image [C, h, w], got shape {list(lr.shape)}")
    _, h, w = lr.shape
    if tile is None or (tile >= h and tile >= w):
        return run_fn(lr[None])[0]
    if tile < 1 or tile_pad is None or tile_pad < 0:
        raise ValueError(f"upscale: tile must be >= 1 and tile_pad >= 0 (use the model's "
                         f"receptive_field_radius), got tile={tile}, tile_pad={tile_pad}")
    out = None
    for y0, y1, wy0, wy1 in _windows(h, tile, tile_pad):
        for x0, x1, wx0, wx1 in _windows(w, tile, tile_pad):
            sr = run_fn(np.ascontiguousarray(lr[None, :, wy0:wy1, wx0:wx1]))[0]
            if out is None:
                out = np.empty((sr.shape[0], h * scale, w * scale), dtype=np.float32)
            out[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = sr[
                :, (y0 - wy0) * scale:(y1 - wy0) * scale, (x0 - wx0) * scale:(x1 - wx0) * scale]
    return out


def super_resolve_image(runner, image, tile=None, tile_pad=None):
    """Super-resolve an integer image of any common layout; returns the same layout and dtype.

    Args:
        runner: LayerRunner or Predictor.
        image: uint8 or uint16, [H, W] or [H, W, 1] gray, [H, W, 3] RGB, [H, W, 4] RGBA.
            Gray runs through a 3-channel model as R=G=B and comes back as luma (BT.601);
            RGB through a 1-channel model runs channel by channel. Alpha is upscaled with
            OpenCV bicubic and re-attached (the network never sees it).
        tile, tile_pad: see `upscale`; tile_pad None -> the model's receptive field radius.
    Returns:
        uint8/uint16 image [H*s, W*s(, C)] with the input's dtype and channel layout.
    """
    info = runner.info
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"super_resolve_image expects uint8 or uint16 pixels, got {image.dtype}")
    if info.in_channels not in (1, 3) or info.out_channels != info.in_channels:
        raise ValueError(f"inference needs a 1->1 or 3->3 channel model, this one maps "
                         f"{info.in_channels}->{info.out_channels}")
    squeeze = image.ndim == 2
    pixels = image[:, :, None] if squeeze else image
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a gray, RGB or RGBA image, got shape {list(image.shape)}")
    alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    color = pixels[:, :, :3] if alpha is not None else pixels
    gray = color.shape[2] == 1
    lr = color.transpose(2, 0, 1).astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    run = runner.run
    if info.in_channels == 3 and gray:
        lr = np.repeat(lr, 3, axis=0)
    elif info.in_channels == 1 and not gray:
        def run(batch):  # one-channel model: the colour channels become a batch of images
            n, c, h, w = batch.shape
            sr = runner.run(batch.reshape(n * c, 1, h, w))
            return sr.reshape(n, c, *sr.shape[2:])
    pad = info.receptive_field_radius if tile_pad is None else tile_pad
    sr = upscale(run, lr, info.scale, tile, pad)
    if gray and sr.shape[0] == 3:
        sr = np.tensordot(GRAY_WEIGHTS, sr, axes=1)[None]  # weights sum to 1: range kept
    out = to_image(sr, info.output_range, image.dtype)
    if alpha is not None:
        size = (out.shape[1], out.shape[0])
        out = np.dstack([out, cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC)])
    return out[:, :, 0] if squeeze else out


def read_inference_image(path):
    """Decode an image keeping what inference must give back: gray stays [H, W, 1], RGBA
    keeps its alpha ([H, W, 4], RGBA order), RGB is [H, W, 3]; uint8 or uint16.

    Raises ImageReadError (from data.io.read_image) for missing, corrupt or unsupported files.
    """
    path = os.fspath(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        data = None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if (img is None or img.dtype not in (np.uint8, np.uint16)
            or (img.ndim == 3 and img.shape[2] not in (1, 3, 4))):
        return read_image(path)  # raises ImageReadError with the reason
    if img.ndim == 2:
        img = img[:, :, None]
    order = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[img.shape[2]]  # BGR(A) -> RGB(A)
    return np.ascontiguousarray(img[:, :, order])


def write_inference_image(path, img):
    """Write an output of super_resolve_image; RGBA ([H, W, 4]) needs a .png path."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        if os.path.splitext(os.fspath(path))[1].lower() != ".png":
            raise ValueError(f"write_inference_image({path}): RGBA output needs a .png name")
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(img[:, :, [2, 1, 0, 3]]))
        if not ok:
            raise ValueError(f"write_inference_image({path}): OpenCV could not encode "
                             f"{img.dtype} {list(img.shape)} as PNG")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        encoded.tofile(os.fspath(path))
    else:
        write_image(path, img)


__all__ = ["EXPORT_FORMAT", "META_SUFFIX", "ExportError", "ModelInfo", "read_metadata_file",
           "check_batch", "upscale", "super_resolve_image", "read_inference_image",
           "write_inference_image"]
