"""Writing an export: paddle.jit program + weights + `<prefix>.yml` metadata (the files are
listed in `predictor`), staged in a hidden folder and swapped in whole, and its ONNX
conversion. Loading and running exports: `predictor`; without Paddle: `onnx_runner`.

Paddle version behaviour handled here (measured with 2.6.2 and 3.3.1; reading: `predictor`):
* 3.x writes PIR `.json` programs; with FLAGS_enable_pir_api=0 its jit.save fails on this model.
* ONNX: paddle2onnx 2.x reads only 3.x (PIR) exports and refuses to import beside 2.6, 1.x
  reads 2.6 exports; with 3.3's float64 leaky_relu slope, paddle2onnx 2.1 writes alpha 0
  (export_onnx restores the slopes); 2.x's default Polygraphy pass pip-installs packages
  (switched off: _no_installs). 3.3 also stores interpolate's scale as float64, which its
  CPU predictor and paddle2onnx 2.1 reject: models.blocks.BilinearUpsample avoids the op.
* Console: 3.3's jit.save logs a PIR warning and 2.6's an executor INFO line from C++;
  paddle2onnx 2.x prints its progress and the staging path, 1.x its progress unless
  verbose=False; and 2.x leaves constants no node uses, which onnxruntime announces one
  line each when it loads the model. None of it asks anything of the user (native_log).
"""
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading

import yaml

from ..compat import import_paddle
from ..native_log import JIT_SAVE_LINES, PADDLE2ONNX_LINES, dropped
from ..storage import WriteError, file_md5, process_alive, refuse_link
from .introspect import FinalLevel
from .metadata import EXPORT_FORMAT, META_SUFFIX, ExportError, ModelInfo, trained_for
from .predictor import EXPORT_SUFFIXES, model_files, present_files

paddle = import_paddle()

INPUT_NAME = "lr"
INPUT_RANGE = (0.0, 1.0)


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
    for suffix in EXPORT_SUFFIXES:  # before tracing: the renames of the swap would replace
        refuse_link(out_prefix + suffix)  # a link, not follow it; still, say it is there
    folder, stem = os.path.split(out_prefix)
    _make_folder(folder)
    _remove_stale_staging(folder, stem)
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=f".{stem}.tmp-export-{os.getpid()}-", dir=folder)
        record = _write_export(generator, os.path.join(staging, stem), meta)
        if onnx_opset is not None:
            export_onnx(os.path.join(staging, stem), onnx_opset)
        _swap_in(staging, out_prefix)
    except OSError as exc:  # a read-only folder, a full disk: one line naming the export
        raise WriteError.of(f"{out_prefix}.*" if staging else folder, exc) from None
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return record


def provenance(cfg, weights, use_ema=False):
    """The `meta` of export_generator for the generator of the resolved config `cfg` with
    `weights`: its network options, config and weights files, and what LR it was trained for
    (metadata.trained_for), so the page and tools/infer.py can tell a user."""
    return {"model": {**cfg["network_g"], "scale": cfg["scale"]}, "config": cfg["_source"],
            "weights": weights, "use_ema": use_ema, "trained_for": trained_for(cfg)}


def _remove_stale_staging(folder, stem):
    """Remove the hidden staging folders of exports to this prefix whose process is gone (a
    kill -9 or a power cut skips the cleanup; each can hold megabytes). Folders of a process
    still running, another export in progress, are left alone."""
    pattern = re.compile(rf"\.{re.escape(stem)}\.tmp-export-(\d+)-")
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match and not process_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


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
        with dropped(sys.stderr, JIT_SAVE_LINES):
            paddle.jit.save(FinalLevel(generator), out_prefix, input_spec=[spec])
    finally:
        if was_training:
            generator.train()
    model_file, params_file = present_files(out_prefix)
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
        "shift_period": info.shift_period,
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


def _no_installs():
    """paddle2onnx.export keyword arguments that keep it from installing packages.

    paddle2onnx 2.x's default `optimize_tool="polygraphy"` sets POLYGRAPHY_AUTOINSTALL_DEPS=1
    in os.environ and folds constants with Polygraphy, which then pip-installs what it lacks
    (onnx_graphsurgeon, sympy, onnxruntime) from the internet into the user's environment.
    "None" writes the converter's own graph (its C++ optimisation, `enable_optimize`, still
    runs, and onnxruntime folds constants itself when it loads the model). paddle2onnx 1.x
    has no such option and installs nothing.
    """
    import inspect

    import paddle2onnx
    if "optimize_tool" in inspect.signature(paddle2onnx.export).parameters:
        return {"optimize_tool": "None"}
    return {}


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
    no_installs = _no_installs()
    onnx_file = os.fspath(prefix) + ".onnx"
    try:
        with _paddle2onnx_quiet(paddle2onnx):
            paddle2onnx.export(model_filename=model_file, params_filename=params_file,
                               save_file=onnx_file, opset_version=opset, verbose=False,
                               **no_installs)
    except SystemExit:  # paddle2onnx 2.x logs a conversion error, then calls sys.exit(-1)
        raise ExportError(f"paddle2onnx could not convert {os.path.basename(model_file)} to "
                          f"ONNX (its message is above)") from None
    if not os.path.isfile(onnx_file):
        raise ExportError(f"paddle2onnx wrote no {onnx_file} (its message is above)")
    if model_file.endswith(".json"):  # paddle2onnx 2.x, which brings the onnx package
        import onnx
        model = onnx.load(onnx_file)
        _restore_leaky_relu_slopes(model_file, model, onnx_file)
        _remove_dead_ends(model.graph)
        onnx.save(model, onnx_file)
    return onnx_file


@contextlib.contextmanager
def _paddle2onnx_quiet(paddle2onnx):
    """paddle2onnx without its progress lines: its Python log at warnings and errors (2.x's
    INFO line names the hidden staging folder: tools/export.py names the final files), its
    known C++ progress lines on stdout dropped. Its errors still show."""
    log = getattr(getattr(paddle2onnx, "utils", None), "logging", None)
    level = getattr(log, "log_level", None)
    if level is not None:
        log.log_level = min(level, 1)  # 0 errors, 1 warnings, 2 info
    try:
        with dropped(sys.stdout, PADDLE2ONNX_LINES):
            yield
    finally:
        if level is not None:
            log.log_level = level


def _remove_dead_ends(graph):
    """Drop the nodes and initializers (constants) of the onnx GraphProto `graph` whose outputs
    nothing reads: paddle2onnx 2.1 leaves the Constant shape nodes of ops it folded, which
    onnxruntime turned into initializers and removed with one warning line each whenever it
    loaded the model. Standard ONNX ops have no side effects; subgraphs (If, Loop) count as
    readers."""
    def read(g):
        for node in g.node:
            yield from node.input
            for attr in node.attribute:
                for sub in [attr.g, *attr.graphs]:
                    yield from read(sub)
    while True:
        used = set(read(graph)) | {o.name for o in graph.output}
        dead = [node for node in graph.node if not used.intersection(node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    unused = {init.name for init in graph.initializer if init.name not in used}
    for init in [i for i in graph.initializer if i.name in unused]:
        graph.initializer.remove(init)
    for value in [v for v in graph.input if v.name in unused]:  # IR < 4 lists them as inputs
        graph.input.remove(value)


def _restore_leaky_relu_slopes(program_file, model, onnx_file):
    """Copy each leaky_relu's negative_slope from a PIR program to its LeakyRelu in the onnx
    ModelProto `model` (of `onnx_file`, named in errors).

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
    nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    if len(nodes) != len(slopes):
        raise ExportError(f"{onnx_file}: {len(nodes)} LeakyRelu nodes for {len(slopes)} "
                          f"leaky_relu ops in {program_file}; cannot restore their slopes")
    for node, slope in zip(nodes, slopes):
        del node.attribute[:]  # LeakyRelu's only attribute is alpha
        node.attribute.append(onnx.helper.make_attribute("alpha", slope))


__all__ = ["export_generator", "onnx_available", "ONNX_MISSING", "export_onnx"]
