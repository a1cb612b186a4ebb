"""The `train` section of the config: phases, optimizer, intervals, AMP, EMA, validation and
checkpoint keys; their defaults and checks (config_rules' language), composed by config.py.
Light on purpose (no paddle): `--print-config` imports it.
"""
from .config_rules import ConfigError, ListSection, coerce, integer, number, one_of
from .errors import shown
from .metrics.table import metric_names, switch_defaults, switched

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

DEFAULTS = {
    "train": {
        "batch_size": 16,
        "beta1": 0.9,            # Adam, as in the paper
        "beta2": 0.999,
        "phases": [
            {"name": "mse", "iters": 1000000},
            {"name": "gan", "iters": 200000, "lr_milestones": [100000]},
        ],
        "pretrained_g": None,    # generator weights to start from (e.g. for a gan-only run)
        "pretrained_d": None,    # discriminator weights to start from (a run with a gan phase)
        "amp": None,             # None (fp32) | O1: mixed precision on GPU (VGG stays fp32)
        "ema_decay": None,       # e.g. 0.999: keep an EMA of G, validated and saved as best
        "log_interval": 100,     # iterations between log lines / VisualDL scalars
        "val_interval": 5000,    # iterations between validations (and at each phase end)
        "val_every_epochs": None,  # validate every N epochs instead (overrides val_interval)
        "save_interval": 2000,   # iterations between checkpoints (and at each phase end)
        "keep_last": 3,          # checkpoints kept besides best.pdparams
        "best_metric": "psnr",   # a selectable metric of metrics/table.py (its direction there)
        # a validation counts for best.pdparams only if its PSNR beats bicubic's by this many
        # dB (None: no floor); with best_metric niqe it keeps a noisy, grid-covered or
        # PSNR-wrecked generator from winning on NIQE alone
        "best_min_psnr_gain": None,
        # the validation switches of metrics/table.py: val_msssim false, val_niqe true (numpy,
        # ~30 ms per 512x512 image), val_lpips null (a weights file turns LPIPS on)
        **switch_defaults(),
        "num_samples": 3,        # validation images shown as LR | SR | HR crops in VisualDL
        "sample_crop": 128,      # side (HR pixels) of those crops
        "nan_guard": True,       # skip steps whose loss is NaN/inf (one host sync per step)
        "max_nan_steps": 20,     # consecutive skipped steps before the run stops
    },
}


def finish_phase(phase, key, source):
    """A `train.phases` item merged over PHASE_DEFAULTS (`key`: 'train.phases.N'), checked,
    its unset loss weights taken from the preset of its name. Returns it."""
    if phase["name"] not in PHASE_LOSS_PRESETS:
        raise ConfigError(f"{source}: '{key}.name' must be one of "
                          f"{sorted(PHASE_LOSS_PRESETS)}, got {shown(phase['name'])}")
    if not isinstance(phase["iters"], int) or phase["iters"] <= 0:
        raise ConfigError(f"{source}: '{key}.iters' must be a positive integer")
    losses = phase["losses"]
    for term, weight in PHASE_LOSS_PRESETS[phase["name"]].items():
        value = weight if losses[term] is None else losses[term]
        losses[term] = coerce(f"{key}.losses.{term}", value, weight, source)
    if losses["feature_matching"] and not losses["adversarial"]:
        raise ConfigError(f"{source}: '{key}.losses.feature_matching' needs "
                          f"an adversarial weight > 0 in the same phase (the "
                          f"discriminator whose features it compares trains only then)")
    return phase


LISTS = {"train.phases": ListSection("phases", PHASE_DEFAULTS, finish_phase)}

ALLOWED = {
    "train.phases.*.losses.*": number(0),
    "train.batch_size": integer(1),
    "train.beta1": number(0, high=1),
    "train.beta2": number(0, high=1),
    "train.phases.*.lr": number(0, strict=True),
    "train.phases.*.lr_gamma": number(0, strict=True),
    "train.phases.*.network_interpolation": ("a number > 0 and <= 1", lambda v: 0 < v <= 1),
    # O2 (fp16 weights) would need paddle.amp.decorate with master weights, checked on a GPU
    "train.amp": one_of(None, "O1"),
    "train.ema_decay": number(0, strict=True, high=1, optional=True),
    "train.log_interval": integer(1),
    "train.val_interval": integer(1),
    "train.val_every_epochs": integer(1, optional=True),
    "train.save_interval": integer(1),
    "train.keep_last": integer(1),
    "train.best_metric": one_of(*metric_names(selectable=True)),
    **{f"train.{m.switch}": ("a weights file path or null",
                             lambda v: v is None or isinstance(v, str))
       for m in switched() if m.loader is not None},
    "train.best_min_psnr_gain": number(-100, optional=True),
    "train.num_samples": integer(0),
    "train.sample_crop": integer(1),
    "train.max_nan_steps": integer(1),
}


def check_weight_averaging(cfg, origin):
    """Network interpolation and an EMA of G would both average the generator's weights."""
    train = cfg["train"]
    for i, phase in enumerate(train["phases"]):
        if phase["network_interpolation"] < 1 and train["ema_decay"]:
            raise ConfigError(f"{origin(f'train.phases.{i}.network_interpolation')}: "
                              f"'train.phases.{i}.network_interpolation' and "
                              f"'train.ema_decay' both average generator weights; use one")


def check_pretrained_d(cfg, origin):
    """A discriminator to start from needs a phase that trains one."""
    train = cfg["train"]
    if train["pretrained_d"] and not any(p["losses"]["adversarial"] for p in train["phases"]):
        raise ConfigError(f"{origin('train.pretrained_d')}: 'train.pretrained_d' is set but no "
                          f"phase of 'train.phases' trains a discriminator (an adversarial "
                          f"weight > 0, e.g. a 'gan' phase)")


CHECKS = [check_weight_averaging, check_pretrained_d]

COMBINATIONS = [
    # a switched metric chosen by train.best_metric must be switched on
    *[(("train.best_metric", f"train.{m.switch}"),
       lambda chosen, on, name=m.name: chosen != name or bool(on),
       f"'train.best_metric' is '{m.name}' but 'train.{m.switch}' is "
       f"{'false' if m.loader is None else 'not set'}: validation would have no {m.short} "
       f"to choose by") for m in switched()],
]
