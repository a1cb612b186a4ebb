"""The package's own error classes: what the tools print as one line instead of a traceback.

Every error that means "the input is wrong" (a config key, a file, a folder, a value given on
the command line) derives from `UserError`; `tools/*.py` (through `cli.run`) print those, and
the file-system errors a user causes, as `error: <message>` with exit code 2. Anything else is
a bug and keeps its traceback. `InputError` is also a ValueError and `MissingPackageError` an
ImportError, so callers that catch the built-in kinds keep working.
"""
import reprlib


class UserError(Exception):
    """Base of the errors a user can fix; the message names the file, key or value."""


class InputError(UserError, ValueError):
    """A value, file or folder given by the user is wrong."""


class MissingPackageError(UserError, ImportError):
    """An optional package is not installed; the message says how to install it."""


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 2, 4, 4, 4
_SHORT.maxstring, _SHORT.maxother = 80, 80


def first_line(exc):
    """The first non-empty line of `exc`'s message, stripped: Paddle's, onnxruntime's and
    gloo's errors run to many lines (a C++ trace), of which a one-line message keeps this."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def yaml_problem(exc):
    """One line for a PyYAML error: its message runs to four lines (the context, the file and
    position of each mark, the problem); this keeps the problem and where it lies."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or first_line(exc)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def shown(value):
    """repr(value), bounded (reprlib: a few levels and items): how a message shows what a user
    gave. A YAML file of nested aliases is a few bytes that repr() prints as gigabytes."""
    return _SHORT.repr(value)
