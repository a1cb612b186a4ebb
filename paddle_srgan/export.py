"""Deployment with Paddle: paddle.jit export (and its ONNX conversion), loading on Paddle 2.6 /
3.x, the paddle.inference predictor. Tiling and image handling live in `inference` (no Paddle
there, so an ONNX deployment needs none) and are re-exported here.

An export is a prefix (`exported/srgan_x4`) naming up to four files:

    <prefix>.json       program, Paddle 3.x (PIR)          } one of the two, whatever the
    <prefix>.pdmodel    program, Paddle 2.6 (ProgramDesc)  } exporting Paddle writes
    <prefix>.pdiparams  weights
    <prefix>.yml        metadata (scale, channels, value ranges, receptive field, provenance)

Every runner below (`LayerRunner` for dygraph or jit-loaded layers, `Predictor` for
paddle.inference) has `.info` (a `ModelInfo`) and `.run(lr [N,C,h,w] float32 in [0,1]) ->
np.ndarray [N,C,h*s,w*s] in info.output_range` (see `inference`).

Paddle version behaviour handled here (measured with 2.6.2 and 3.3.1):
* 3.x writes PIR `.json` programs; with FLAGS_enable_pir_api=0 its jit.save fails on this model.
* 2.6 cannot read `.json` at all: jit.load says the file is missing, the predictor segfaults.
* 3.x reads a 2.6 `.pdmodel` in the predictor; its jit.load only inside DygraphOldIrGuard.
* 3.x's predictor plans memory itself (enable_memory_optim raises "Not find ...
  memory_optimize_pass"); 2.6 needs enable_memory_optim (510x339 LR: 10.4 GB -> 3.4 GB).
* 3.3's oneDNN conv + leaky_relu fuse pass segfaults (LapSRN); the predictor drops that pass.
* ONNX: paddle2onnx 2.x reads only 3.x (PIR) exports and refuses to import beside 2.6, 1.x
  reads 2.6 exports; with 3.3's float64 leaky_relu slope, paddle2onnx 2.1 writes alpha 0
  (export_onnx restores the slopes).
"""
import contextlib
import math
import os
import shutil
import signal
import tempfile
import threading
from fractions import Fraction

import yaml

from .compat import default_cpu_threads, import_paddle, paddle_version, resolve_device
from .storage import file_md5
# re-exported: the deployment API of tools/infer.py and of users' scripts stays in one place
from .inference import (EXPORT_FORMAT, META_SUFFIX, ExportError, ModelInfo, check_batch,
                        read_inference_image, read_metadata_file, super_resolve_image, upscale,
                        write_inference_image)

paddle = import_paddle()

MODEL_SUFFIXES = (".json", ".pdmodel")  # preference order when both exist (3.x reads both)
PARAMS_SUFFIX = ".pdiparams"
INPUT_NAME = "lr"
INPUT_RANGE = (0.0, 1.0)
ONEDNN_SHAPE_CACHE = 4  # input shapes whose oneDNN kernels the CPU predictor keeps


def _conv_reach(layer):
    """Input pixels on either side of its aligned input pixel that one output pixel of a
    convolution reads (stride-s transposed: the aligned input pixel is floor(out / s))."""
    padding = layer._padding
    pads = [padding] * 2 if isinstance(padding, int) else list(padding)
    if len(pads) != 2 or not all(isinstance(p, int) for p in pads):
        raise ValueError(f"receptive_field_radius: {type(layer).__name__} with padding "
                         f"{padding!r} is not supported; give tile_pad")
    reach = 0
    for k, d, s, p in zip(layer._kernel_size, layer._dilation, layer._stride, pads):
        span = (k - 1) * d
        if isinstance(layer, paddle.nn.Conv2DTranspose):
            reach = max(reach, -(-(span - p) // s), (p + s - 1) // s)
        elif s == 1:
            reach = max(reach, p, span - p)
        else:
            raise ValueError(f"receptive_field_radius: strided {type(layer).__name__} is not "
                             f"supported; give tile_pad")
    return reach


def receptive_field_radius(generator):
    """Radius, in LR pixels, of the LR region that the HR output of one LR pixel depends on.

    Runs the generator once (eval mode, 8x8 zeros; its mode is restored) with hooks on every
    convolution, and sums how far each reaches into its input, in LR pixels: reach / (the
    layer's input resolution / LR resolution). For a chain of layers (SRResNet) the ceiling of
    that sum is exact, the floors of the upsamplings included (tests/test_export.py checks it
    against an impulse response); for branches (LapSRN's image and feature paths) it is an
    upper bound. Functional calls in forward (F.interpolate skips) are not seen: they count
    only through the layers of the longest path, which reach further.

    Returns: int >= 0 (paper SRResNet: 40 at x2, x4 and x8).
    Raises: ValueError for strided convolutions, string paddings, pooling and nn.Upsample
        layers; give tile_pad explicitly then.
    """
    nn = paddle.nn
    unsupported = (nn.Upsample, nn.MaxPool2D, nn.AvgPool2D)
    layers = generator.sublayers()
    for layer in layers:
        if isinstance(layer, unsupported):
            raise ValueError(f"receptive_field_radius: {type(layer).__name__} is not supported; "
                             f"give tile_pad")
    side = 8
    reaches = []  # (reach in input pixels, input resolution / LR resolution)

    def record(layer, inputs, output):
        reaches.append((_conv_reach(layer), Fraction(inputs[0].shape[2], side)))

    hooks = [layer.register_forward_post_hook(record) for layer in layers
             if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose))]
    was_training = generator.training
    generator.eval()
    try:
        dtype = generator.parameters()[0].dtype
        with paddle.no_grad():
            generator(paddle.zeros([1, generator.in_channels, side, side], dtype=dtype))
    finally:
        for hook in hooks:
            hook.remove()
        if was_training:
            generator.train()
    return math.ceil(sum(Fraction(reach) / resolution for reach, resolution in reaches))


def final_output(out):
    """The full-scale output of a generator call: multi-level networks (LapSRN) return a list
    with one output per level, the others a tensor."""
    return out[-1] if isinstance(out, (list, tuple)) else out


class _FinalOutput(paddle.nn.Layer):
    """What gets exported: the generator reduced to its full-scale output."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, lr):
        return final_output(self.generator(lr))


# Every file an export may consist of (2.6 also writes `.pdiparams.info`).
EXPORT_SUFFIXES = MODEL_SUFFIXES + (PARAMS_SUFFIX, PARAMS_SUFFIX + ".info", META_SUFFIX, ".onnx")


def export_generator(generator, out_prefix, meta=None, onnx_opset=None):
    """Save `generator` for deployment with paddle.jit, plus `<out_prefix>.yml` metadata.

    The graph takes `lr` float32 [N, C, h, w] in [0, 1] with N, h, w dynamic and returns the
    generator's output; BatchNorm uses its running statistics (eval mode; the generator's
    train/eval mode is restored afterwards).

    Nothing is lost if the export is interrupted: the files are written to a hidden folder
    beside the target and only a complete export replaces an earlier one (see _swap_in).

    Args:
        generator: nn.Layer with scale, in_channels, out_channels, output_range.
        out_prefix: path without extension; its folder is created. Files of an earlier export
            at this prefix that the new one lacks are removed after the swap, so a 2.6
            `.pdmodel` never sits beside 3.x weights.
        meta: extra provenance for the metadata, e.g. {"model": cfg["network_g"],
            "weights": path, "config": path}; a "weights" file also gets "weights_md5".
        onnx_opset: also write `<out_prefix>.onnx` with this opset (export_onnx).
    Returns:
        the metadata dict written to `<out_prefix>.yml`.
    """
    out_prefix = os.path.abspath(os.fspath(out_prefix))
    folder, stem = os.path.split(out_prefix)
    _make_folder(folder)
    staging = tempfile.mkdtemp(prefix=f".{stem}.tmp-export-", dir=folder)
    try:
        record = _write_export(generator, os.path.join(staging, stem), meta)
        if onnx_opset is not None:
            export_onnx(os.path.join(staging, stem), onnx_opset)
        _swap_in(staging, out_prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def _make_folder(folder):
    """os.makedirs, or an ExportError naming the file that stands where a folder must be."""
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = folder
        while blocker and not os.path.isfile(blocker):
            blocker = os.path.dirname(blocker)
        raise ExportError(f"cannot make the export folder {folder}: {blocker} is a file") from None


def _swap_in(staging, out_prefix):
    """Move the complete export in `staging` to `out_prefix`, metadata last, then remove the
    files of an earlier export there that the new one lacks.

    Each rename is atomic; SIGTERM/SIGINT are held back until all are done, because a stop
    between two renames would leave the program of one export beside the weights of another.
    """
    stem = os.path.basename(out_prefix)
    new = {name[len(stem):] for name in os.listdir(staging)}
    with _stop_signals_held():
        for suffix in sorted(new, key=lambda x: x == META_SUFFIX):
            os.replace(os.path.join(staging, stem + suffix), out_prefix + suffix)
        for suffix in set(EXPORT_SUFFIXES) - new:
            if os.path.isfile(out_prefix + suffix):
                os.remove(out_prefix + suffix)


@contextlib.contextmanager
def _stop_signals_held():
    """SIGTERM/SIGINT arriving inside the block are recorded and raised again after it.

    A Python handler, not a signal mask: a mask covers one thread, and Paddle's threads
    would take the signal with its default (fatal) action. Handlers can only be set from the
    main thread; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


def _write_export(generator, out_prefix, meta):
    """The export's files at `out_prefix` (a fresh folder): program, weights, metadata."""
    info = ModelInfo.of(generator)
    was_training = generator.training
    generator.eval()
    try:
        spec = paddle.static.InputSpec([None, info.in_channels, None, None], "float32", INPUT_NAME)
        # jit.save converts the undecorated layer itself with to_static(full_graph=True)
        # (AST mode) on 2.6 and 3.x; paddle.jit.to_static(generator) would replace the caller's
        # generator.forward, and 2.6's default SOT mode fails on Python 3.11 when called again.
        # The wrapper makes the full-scale output the program's only output (predictors read
        # output 0; LapSRN's levels would otherwise come first).
        paddle.jit.save(_FinalOutput(generator), out_prefix, input_spec=[spec])
    finally:
        if was_training:
            generator.train()
    model_file, params_file = _present_files(out_prefix)
    extra = dict(meta or {})
    if extra.get("weights"):
        extra["weights"] = os.path.abspath(extra["weights"])
        extra["weights_md5"] = file_md5(extra["weights"])
    record = {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "model": {"type": type(generator).__name__},
        "scale": info.scale,
        "in_channels": info.in_channels,
        "out_channels": info.out_channels,
        "input_name": INPUT_NAME,
        "input_range": list(INPUT_RANGE),
        "output_range": list(info.output_range),
        "receptive_field_radius": info.receptive_field_radius,
        "model_file": os.path.basename(model_file),
        "params_file": os.path.basename(params_file),
        "paddle_version": paddle.__version__,
        **extra,
    }
    with open(out_prefix + META_SUFFIX, "w", encoding="utf-8") as f:
        yaml.safe_dump(record, f, sort_keys=False, default_flow_style=None)
    return record


def onnx_available():
    """True when paddle2onnx is importable (an optional extra, never a dependency)."""
    import importlib.util
    return importlib.util.find_spec("paddle2onnx") is not None


ONNX_MISSING = ("ONNX export needs paddle2onnx, which is not installed: pip install paddle2onnx "
                "(with Paddle 2.6: pip install \"paddle2onnx<2\")")


def export_onnx(prefix, opset=11):
    """Convert the export at `prefix` to `<prefix>.onnx` with paddle2onnx; returns that path.

    The ONNX graph has the same input (`lr`, [N, C, h, w] with N, h, w dynamic, [0, 1]) and
    output range as the Paddle export; `<prefix>.yml` describes both. paddle2onnx 2.x reads
    Paddle 3.x exports (PIR), 1.x reads Paddle 2.6 exports.
    """
    if not onnx_available():
        raise ImportError(ONNX_MISSING)
    try:
        import paddle2onnx
    except ValueError as exc:  # paddle2onnx 2.x refuses Paddle 2.6 with a long message
        raise ImportError(f"paddle2onnx cannot run with Paddle {paddle.__version__} ({exc}); "
                          f"with Paddle 2.6 install paddle2onnx 1.x: pip install "
                          f"\"paddle2onnx<2\"") from None

    model_file, params_file = model_files(prefix)
    onnx_file = os.fspath(prefix) + ".onnx"
    paddle2onnx.export(model_filename=model_file, params_filename=params_file,
                       save_file=onnx_file, opset_version=opset)
    if model_file.endswith(".json"):
        _restore_leaky_relu_slopes(model_file, onnx_file)
    return onnx_file


def _restore_leaky_relu_slopes(program_file, onnx_file):
    """Copy each leaky_relu's negative_slope from a PIR program to its ONNX LeakyRelu.

    Why: Paddle 3.3 stores negative_slope as a float64 attribute (it was float32), and
    paddle2onnx 2.1 then writes alpha = 0 (LapSRN's output was off by 0.2). Both lists are
    in program order: paddle2onnx converts op by op.
    """
    import json

    import onnx

    def leaky_relu_slopes(node):
        if isinstance(node, dict):
            if node.get("#") == "1.leaky_relu":
                attrs = {a.get("N"): a.get("AT", {}).get("D") for a in node.get("A", [])}
                yield float(attrs["negative_slope"])
            for value in node.values():
                yield from leaky_relu_slopes(value)
        elif isinstance(node, list):
            for value in node:
                yield from leaky_relu_slopes(value)

    with open(program_file, encoding="utf-8") as f:
        slopes = list(leaky_relu_slopes(json.load(f)))
    model = onnx.load(onnx_file)
    nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    if len(nodes) != len(slopes):
        raise ExportError(f"{onnx_file}: {len(nodes)} LeakyRelu nodes for {len(slopes)} "
                          f"leaky_relu ops in {program_file}; cannot restore their slopes")
    if not slopes:
        return
    for node, slope in zip(nodes, slopes):
        del node.attribute[:]  # LeakyRelu's only attribute is alpha
        node.attribute.append(onnx.helper.make_attribute("alpha", slope))
    onnx.save(model, onnx_file)


def _present_files(prefix):
    """(program file, params file) at `prefix`, whichever program format is there."""
    params = prefix + PARAMS_SUFFIX
    found = [prefix + s for s in MODEL_SUFFIXES if os.path.isfile(prefix + s)]
    if not found or not os.path.isfile(params):
        hint = ""
        if os.path.isdir(prefix):
            stems = sorted({os.path.join(prefix, n[:-len(PARAMS_SUFFIX)])
                            for n in os.listdir(prefix) if n.endswith(PARAMS_SUFFIX)})
            hint = f"; that is a folder, give the prefix, e.g. {stems[0]}" if stems else ""
        raise ExportError(f"exported model not found: {prefix} (expected {prefix}.json or "
                          f"{prefix}.pdmodel and {params}, as tools/export.py writes){hint}")
    return found[0], params


def model_files(prefix):
    """(program file, params file) of the export at `prefix` that this Paddle can read."""
    prefix = os.fspath(prefix)
    model_file, params_file = _present_files(prefix)
    if model_file.endswith(".json") and paddle_version() < (3, 0):
        # Paddle 2.6 cannot read 3.x PIR programs (its predictor segfaults on them).
        if os.path.isfile(prefix + ".pdmodel"):
            return prefix + ".pdmodel", params_file
        raise ExportError(f"{model_file}: exported by Paddle 3.x (PIR program), which Paddle "
                          f"{paddle.__version__} cannot read; re-export with this Paddle "
                          f"(tools/export.py) or run inference with Paddle 3.x")
    return model_file, params_file


def read_metadata(prefix):
    """The `<prefix>.yml` dict written by export_generator (the export must exist)."""
    prefix = os.fspath(prefix)
    _present_files(prefix)
    return read_metadata_file(prefix + META_SUFFIX)


def load_exported(prefix):
    """paddle.jit.load of the export at `prefix`, in eval mode; call it like the generator."""
    prefix = os.fspath(prefix)
    model_file, _ = model_files(prefix)
    if model_file.endswith(".pdmodel") and paddle_version() >= (3, 0):
        # Paddle 3.x's jit.load looks for a PIR .json only; with the old IR switched on it
        # loads a 2.6 program, and the loaded layer then runs in PIR mode too.
        with paddle.pir_utils.DygraphOldIrGuard():
            layer = paddle.jit.load(prefix)
    else:
        layer = paddle.jit.load(prefix)
    layer.eval()
    return layer



class LayerRunner:
    """A dygraph generator or a jit-loaded layer behind the runner interface.

    run(lr_batch float32 [N, C, h, w] in [0, 1]) -> np.ndarray [N, C_out, h*s, w*s] in
    info.output_range. The layer must be in eval mode.
    """

    def __init__(self, layer, info):
        self.layer, self.info = layer, info

    def run(self, lr_batch):
        batch = check_batch(lr_batch, self.info.in_channels, "LayerRunner")
        with paddle.no_grad():
            return final_output(self.layer(paddle.to_tensor(batch))).numpy()


class Predictor:
    """paddle.inference on an export: GPU, or CPU with oneDNN and `threads` threads.

    run(lr_batch float32 [N, C, h, w] in [0, 1]) -> np.ndarray [N, C_out, h*s, w*s] in
    info.output_range. Not thread-safe: one Predictor per thread.
    """

    def __init__(self, prefix, device="auto", threads=None):
        from paddle import inference

        self.meta = read_metadata(prefix)
        self.info = ModelInfo.from_meta(self.meta, os.fspath(prefix) + META_SUFFIX)
        config = inference.Config(*model_files(prefix))
        self.device = resolve_device(device)
        if self.device == "gpu":
            config.enable_use_gpu(256, 0)  # initial pool MB, device id; the pool grows
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or default_cpu_threads())
            # oneDNN kernels: ~1.6x faster than the default CPU kernels on SRResNet, outputs
            # within 1e-6. Paddle 3.x names it enable_onednn, 2.6 only enable_mkldnn.
            getattr(config, "enable_onednn", config.enable_mkldnn)()
            # oneDNN keeps kernels per input shape; unbounded, a folder of differently sized
            # photos grows memory by ~30 MB per size (3.3). Tiles share one shape per image.
            getattr(config, "set_onednn_cache_capacity", config.set_mkldnn_cache_capacity)(
                ONEDNN_SHAPE_CACHE)
            if paddle_version() >= (3, 0):
                # Paddle 3.x's PIR conv_activation_onednn_fuse_pass segfaults while building
                # the predictor when a conv feeds leaky_relu (LapSRN, MSRResNet); SRResNet's
                # PReLU is not fused by it, so dropping it costs nothing measurable.
                config.delete_pass("conv_activation_onednn_fuse_pass")
        if paddle_version() < (3, 0):
            config.enable_memory_optim()  # see the module docstring: 3.x rejects it
        config.disable_glog_info()
        self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]

    def run(self, lr_batch):
        batch = check_batch(lr_batch, self.info.in_channels, "Predictor")
        self._input.reshape(list(batch.shape))
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._predictor.get_output_handle(self._output_name).copy_to_cpu()


def create_predictor(prefix, device="auto", threads=None):
    """A `Predictor` for the export at `prefix` (device: auto | cpu | gpu)."""
    return Predictor(prefix, device, threads)


__all__ = ["EXPORT_FORMAT", "ExportError", "ModelInfo", "receptive_field_radius",
           "export_generator", "onnx_available", "export_onnx", "model_files", "read_metadata",
           "load_exported", "LayerRunner", "Predictor", "create_predictor", "upscale",
           "super_resolve_image", "read_inference_image", "write_inference_image"]
