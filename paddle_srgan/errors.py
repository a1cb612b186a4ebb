"""The package's own error classes: what the tools print as one line instead of a traceback.

Every error that means "the input is wrong" (a config key, a file, a folder, a value given on
the command line) derives from `UserError`; `tools/*.py` (through `cli.run`) print those, and
the file-system errors a user causes, as `error: <message>` with exit code 2. Anything else is
a bug and keeps its traceback. `InputError` is also a ValueError and `MissingPackageError` an
ImportError, so callers that catch the built-in kinds keep working.
"""


class UserError(Exception):
    """Base of the errors a user can fix; the message names the file, key or value."""


class InputError(UserError, ValueError):
    """A value, file or folder given by the user is wrong."""


class MissingPackageError(UserError, ImportError):
    """An optional package is not installed; the message says how to install it."""
