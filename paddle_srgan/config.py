"""YAML config -> validated nested dict: the sections of each subsystem composed.

Each subsystem declares its sections beside its code, in config_rules' language (DEFAULTS,
ALLOWED, COMBINATIONS, CHECKS, LISTS, ANY_TYPE): data/settings.py (`datasets`),
loss_settings.py (`vgg`, `losses`), train_settings.py (`train`); this module holds the
run-level keys and the network sections, composes the rest into DEFAULTS / ALLOWED /
COMBINATIONS, and loads, merges and checks. Run folders: run_config_path, weights_config; a
resolved config: dump_config, config_differences.

Resolution order (later wins): DEFAULTS < `base:` file(s) < the YAML file < environment
(`PADDLE_SRGAN_OUTPUT_DIR`, `PADDLE_SRGAN_DATA_ROOT`) < `-o key=value` overrides.

Two kinds of sections:
* fixed sections (everything in DEFAULTS): unknown keys are an error naming the key, the file
  and the closest valid key; values must have the default's type (int is accepted for float).
* network sections (`network_g`, `network_d`): `type` names the class, every other key is a
  constructor kwarg, checked against the constructor when the model is built
  (`paddle_srgan.models.build_model`), so new model options need no config code.

This module must stay cheap to import: no paddle, no cv2.
"""
import copy
import os

import yaml

from . import config_rules, loss_settings, train_settings
from .config_rules import ConfigError, closest_hint, coerce, get, integer, one_of
from .data import settings as data_settings
from .errors import shown, yaml_problem

ENV_OVERRIDES = {"PADDLE_SRGAN_OUTPUT_DIR": "output_dir", "PADDLE_SRGAN_DATA_ROOT": "data_root"}
NETWORK_SECTIONS = ("network_g", "network_d")
# the factors of every dataset and of the networks that take them; 1 is restoration at the
# same size (RRDBNet's and SRVGGNetCompact's x1 models); the networks that upsample by
# pixel shuffle or resize convolutions take the rest (UPSAMPLING_SCALES)
SCALES = (1, 2, 4, 8)
UPSAMPLING_SCALES = SCALES[1:]
# OpenMP aborts the process (a C++ trace) when asked for far more threads than a CPU has; the
# largest CPUs have a few hundred
MAX_CPU_THREADS = 1024

RUN_DEFAULTS = {
    "experiment": "srgan_x4",    # run directory = output_dir/experiment
    "output_dir": "output",
    "data_root": "data",         # relative dataset folders are resolved under it
    "seed": 0,
    "device": "auto",            # auto (GPU if paddle was built with CUDA and sees one) | gpu | cpu
    "cpu_threads": 0,            # math-library threads on CPU; 0 = the process's cores / procs
    "scale": 4,                  # x1 / x2 / x4 / x8; networks and datasets follow it
    "network_g": {"type": "SRResNet"},
    "network_d": {"type": "Discriminator"},
}
RUN_ALLOWED = {
    "seed": integer(0),
    "device": one_of("auto", "gpu", "cpu"),
    "cpu_threads": integer(0, high=MAX_CPU_THREADS + 1),
    "scale": one_of(*SCALES),
}

# The subsystems' sections, in the order a resolved config lists them (and checks them).
# (Network kwargs are checked by models.build_model, datasets' channel and folders by
# data.datasets and data.benchmarks when the run is built.)
SECTIONS = (loss_settings, data_settings, train_settings)
DEFAULTS = {**RUN_DEFAULTS, **{k: v for s in SECTIONS for k, v in s.DEFAULTS.items()}}
ALLOWED = {**RUN_ALLOWED, **{k: v for s in SECTIONS for k, v in s.ALLOWED.items()}}
COMBINATIONS = [rule for s in SECTIONS for rule in getattr(s, "COMBINATIONS", ())]
CHECKS = [check for s in SECTIONS for check in getattr(s, "CHECKS", ())]
LISTS = {k: v for s in SECTIONS for k, v in getattr(s, "LISTS", {}).items()}
# keys of more than one type: ALLOWED / CHECKS judge them, a new value replaces the old whole
ANY_TYPE = {k for s in SECTIONS for k in getattr(s, "ANY_TYPE", ())}


def check_values(cfg, source, overrides=()):
    """ConfigError naming where the value came from (`source`, the config file, or the
    `overrides` text that set it), the key and what is allowed, for the first value of a
    resolved config that ALLOWED, CHECKS or COMBINATIONS refuse."""
    config_rules.check_values(cfg, ALLOWED, CHECKS, COMBINATIONS, source, overrides)


def _merge(base, update, schema, path, source):
    """Deep-merge `update` into a copy of `base`, validating keys against `schema`."""
    out = copy.deepcopy(base)
    if not isinstance(update, dict):
        raise ConfigError(f"{source}: '{path or 'top level'}' must be a mapping, got "
                          f"{shown(update)}")
    for key, value in update.items():
        full = f"{path}.{key}" if path else str(key)
        if path in NETWORK_SECTIONS:
            out[key] = value  # constructor kwargs, checked by build_model
            continue
        if key in NETWORK_SECTIONS and isinstance(value, dict) and \
                value.get("type", out[key].get("type")) != out[key].get("type"):
            out[key] = {}  # another class: the base's kwargs would not fit it
        if key not in schema:
            hint = closest_hint(str(key), schema, f"{path}." if path else "")
            raise ConfigError(f"{source}: unknown key '{full}'{hint}")
        if full in LISTS:
            out[key] = _items(full, value, source)
        elif full in ANY_TYPE:
            out[key] = copy.deepcopy(value)
        elif isinstance(schema[key], dict):
            out[key] = _merge(out.get(key) or {}, value, schema[key], full, source)
        else:
            out[key] = coerce(full, value, schema[key], source)
    return out


def _items(key, items, source):
    """The items of list section `key` (LISTS), each merged over its defaults and finished."""
    section = LISTS[key]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: '{key}' must be a non-empty list of {section.noun}")
    return [section.finish(_merge(section.defaults, item, section.defaults, f"{key}.{i}",
                                  source), f"{key}.{i}", source)
            for i, item in enumerate(items)]


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    return {} if data is None else data


def _defaults():
    """DEFAULTS with the items of its lists completed by their defaults (each phase's lr,
    losses, ...)."""
    cfg = DEFAULTS
    for key in LISTS:
        cfg = _merge(cfg, _nested(key.split("."), get(DEFAULTS, key)), DEFAULTS, "", "defaults")
    return cfg


def _load_file(path, seen=()):
    """Read `path`, following `base:` (relative to the file) before applying its own keys."""
    path = os.path.abspath(path)
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    base = data.pop("base", None)
    cfg = _defaults()
    if base is not None:
        cfg = _load_file(os.path.join(os.path.dirname(path), base), seen + (path,))
    return _merge(cfg, data, DEFAULTS, "", path)


def parse_override(text):
    """'a.b=c' -> (['a', 'b'], c) with c typed by YAML (1 -> int, 1e-4 -> float, [1,2] -> list)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def _nested(keys, value):
    """['train', 'phases', '0', 'iters'] -> nested dicts; list indices stay string keys here."""
    for key in reversed(keys):
        value = {key: value}
    return value


def apply_overrides(cfg, overrides, source="-o"):
    """Apply `-o key=value` strings (validated like file keys).

    Items of a list section (LISTS): `train.phases.0.iters=5`."""
    for text in overrides:
        keys, value = parse_override(text)
        listed = next((k for k in LISTS if len(keys) > k.count(".") + 1
                       and ".".join(keys[:k.count(".") + 1]) == k), None)
        if listed:
            section, depth = LISTS[listed], listed.count(".") + 1
            items = copy.deepcopy(get(cfg, listed))
            if not keys[depth].isdigit() or int(keys[depth]) >= len(items):
                raise ConfigError(f"{source}: '{listed}.{keys[depth]}' is not one of the "
                                  f"{len(items)} {section.noun} (0..{len(items) - 1})")
            index = int(keys[depth])
            items[index] = _merge(items[index], _nested(keys[depth + 1:], value),
                                  section.defaults, f"{listed}.{index}", f"{source} {text}")
            cfg = _merge(cfg, _nested(keys[:depth], items), DEFAULTS, "", source)
        else:
            cfg = _merge(cfg, _nested(keys, value), DEFAULTS, "", f"{source} {text}")
    return cfg


def load_config(path=None, overrides=(), environ=None):
    """Resolve a config: DEFAULTS < file (with bases) < environment < overrides.

    Returns a plain nested dict (YAML-serialisable) with `_source` naming the file.
    """
    cfg = _load_file(path) if path else _defaults()
    environ = os.environ if environ is None else environ
    env = [f"{key}={environ[var]}" for var, key in ENV_OVERRIDES.items() if environ.get(var)]
    cfg = apply_overrides(cfg, env, source="environment")
    cfg = apply_overrides(cfg, overrides)
    for section in NETWORK_SECTIONS:
        if not isinstance(cfg[section].get("type"), str):
            raise ConfigError(f"{path or 'defaults'}: '{section}.type' must name a network class")
    check_values(cfg, path or "defaults", list(overrides))
    cfg["_source"] = os.path.abspath(path) if path else None
    return cfg


RUN_CONFIG = "config.yml"  # a run directory's resolved config (engine.trainer writes it)


def run_config_path(weights):
    """The config.yml of the training run that the file `weights` belongs to: <run>/config.yml
    when `weights` lies in <run>/checkpoints/ (iter_*.pdparams, best.pdparams,
    <phase>_G.pdparams) and that file exists; else None. Relative as `weights` is."""
    folder = os.path.dirname(os.fspath(weights))
    if os.path.basename(os.path.abspath(folder or os.curdir)) != "checkpoints":
        return None
    path = os.path.normpath(os.path.join(folder, os.pardir, RUN_CONFIG))
    return path if os.path.isfile(path) else None


def weights_config(config, weights):
    """The model config for `weights`: `config` when given, else their run's config.yml
    (run_config_path). Raises ConfigError when neither is there."""
    if config:
        return config
    found = run_config_path(weights) if weights else None
    if found is None:
        raise ConfigError(f"give the model config with -c: {weights} does not lie in a training "
                          f"run's checkpoints/ folder beside its {RUN_CONFIG}")
    return found


def dump_config(cfg):
    """YAML text of a resolved config (what `--print-config` shows and runs save)."""
    return yaml.safe_dump({k: v for k, v in cfg.items() if not k.startswith("_")},
                          sort_keys=False, default_flow_style=None)


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif not str(key).startswith("_"):
            out[f"{prefix}{key}"] = value
    return out


def config_differences(old, new):
    """Keys whose values differ between two resolved configs: ['a.b: 1 -> 2', ...]."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]
