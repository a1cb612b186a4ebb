"""What an export says about its model, without Paddle: the `.yml` metadata beside every
export (Paddle or ONNX), `ModelInfo` (the `.info` of every runner) and the runner's input check.

A runner is any object with `.info` (a `ModelInfo`) and `.run(lr [N,C,h,w] float32 in [0,1])
-> np.ndarray [N,C_out,h*s,w*s] in info.output_range`: `predictor.LayerRunner`,
`predictor.Predictor`, `onnx_runner.OnnxRunner`; `tiling` runs any of them on whole images.
No Paddle here: the ONNX path deploys with onnxruntime alone.
"""
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import yaml

from ..data.realworld import degradation_label
from ..errors import InputError, UserError, shown, yaml_problem

EXPORT_FORMAT = "paddle-srgan-export"
META_SUFFIX = ".yml"  # not .json: Paddle 3.x writes its program there
# trained_for of exports written before the field existed (their config is not at hand)
NOT_RECORDED = "not recorded (exported before paddle-srgan recorded it; re-export)"
CLEAN = "bicubic (clean)"


class ExportError(InputError):
    """An export (Paddle or ONNX) is missing, incomplete or unreadable here; the message names
    the file and what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """What inference needs to know about a generator besides its weights.

    scale: SR factor; in_channels / out_channels: 1 or 3; output_range: (lo, hi) of the
    output values (SRResNet: (-1, 1)); receptive_field_radius: LR pixels on each side of an
    LR pixel that its HR output depends on (the exact tile padding, measured by
    introspect.receptive_field_radius), None when the output depends on the whole image
    (global pooling: tiling is refused, see tiling.UNBOUNDED); shift_period: the input shift
    (1, 2, 4 or 8 LR pixels) that shifts the output alike, so tile windows start at its
    multiples (measured by introspect.shift_period; RRDBNet x2: 2, x1: 4; exports written
    before it was recorded: 1, as every generator then was), None when no such shift exists
    (tiling is refused, see tiling.SHIFT_VARIANT); trained_for: the LR
    images the model learned to restore, in words (see trained_for()): a model for clean
    bicubic LR sharpens a photo's JPEG blocks and noise, one for real-world LR removes them.
    """

    scale: int
    in_channels: int
    out_channels: int
    output_range: tuple
    receptive_field_radius: Optional[int]
    shift_period: Optional[int] = 1
    trained_for: str = NOT_RECORDED

    @classmethod
    def of(cls, generator, trained_for=NOT_RECORDED):
        """The info of a generator that fits models.GENERATOR_CONTRACT (build_model checks);
        `trained_for`: what its training LR was (see `trained_for`)."""
        # introspect imports Paddle; only a Paddle generator gets here, never an ONNX deployment
        from .introspect import receptive_field_radius, shift_period
        radius = receptive_field_radius(generator)
        return cls(int(generator.scale), int(generator.in_channels), int(generator.out_channels),
                   tuple(float(v) for v in generator.output_range), radius,
                   shift_period(generator, radius), trained_for)

    @classmethod
    def from_meta(cls, meta, source):
        """The info an export's metadata dict `meta` (read from the file `source`) states,
        each value checked against the generator contract (ExportError naming the file and
        the key): a metadata file is user input, and `scale: 0` would name outputs *_x0.png,
        a huge scale allocate without end."""
        missing = [k for k in cls.__dataclass_fields__ if k not in meta and k not in ADDED_LATER]
        if missing:
            raise ExportError(f"{source}: missing key(s) {', '.join(missing)}; re-export with "
                              f"tools/export.py")
        for key, (rule, fits) in META_RULES.items():
            if key in meta and not fits(meta[key]):
                raise ExportError(f"{source}: '{key}' must be {rule}, got {shown(meta[key])}; "
                                  f"re-export with tools/export.py")
        return cls(meta["scale"], meta["in_channels"], meta["out_channels"],
                   tuple(float(v) for v in meta["output_range"]),
                   meta["receptive_field_radius"],
                   **{key: meta[key] for key in ADDED_LATER if key in meta})


def _integer(value, low, high):
    return type(value) is int and low <= value <= high


def _value_range(value):
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(type(v) in (int, float) and np.isfinite(v) for v in value)
            and value[0] < value[1])


# What an export's metadata may state (models.GENERATOR_CONTRACT, with bounds: no generator
# of the table scales by more than 8 or sees more than a few hundred LR pixels around one;
# scale 1 is RRDBNet x1, restoration at the same size)
MAX_SCALE, MAX_RADIUS = 16, 10_000
META_RULES = {
    "scale": (f"an integer from 1 to {MAX_SCALE}", lambda v: _integer(v, 1, MAX_SCALE)),
    "in_channels": ("1 or 3", lambda v: _integer(v, 1, 3) and v != 2),
    "out_channels": ("1 or 3", lambda v: _integer(v, 1, 3) and v != 2),
    "output_range": ("[lo, hi] with finite lo < hi", _value_range),
    # null: unbounded (the output depends on the whole image), which refuses tiling
    "receptive_field_radius": (f"an integer from 0 to {MAX_RADIUS} or null (unbounded)",
                               lambda v: v is None or _integer(v, 0, MAX_RADIUS)),
    # null: no input shift shifts the output alike, which refuses tiling
    "shift_period": ("1, 2, 4 or 8, or null (none)",
                     lambda v: v is None or type(v) is int and v in (1, 2, 4, 8)),
    "trained_for": ("text", lambda v: isinstance(v, str)),
}
# Keys that exports of older versions lack: ModelInfo's defaults stand in for them
ADDED_LATER = ("shift_period", "trained_for")


def trained_for(cfg):
    """What LR images the generator of the resolved config `cfg` was trained on, in words:
    'bicubic (clean)' (hr_only: MATLAB bicubic), 'paired LR files (<lr_dir>)', or
    'realworld: JPEG q30-95, noise ...' (realworld.degradation_label of its degradation section).
    Recorded in an export's metadata and shown by tools/infer.py and the page."""
    train = cfg["datasets"]["train"]
    if train["type"] == "realworld":
        return "realworld: " + degradation_label(train["degradation"])
    if train["type"] == "paired":
        return f"paired LR files ({train['lr_dir']})"
    return CLEAN


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
        raise ExportError(f"{path}: not valid YAML ({yaml_problem(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{path}: not paddle-srgan export metadata "
                          f"(expected format: {EXPORT_FORMAT})")
    return meta


class RunnerOutOfMemory(UserError, MemoryError):
    """A runtime ran out of memory on an input; the message names --tile."""


# How the runtimes say they ran out of memory (lower case): Paddle's ResourceExhaustedError
# ("Out of memory error on CPU") and std::bad_alloc, onnxruntime's "Failed to allocate memory",
# and the bare "std::exception" Paddle 3.3's predictor raised for a 2000x2000 image
OUT_OF_MEMORY = ("out of memory", "resourceexhausted", "failed to allocate", "bad_alloc",
                 "std::exception")


def run_guarded(run, batch, backend, info):
    """run(batch) (batch: [N, C, h, w]) -> [N, info.out_channels, h * scale, w * scale]; a
    failure to allocate is a RunnerOutOfMemory naming --tile, in one line, instead of the
    runtime's own (a C++ trace for Paddle); an output of another size than `info` (the
    export's metadata) states is an ExportError: images written from it would be wrong."""
    try:
        out = run(batch)
    except Exception as exc:
        said = f"{type(exc).__name__}: {exc}"
        found = [(line.lower().find(m), line) for line in said.splitlines()
                 for m in OUT_OF_MEMORY if m in line.lower()]
        if not found and not isinstance(exc, MemoryError):
            raise
        at, line = found[0] if found else (0, said.splitlines()[0])
        reason = line.strip() if len(line) <= 160 else line[max(0, at - 20):at + 140].strip()
        raise RunnerOutOfMemory(
            f"{backend} ran out of memory on a {batch.shape[3]}x{batch.shape[2]} input "
            f"({reason}); run it in tiles: --tile 256 (or smaller)") from None
    n, _, h, w = batch.shape
    expected = [n, info.out_channels, h * info.scale, w * info.scale]
    if list(out.shape) != expected:
        raise ExportError(f"the model ({backend}) gives {list(out.shape)} for a "
                          f"{list(batch.shape)} input, but its metadata (scale {info.scale}, "
                          f"{info.out_channels} output channels) says {expected}; re-export "
                          f"with tools/export.py")
    return out


def check_batch(lr_batch, channels, who):
    """`lr_batch` as a float32 C-contiguous [N, channels, h, w] array, or ValueError."""
    batch = np.ascontiguousarray(lr_batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1] != channels:
        raise ValueError(f"{who}.run expects [N, {channels}, h, w], got shape {list(batch.shape)}")
    return batch


__all__ = ["EXPORT_FORMAT", "META_SUFFIX", "NOT_RECORDED", "CLEAN", "ExportError", "ModelInfo",
           "trained_for", "read_metadata_file", "RunnerOutOfMemory", "run_guarded",
           "check_batch"]
