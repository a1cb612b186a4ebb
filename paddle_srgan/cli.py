"""Plumbing shared by the tools/*.py command lines: common flags and error reporting.

Users see one clear line and a non-zero exit code for bad input; `--debug` shows the
traceback for bug reports.
"""
import argparse
import sys

from .config import load_config
from .errors import UserError

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


def config_from_args(args):
    """The resolved config of `-c` and `-o`."""
    return load_config(args.config, args.override)


def run(main, argv=None):
    """Call `main(argv)`; report user errors as `error: ...` on stderr with exit code 2."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug or not isinstance(exc, USER_ERRORS):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code or 0
