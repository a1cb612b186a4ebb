"""Plumbing shared by the tools/*.py command lines: common flags and error reporting.

Users see one clear line and a non-zero exit code for bad input; `--debug` shows the
traceback for bug reports.
"""
import argparse
import math
import os
import signal
import sys

from .config import MAX_CPU_THREADS, load_config, weights_config
from .errors import InputError, UserError

# Errors that mean "your input is wrong", reported as one line: the package's own (errors.py)
# and the file-system errors a user causes. Anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               FileExistsError, PermissionError)


def parser(description, config=True, config_help="YAML config, e.g. configs/srgan.yml"):
    """An ArgumentParser with --debug and, if `config`, -c/--config and -o/--override
    (-o may be repeated). config="optional": -c may be left out (tools that also run without
    a model config)."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    if config:
        ap.add_argument("-c", "--config", required=config != "optional", help=config_help)
        ap.add_argument("-o", "--override", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE",
                        help="override config keys, e.g. -o train.batch_size=8 scale=2")
    ap.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return ap


def bounded(kind, low, high=None, low_open=False):
    """An argparse `type`: a `kind` (int or float) number >= low (> low if `low_open`) and
    <= high (None: unbounded). argparse reports anything else as its usual error naming the
    flag, e.g. "argument --threads: expected an integer >= 1, got -1", exit code 2."""
    noun = "an integer" if kind is int else "a number"
    rule = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high else "")

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < low \
                or low_open and value == low or high is not None and value > high:
            raise argparse.ArgumentTypeError(f"expected {noun} {rule}, got {text!r}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


POSITIVE_INT = bounded(int, 1)
PORT = bounded(int, 1, 65535)


WEIGHTS_CONFIG_HELP = ("model config of --weights; default: the config.yml of the training run "
                       "the weights lie in (<run>/checkpoints/ -> <run>/config.yml)")


def model_parser(description, tile_default=None):
    """The parser of a tool that runs a model on images (tools/infer.py, tools/app.py): --model
    (an export or its .onnx file) or -c/-o with --weights [--use-ema]; --device, --threads,
    --tile (`tile_default`; 0 or None: whole image) and --tile-pad. Pass the parsed args to
    `runner_arguments` for deploy.runners.load_runner and to `tiling_arguments`."""
    ap = parser(description, config="optional",
                config_help="model config, with --weights (instead of --model)")
    ap.add_argument("--model",
                    help="export prefix written by tools/export.py, e.g. exported/srgan_x4, "
                         "or its .onnx file (tools/export.py --onnx)")
    ap.add_argument("--weights", help="generator weights to run directly (dygraph), with -c")
    ap.add_argument("--use-ema", action="store_true",
                    help="with --weights: run the EMA generator of a training checkpoint")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    ap.add_argument("--threads", type=bounded(int, 1, MAX_CPU_THREADS),
                    help="CPU threads (default: all cores)")
    ap.add_argument("--tile", type=int, default=tile_default,
                    help="tile side in LR pixels, bounds memory (default "
                         f"{tile_default or 'none'}; 0: the whole image, or tiles chosen by "
                         "infer when its memory estimate says the image would not fit)")
    ap.add_argument("--tile-pad", type=int,
                    help="LR pixels of context around each tile (default: receptive field)")
    return ap


def tiling_arguments(args):
    """(tile, tile_pad) of a model_parser's args as deploy.tiling takes them (--tile 0 ->
    None), checked by its one rule (InputError naming the flags)."""
    from .deploy.tiling import check_tiling
    tile = args.tile or None
    check_tiling(tile, args.tile_pad, ("--tile", "--tile-pad"))
    return tile, args.tile_pad


def runner_arguments(args):
    """The keyword arguments of deploy.runners.load_runner from a model_parser's args (the
    config of --weights found as config_path does)."""
    config = config_path(args, args.weights) if args.weights and not args.model else args.config
    return dict(model=args.model, config=config, overrides=args.override,
                weights=args.weights, use_ema=args.use_ema, device=args.device,
                threads=args.threads)


def check_output_folder(path, flag):
    """InputError now, before any work, if folder `path` (given as `flag`) cannot be made or
    written in: it, or the nearest of its parents that exists, is a file, or creating a file
    there fails (read-only folder or file system; a real attempt, not the permission bits,
    which say "writable" to root). A disk that fills up later is a storage.WriteError then."""
    import tempfile
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise InputError(f"{flag} {path}: {probe} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=probe).close()  # unnamed where the OS allows: no trace
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write in {probe} ({exc.strerror or exc})") \
            from None


def file_identity(path):
    """(device, inode) of an existing file: one file under any of its names (relative,
    absolute, through a symbolic or a hard link)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def refuse_replacing_inputs(outputs, inputs):
    """InputError (one line naming both files) when a path of `outputs` (files a tool is about
    to write or replace) is the same file as one of `inputs` ({what: path}, e.g. {"--weights":
    ...}): an output never replaces an input, whatever its name."""
    given = {file_identity(path): (what, path) for what, path in inputs.items()
             if path and os.path.isfile(path)}
    for out in outputs:
        hit = given.get(file_identity(out)) if os.path.isfile(out) else None
        if hit is not None:
            raise InputError(f"{out} would be replaced, but it is {hit[1]}, the {hit[0]} of "
                             f"this run; nothing was written: choose another output name")


def config_path(args, weights=None):
    """`-c`, or without it the config.yml of the training run that `weights` lie in (named on
    stderr); ConfigError when neither is there. None without -c and weights."""
    if args.config or not weights:
        return args.config
    path = weights_config(None, weights)
    print(f"config: {path} (the run's, beside the weights)", file=sys.stderr)
    return path


def config_from_args(args, weights=None):
    """The resolved config of `-c` (or of the run `weights` come from: config_path) and
    `-o`."""
    return load_config(config_path(args, weights), args.override)


class Terminated(BaseException):
    """SIGTERM arrived (a notebook, container or `timeout` stopping the tool)."""


def _terminate(signum, frame):
    raise Terminated()


def _say_last(line):
    """Print the tool's last `line` to stderr on a line of its own. A signal can land inside
    tqdm's constructor after it drew the bar and before any `with` owns the bar: the bar stays
    live, its line unfinished, and closing it ends nothing (tqdm 4.70 notes the draw after
    drawing; close() returns early without it). So live bars are closed (they leave tqdm's
    table, or later bars would be drawn below them) and their line is ended here."""
    bars = getattr(getattr(sys.modules.get("tqdm"), "tqdm", None), "_instances", ())
    live = [bar for bar in list(bars) if not getattr(bar, "disable", True)]
    for bar in live:
        bar.close()
    print(("\n" if live else "") + line, file=sys.stderr)


def run(main, argv=None):
    """Call `main(argv)`; report user errors as `error: ...` on stderr with exit code 2, and
    SIGTERM / Ctrl-C as one line with exit code 143 / 130, after `finally` blocks have run
    (half-written temporary files removed). The trainer handles both signals itself while it
    trains (engine/stop.py: it saves first)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)  # compat.import_paddle keeps it over Paddle's
    try:
        code = main(argv)
    except KeyboardInterrupt:
        _say_last("interrupted")
        return 130
    except Terminated:
        _say_last("stopped by SIGTERM")
        return 143
    except Exception as exc:
        if debug or not isinstance(exc, USER_ERRORS):
            raise
        _say_last(f"error: {exc}")
        return 2
    return code or 0
