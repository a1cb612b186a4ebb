"""The language a config section states its checks in, and the checking itself.

A settings module (data/settings.py, train_settings.py, loss_settings.py; the run-level keys
in config.py) declares, beside its code:

* `DEFAULTS`: its top-level sections, every key with its default; the type of a default is
  the type a value must have (int is accepted for float);
* `ALLOWED`: {dotted key: (what is allowed, test)}, made with `one_of`, `number`, `integer`;
  `*` in a key stands for every item of a list or mapping;
* optionally `COMBINATIONS`: [(keys, test of their values, the problem in words with {0},
  {1}, ...)] for keys that must fit together; `CHECKS`: functions `check(cfg, origin)` that
  raise ConfigError for what a table cannot say (`origin(key)`: where its value came from);
  `LISTS`: {dotted key: ListSection}, a list whose items merge over an item schema
  (`train.phases`); `ANY_TYPE`: dotted keys whose value may be of several types (`vgg.layer`:
  a name or a mapping), judged by ALLOWED / CHECKS only and replaced whole, never merged.

config.py composes them; `check_values` applies the composed tables to a resolved config.
This module must stay cheap to import: no paddle, no cv2, and no import of config.py (which
imports the settings modules that import this one).
"""
import difflib
from typing import Callable, NamedTuple

from .errors import InputError, shown


class ConfigError(InputError):
    """A config file, key or value is wrong; the message names the file and the key."""


class ListSection(NamedTuple):
    """A config key holding a non-empty list of items (`noun` in messages), each merged over
    `defaults` (also its schema), then passed through `finish(item, key, source)`, which
    checks it and returns it completed; `key` is the item's dotted key ('train.phases.0')."""
    noun: str
    defaults: dict
    finish: Callable


def one_of(*values):
    return f"one of {', '.join(map(repr, values))}", lambda v: any(
        v == x and type(v) is type(x) for x in values)  # True is not 1, 4.0 is not 4


def number(low, strict=False, high=None, optional=False):
    """(what is allowed, test) for a number > or >= `low` (and < `high`), or None if optional."""
    what = f"a number {'>' if strict else '>='} {low}" + (f" and < {high}" if high else "")

    def test(v):
        if v is None:
            return optional
        return (isinstance(v, (int, float)) and not isinstance(v, bool)
                and (v > low if strict else v >= low) and (high is None or v < high))
    return what + (" (or null)" if optional else ""), test


def integer(low, optional=False, high=None):
    what, in_range = number(low, optional=optional, high=high)
    return what.replace("a number", "an integer"), lambda v: in_range(v) and (
        v is None or isinstance(v, int))


def closest_hint(key, valid, prefix=""):
    """' (did you mean 'prefix.x'?)' for the valid key nearest to `key`, else the valid list."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    if match:
        return f" (did you mean '{prefix}{match[0]}'?)"
    return f" (valid keys: {', '.join(prefix + v for v in sorted(valid))})"


def coerce(path, value, default, source):
    """`value` checked against the default's type; returns it (YAML 1.1 strings like '1e-4',
    which PyYAML does not read as floats, become floats where a float is expected)."""
    if isinstance(default, float) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if default is None or value is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{source}: key '{path}' must be {type(default).__name__}, "
                          f"got {type(value).__name__} {shown(value)}")
    return value


def get(cfg, key):
    """The value of a dotted key of a resolved config."""
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _values_at(cfg, key):
    """[(full key, value), ...] of a dotted key of ALLOWED; `*` expands over a list or a
    mapping."""
    found = [("", cfg)]
    for part in key.split("."):
        if part == "*":
            found = [(f"{k}.{i}", item) for k, v in found
                     for i, item in (v.items() if isinstance(v, dict) else enumerate(v))]
        else:
            found = [(f"{k}.{part}" if k else part, v[part]) for k, v in found]
    return found


def origin(full, source, overrides):
    """Where the value of key `full` came from: the `-o` (or environment) override that set
    it or one of its parents, else `source` (the config file)."""
    for text in reversed(overrides):
        key = text.split("=", 1)[0].strip()
        if full == key or full.startswith(key + "."):
            return f"-o {text}"
    return source


def check_values(cfg, allowed, checks, combinations, source, overrides=()):
    """ConfigError naming where the value came from (`source`, the config file, or the
    `overrides` text that set it), the key and what is allowed, for the first value of a
    resolved config that the `allowed` table refuses, then the first of `checks` and of
    `combinations` (see the module docstring) that fails."""
    for key, (what, test) in allowed.items():
        for full, value in _values_at(cfg, key):
            if not test(value):
                raise ConfigError(f"{origin(full, source, overrides)}: '{full}' must be "
                                  f"{what}, got {shown(value)}")
    for check in checks:
        check(cfg, lambda key: origin(key, source, overrides))
    for keys, fits, problem in combinations:
        values = [get(cfg, key) for key in keys]
        if not fits(*values):
            where = source
            for key in reversed(keys):  # the override that set any of them is named first
                where = origin(key, where, overrides)
            raise ConfigError(f"{where}: {problem.format(*values)}")
