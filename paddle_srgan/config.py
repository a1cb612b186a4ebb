"""YAML config -> validated nested dict. All defaults of the package live in `DEFAULTS` below.

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
import difflib
import os

import yaml

from .errors import InputError, shown


class ConfigError(InputError):
    """A config file, key or value is wrong; the message names the file and the key."""


ENV_OVERRIDES = {"PADDLE_SRGAN_OUTPUT_DIR": "output_dir", "PADDLE_SRGAN_DATA_ROOT": "data_root"}
NETWORK_SECTIONS = ("network_g", "network_d")

# Loss weights of a phase when the config does not give them: the paper's recipe
# (SRResNet: pixel MSE only; SRGAN: VGG54 content + 1e-3 adversarial). The name only picks
# these defaults: a discriminator is built and trained in exactly the phases whose
# adversarial weight is > 0, whatever they are called.
PHASE_LOSS_PRESETS = {
    "mse": {"pixel": 1.0, "perceptual": 0.0, "adversarial": 0.0, "feature_matching": 0.0},
    "gan": {"pixel": 0.0, "perceptual": 1.0, "adversarial": 1e-3, "feature_matching": 0.0},
}
PHASE_DEFAULTS = {
    "name": "mse",           # mse: generator alone; gan: generator + discriminator
    "iters": 0,              # optimizer steps in this phase (> 0)
    "lr": 1e-4,              # Adam learning rate of G (and D in a gan phase)
    "lr_milestones": [],     # iterations (counted inside the phase) where lr *= lr_gamma
    "lr_gamma": 0.1,
    # ESRGAN's network interpolation: at the phase end G = w * trained + (1 - w) * G at the
    # phase start (1: the trained weights)
    "network_interpolation": 1.0,
    # weights of the generator's loss terms; None -> the preset of the phase's name
    "losses": {"pixel": None, "perceptual": None, "adversarial": None, "feature_matching": None},
}

# Real-ESRGAN's blur kernel families (data.realworld.KERNEL_TYPES)
_KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
            "plateau_aniso")

# The scales every network and dataset takes (HR side / LR side).
SCALES = (2, 4, 8)

DEFAULTS = {
    "experiment": "srgan_x4",    # run directory = output_dir/experiment
    "output_dir": "output",
    "data_root": "data",         # relative dataset folders are resolved under it
    "seed": 0,
    "device": "auto",            # auto (GPU if paddle was built with CUDA and sees one) | gpu | cpu
    "cpu_threads": 0,            # math-library threads on CPU; 0 = the process's cores / procs
    "scale": 4,                  # x2 / x4 / x8; networks and datasets follow it
    "network_g": {"type": "SRResNet"},
    "network_d": {"type": "Discriminator"},
    "vgg": {
        "layer": "relu5_4",      # paper's phi_5,4
        "weights": "imagenet",   # imagenet (paddle.vision download) | <file.pdparams> | none
        "feature_scale": 1.0 / 12.75,  # paper: VGG feature maps are rescaled by 1/12.75
    },
    "losses": {
        "pixel": {"criterion": "mse", "eps": 1e-3},      # mse | l1 | charbonnier (eps)
        "perceptual": {"criterion": "mse"},              # mse | l1 on VGG feature maps
        # vanilla: the paper's BCE, -log D(G(x)) | relativistic: RaGAN (ESRGAN)
        "adversarial": {"form": "vanilla"},
    },
    "datasets": {
        "train": {
            "type": "hr_only",       # hr_only: LR made from each HR crop (MATLAB bicubic) | paired
            "hr_dir": "DIV2K/DIV2K_train_HR",  # relative to data_root (or absolute)
            "lr_dir": None,          # paired: e.g. DIV2K/DIV2K_train_LR_bicubic/X4
            "hr_crop": 384,          # HR patch side; the LR patch is hr_crop / scale (96)
            "patches_per_image": 100,  # one epoch = this many random patches per image
            "flip": True,            # random horizontal / vertical flips
            "rot90": True,           # random 90-degree rotations
            "cache": False,          # keep decoded images in memory (per worker)
            "small_images": "error",  # images smaller than hr_crop: error | skip (with a warning)
            "channel": None,         # one channel only: R | G | B | Y | gray | 0..2 (None: RGB)
            "num_workers": 4,        # DataLoader worker processes (0: load in the main process)
            # type realworld: the LR of each HR patch comes from Real-ESRGAN's second-order
            # degradation model (data/realworld.py); defaults: realesrgan_x4plus.yml's values.
            # Other types ignore this section.
            "degradation": {
                "kernel_range": [7, 21],   # odd kernel sides 7, 9, ..., 21
                "kernel_list": list(_KERNELS),
                "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
                "sinc_prob": 0.1,          # sinc kernel instead of the list's
                "blur_sigma": [0.2, 3.0],
                "betag_range": [0.5, 4.0],  # generalized Gaussian exp(-q^beta / 2)
                "betap_range": [1.0, 2.0],  # plateau 1 / (1 + q^beta)
                "resize_prob": [0.2, 0.7, 0.1],  # up, down, keep
                "resize_range": [0.15, 1.5],
                "gaussian_noise_prob": 0.5,  # else Poisson
                "noise_range": [1.0, 30.0],  # Gaussian sigma, 0-255 scale
                "poisson_scale_range": [0.05, 3.0],
                "gray_noise_prob": 0.4,
                "jpeg_range": [30, 95],
                "second_blur_prob": 0.8,
                "kernel_list2": list(_KERNELS),
                "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
                "sinc_prob2": 0.1,
                "blur_sigma2": [0.2, 1.5],
                "betag_range2": [0.5, 4.0],
                "betap_range2": [1.0, 2.0],
                "resize_prob2": [0.3, 0.4, 0.3],
                "resize_range2": [0.3, 1.2],
                "gaussian_noise_prob2": 0.5,
                "noise_range2": [1.0, 25.0],
                "poisson_scale_range2": [0.05, 2.5],
                "gray_noise_prob2": 0.4,
                "jpeg_range2": [30, 95],
                "final_sinc_prob": 0.8,
                "order": "realesrgan",     # realesrgan | shuffled (each stage's ops shuffled)
            },
        },
        "val": {
            "hr_dir": "benchmarks/Set5/HR",  # whole images, mod-cropped to the scale
            "lr_dir": None,          # None: LR made by MATLAB bicubic; or a folder of LR images
            "channel": None,
            "max_images": None,      # validate on the first N images only (None: all)
        },
    },
    "train": {
        "batch_size": 16,
        "beta1": 0.9,            # Adam, as in the paper
        "beta2": 0.999,
        "phases": [
            {"name": "mse", "iters": 1000000},
            {"name": "gan", "iters": 200000, "lr_milestones": [100000]},
        ],
        "pretrained_g": None,    # generator weights to start from (e.g. for a gan-only run)
        "amp": None,             # None (fp32) | O1: mixed precision on GPU (VGG stays fp32)
        "ema_decay": None,       # e.g. 0.999: keep an EMA of G, validated and saved as best
        "log_interval": 100,     # iterations between log lines / VisualDL scalars
        "val_interval": 5000,    # iterations between validations (and at each phase end)
        "val_every_epochs": None,  # validate every N epochs instead (overrides val_interval)
        "save_interval": 2000,   # iterations between checkpoints (and at each phase end)
        "keep_last": 3,          # checkpoints kept besides best.pdparams
        "best_metric": "psnr",   # psnr | ssim (higher wins) | niqe (lower wins): best.pdparams
        # a validation counts for best.pdparams only if its PSNR beats bicubic's by this many
        # dB (None: no floor); with best_metric niqe it keeps a noisy, grid-covered or
        # PSNR-wrecked generator from winning on NIQE alone
        "best_min_psnr_gain": None,
        "val_niqe": True,        # NIQE at each validation (numpy, ~30 ms per 512x512 image)
        "num_samples": 3,        # validation images shown as LR | SR | HR crops in VisualDL
        "sample_crop": 128,      # side (HR pixels) of those crops
        "nan_guard": True,       # skip steps whose loss is NaN/inf (one host sync per step)
        "max_nan_steps": 20,     # consecutive skipped steps before the run stops
    },
}


def _one_of(*values):
    return f"one of {', '.join(map(repr, values))}", lambda v: any(
        v == x and type(v) is type(x) for x in values)  # True is not 1, 4.0 is not 4


def _number(low, strict=False, high=None, optional=False):
    """(what is allowed, test) for a number > or >= `low` (and < `high`), or None if optional."""
    what = f"a number {'>' if strict else '>='} {low}" + (f" and < {high}" if high else "")

    def test(v):
        if v is None:
            return optional
        return (isinstance(v, (int, float)) and not isinstance(v, bool)
                and (v > low if strict else v >= low) and (high is None or v < high))
    return what + (" (or null)" if optional else ""), test


def _integer(low, optional=False, high=None):
    what, in_range = _number(low, optional=optional, high=high)
    return what.replace("a number", "an integer"), lambda v: in_range(v) and (
        v is None or isinstance(v, int))


# OpenMP aborts the process (a C++ trace) when asked for far more threads than a CPU has; the
# largest CPUs have a few hundred
MAX_CPU_THREADS = 1024

# datasets.train.type (data.datasets.TrainPatches)
TRAIN_TYPES = ("hr_only", "paired", "realworld")
SMALL_IMAGE_POLICIES = ("error", "skip")

# The values each key may take, checked when a config is loaded, so a bad value fails before
# training starts instead of at the first log line, validation or checkpoint. The type checks
# of DEFAULTS come first; `*` stands for every phase. (Network kwargs are checked by
# models.build_model, datasets' channel and folders by data.datasets and data.benchmarks when
# the run is built.)
ALLOWED = {
    "seed": _integer(0),
    "device": _one_of("auto", "gpu", "cpu"),
    "cpu_threads": _integer(0, high=MAX_CPU_THREADS + 1),
    "scale": _one_of(2, 4, 8),
    "losses.pixel.criterion": _one_of("mse", "l1", "charbonnier"),
    "losses.pixel.eps": _number(0, strict=True),
    "losses.perceptual.criterion": _one_of("mse", "l1"),
    "losses.adversarial.form": _one_of("vanilla", "relativistic"),
    "train.phases.*.losses.*": _number(0),
    "datasets.train.type": _one_of(*TRAIN_TYPES),
    "datasets.train.hr_crop": _integer(1),
    "datasets.train.patches_per_image": _integer(1),
    "datasets.train.small_images": _one_of(*SMALL_IMAGE_POLICIES),
    "datasets.train.num_workers": _integer(0),
    "datasets.train.degradation.order": _one_of("realesrgan", "shuffled"),
    "datasets.val.max_images": _integer(1, optional=True),
    "train.batch_size": _integer(1),
    "train.beta1": _number(0, high=1),
    "train.beta2": _number(0, high=1),
    "train.phases.*.lr": _number(0, strict=True),
    "train.phases.*.lr_gamma": _number(0, strict=True),
    "train.phases.*.network_interpolation": ("a number > 0 and <= 1", lambda v: 0 < v <= 1),
    # O2 (fp16 weights) would need paddle.amp.decorate with master weights, checked on a GPU
    "train.amp": _one_of(None, "O1"),
    "train.ema_decay": _number(0, strict=True, high=1, optional=True),
    "train.log_interval": _integer(1),
    "train.val_interval": _integer(1),
    "train.val_every_epochs": _integer(1, optional=True),
    "train.save_interval": _integer(1),
    "train.keep_last": _integer(1),
    "train.best_metric": _one_of("psnr", "ssim", "niqe"),
    "train.best_min_psnr_gain": _number(-100, optional=True),
    "train.num_samples": _integer(0),
    "train.sample_crop": _integer(1),
    "train.max_nan_steps": _integer(1),
}


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


def _origin(full, source, overrides):
    """Where the value of key `full` came from: the `-o` (or environment) override that set
    it or one of its parents, else `source` (the config file)."""
    for text in reversed(overrides):
        key = text.split("=", 1)[0].strip()
        if full == key or full.startswith(key + "."):
            return f"-o {text}"
    return source


def check_values(cfg, source, overrides=()):
    """ConfigError naming where the value came from (`source`, the config file, or the
    `overrides` text that set it), the key and what is allowed, for the first value of a
    resolved config that ALLOWED refuses."""
    for key, (allowed, test) in ALLOWED.items():
        for full, value in _values_at(cfg, key):
            if not test(value):
                raise ConfigError(f"{_origin(full, source, overrides)}: '{full}' must be "
                                  f"{allowed}, got {shown(value)}")
    train = cfg["train"]
    for i, phase in enumerate(train["phases"]):
        if phase["network_interpolation"] < 1 and train["ema_decay"]:
            where = _origin(f"train.phases.{i}.network_interpolation", source, overrides)
            raise ConfigError(f"{where}: 'train.phases.{i}.network_interpolation' and "
                              f"'train.ema_decay' both average generator weights; use one")
    for keys, fits, problem in COMBINATIONS:
        values = [_get(cfg, key) for key in keys]
        if not fits(*values):
            where = source
            for key in reversed(keys):  # the override that set any of them is named first
                where = _origin(key, where, overrides)
            raise ConfigError(f"{where}: {problem.format(*values)}")


def _get(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


# Rules that tie keys together: (keys, test of their values, the problem in words).
COMBINATIONS = [
    (("datasets.train.hr_crop", "scale"), lambda crop, scale: crop % scale == 0,
     "'datasets.train.hr_crop' ({0}) must be a multiple of the scale ({1}), e.g. {1}x96"),
    (("datasets.train.type", "datasets.train.lr_dir"),
     lambda kind, lr_dir: kind != "paired" or lr_dir is not None,
     "'datasets.train.type' is 'paired' but 'datasets.train.lr_dir' is not set"),
    (("train.best_metric", "train.val_niqe"),
     lambda metric, niqe: metric != "niqe" or bool(niqe),
     "'train.best_metric' is 'niqe' but 'train.val_niqe' is false: validation would have no "
     "NIQE to choose by"),
]


def closest_hint(key, valid, prefix=""):
    """' (did you mean 'prefix.x'?)' for the valid key nearest to `key`, else the valid list."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    if match:
        return f" (did you mean '{prefix}{match[0]}'?)"
    return f" (valid keys: {', '.join(prefix + v for v in sorted(valid))})"


def _coerce(path, value, default, source):
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
        if full == "train.phases":
            out[key] = _phases(value, source)
        elif isinstance(schema[key], dict):
            out[key] = _merge(out.get(key) or {}, value, schema[key], full, source)
        else:
            out[key] = _coerce(full, value, schema[key], source)
    return out


def _phases(phases, source):
    if not isinstance(phases, list) or not phases:
        raise ConfigError(f"{source}: 'train.phases' must be a non-empty list of phases")
    resolved = []
    for i, phase in enumerate(phases):
        p = _merge(PHASE_DEFAULTS, phase, PHASE_DEFAULTS, f"train.phases.{i}", source)
        if p["name"] not in PHASE_LOSS_PRESETS:
            raise ConfigError(f"{source}: 'train.phases.{i}.name' must be one of "
                              f"{sorted(PHASE_LOSS_PRESETS)}, got {shown(p['name'])}")
        if not isinstance(p["iters"], int) or p["iters"] <= 0:
            raise ConfigError(f"{source}: 'train.phases.{i}.iters' must be a positive integer")
        for term, weight in PHASE_LOSS_PRESETS[p["name"]].items():
            value = weight if p["losses"][term] is None else p["losses"][term]
            p["losses"][term] = _coerce(f"train.phases.{i}.losses.{term}", value, weight, source)
        if p["losses"]["feature_matching"] and not p["losses"]["adversarial"]:
            raise ConfigError(f"{source}: 'train.phases.{i}.losses.feature_matching' needs "
                              f"an adversarial weight > 0 in the same phase (the "
                              f"discriminator whose features it compares trains only then)")
        resolved.append(p)
    return resolved


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return {} if data is None else data


def _defaults():
    """DEFAULTS with the default phases completed by PHASE_DEFAULTS (lr, losses, ...)."""
    return _merge(DEFAULTS, {"train": {"phases": DEFAULTS["train"]["phases"]}}, DEFAULTS, "",
                  "defaults")


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

    List items: `train.phases.0.iters=5`."""
    for text in overrides:
        keys, value = parse_override(text)
        if len(keys) > 2 and keys[:2] == ["train", "phases"]:
            phases = copy.deepcopy(cfg["train"]["phases"])
            if not keys[2].isdigit() or int(keys[2]) >= len(phases):
                raise ConfigError(f"{source}: 'train.phases.{keys[2]}' is not one of the "
                                  f"{len(phases)} phases (0..{len(phases) - 1})")
            index = int(keys[2])
            phases[index] = _merge(phases[index], _nested(keys[3:], value), PHASE_DEFAULTS,
                                   f"train.phases.{index}", f"{source} {text}")
            cfg = _merge(cfg, {"train": {"phases": phases}}, DEFAULTS, "", source)
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
