"""Networks, and `build_model`: a config section -> an nn.Layer.

The name -> class table is written out here (no registry filled by import side effects), and
config keys are constructor kwargs, checked against the constructor's signature.
"""
import inspect
import math

from ..config import ConfigError, closest_hint
from ..errors import shown
from ..levels import level_key  # re-exported: models.level_key names per-level values
from .discriminator import Discriminator
from .lapsrn import LapSRN
from .legacy import FORMER_SPELLINGS, is_former, resolve
from .rrdbnet import RRDBNet
from .srresnet import LeftthomasSRGAN, MSRResNet, OnnxSRResNet, SRResNet
from .srvgg import SRVGGNetCompact
from .unet_discriminator import UNetDiscriminatorSN
from .vgg import VGGFeatures
from .vgg_discriminator import VGGStyleDiscriminator

MODELS = {"SRResNet": SRResNet, "OnnxSRResNet": OnnxSRResNet,
          "LeftthomasSRGAN": LeftthomasSRGAN, "MSRResNet": MSRResNet, "LapSRN": LapSRN,
          "RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact, "Discriminator": Discriminator,
          "VGGStyleDiscriminator": VGGStyleDiscriminator,
          "UNetDiscriminatorSN": UNetDiscriminatorSN}
# The network_d types of the table; every other type is a generator.
DISCRIMINATORS = {Discriminator, VGGStyleDiscriminator, UNetDiscriminatorSN}
# The generators of the table (network_g types): what export, the predictor, ONNX, the page
# and eval take, and what their tests iterate.
GENERATORS = {name: cls for name, cls in MODELS.items() if cls not in DISCRIMINATORS}
# The generator contract: the attributes every network_g type has, so that training, eval,
# export, the predictor, ONNX and the page take any of them without knowing its class.
# build_model checks it, so a new generator fails when it is built, not at export.
GENERATOR_CONTRACT = {
    "scale": "int >= 1, HR side / LR side (1: restoration at the same size)",
    "in_channels": "1 or 3, channels of the LR input [N, C, h, w] in [0, 1]",
    "out_channels": "1 or 3, channels of the output",
    "output_range": "(lo, hi) with lo < hi, the value range of the output; HR targets are "
                    "mapped to it for the losses and from it for the metrics",
}
# Optional: `level_scales`, the scales of the outputs of a multi-level network (LapSRN),
# coarsest first, ending with `scale`; such a network returns one output per level.


def check_generator(generator):
    """ConfigError naming the class and the attribute when `generator` breaks the contract."""
    name = type(generator).__name__
    value = {a: getattr(generator, a, None) for a in GENERATOR_CONTRACT}
    fits = {
        "scale": isinstance(value["scale"], int) and value["scale"] >= 1,
        "in_channels": value["in_channels"] in (1, 3),
        "out_channels": value["out_channels"] in (1, 3),
        "output_range": (isinstance(value["output_range"], tuple)
                         and len(value["output_range"]) == 2
                         and value["output_range"][0] < value["output_range"][1]),
    }
    for attr, ok in fits.items():
        if not ok:
            raise ConfigError(f"generator {name} breaks the generator contract: '{attr}' must "
                              f"be {GENERATOR_CONTRACT[attr]}, got {value[attr]!r}")
    levels = getattr(generator, "level_scales", None)
    if levels is not None and (not levels or levels[-1] != value["scale"]
                               or list(levels) != sorted(levels)):
        raise ConfigError(f"generator {name} breaks the generator contract: 'level_scales' "
                          f"must be increasing and end with its scale ({value['scale']}), got "
                          f"{levels!r}")
    return generator


# Network kwargs the rest of the config decides, and where (for error messages).
DERIVED = {"scale": "the top-level 'scale'",
           "in_channels": "the data ('datasets.train.channel': one channel or RGB)"}


def _kind_rule(default):
    """(what, test) a config value must pass where the constructor's default is `default`: of
    its kind (counts and sizes: an integer >= 1), so a wrong value is one line naming the key,
    not a traceback from inside the network; None for defaults that say nothing (None)."""
    if isinstance(default, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(default, int):
        return "an integer >= 1", lambda v: type(v) is int and v >= 1
    if isinstance(default, float):
        return "a number", lambda v: type(v) in (int, float) and math.isfinite(v)
    if isinstance(default, str):
        return "a string", lambda v: isinstance(v, str)
    return None


def _defaults(cls):
    """{parameter: default} of the constructor of `cls`."""
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if k != "self"}


def build_model(section, key="network_g", source=None, **defaults):
    """Instantiate `section['type']` with the section's other keys as kwargs.

    Args:
        section: dict like {'type': 'SRResNet', 'num_block': 16}.
        key: the config key of the section, used in error messages.
        source: the config file, used in error messages.
        defaults: kwargs the caller derives from elsewhere in the config (e.g. scale); they
            are passed only when the constructor takes them and the section does not set them.
    """
    where = f"{source}: " if source else ""
    kwargs = dict(section)
    name = kwargs.pop("type", None)
    if name not in MODELS:
        raise ConfigError(f"{where}'{key}.type' must be one of {sorted(MODELS)}, got {name!r}")
    if name == "SRResNet" and is_former(kwargs, _defaults(SRResNet)):
        try:  # a section written when SRResNet took the layouts' options
            name, kwargs = resolve(kwargs, {n: _defaults(MODELS[n]) for n in FORMER_SPELLINGS})
        except ValueError as exc:
            raise ConfigError(f"{where}'{key}': {exc}") from None
    cls = MODELS[name]
    params = inspect.signature(cls.__init__).parameters
    valid = [p for p in params if p != "self"]
    for arg in kwargs:
        if arg not in valid:
            hint = closest_hint(arg, valid, f"{key}.")
            raise ConfigError(f"{where}unknown key '{key}.{arg}' for {name}{hint}")
    for arg, value in kwargs.items():
        rule = _kind_rule(params[arg].default)
        if rule and not rule[1](value):
            raise ConfigError(f"{where}'{key}.{arg}' must be {rule[0]}, got {shown(value)}")
    for arg, value in defaults.items():
        if arg in params and arg not in kwargs:
            kwargs[arg] = value
        elif arg in kwargs and kwargs[arg] != value:
            raise ConfigError(f"{where}'{key}.{arg}' is {kwargs[arg]!r} but {DERIVED[arg]} "
                              f"makes it {value!r}; leave '{key}.{arg}' out")
    try:
        model = cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}'{key}': {exc}") from None
    return check_generator(model) if name in GENERATORS else model


def output_levels(out):
    """The outputs of a generator call as a list, coarsest first: multi-level networks
    (LapSRN) return one output per level, the others one tensor (a list of one here)."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def level_scales(generator, scale):
    """The scale of each output level of `generator`, coarsest first: LapSRN's (2, 4, ...),
    (scale,) for single-level networks."""
    return tuple(getattr(generator, "level_scales", None) or (scale,))


def final_level(out):
    """The full-scale output of a generator call (the last of `output_levels`): what is
    scored, shown and exported."""
    return output_levels(out)[-1]


def data_channels(cfg):
    """Image channels the data delivers: 1 when `datasets.train.channel` picks one, else 3."""
    return 1 if cfg["datasets"]["train"]["channel"] is not None else 3


def build_generator(cfg):
    """The generator of a resolved config; its scale follows the top-level `scale` and its
    input channels the data (`datasets.train.channel`)."""
    return build_model(cfg["network_g"], "network_g", cfg.get("_source"), scale=cfg["scale"],
                       in_channels=data_channels(cfg))


def build_discriminator(cfg):
    """The discriminator; its input channels follow the data (generator output channels)."""
    return build_model(cfg["network_d"], "network_d", cfg.get("_source"),
                       in_channels=data_channels(cfg))


def build_vgg(cfg):
    """The frozen VGG feature extractor of `cfg['vgg']`."""
    return VGGFeatures(layer=cfg["vgg"]["layer"], weights=cfg["vgg"]["weights"])


def bn_statistics(*layers):
    """The BatchNorm running-statistics tensors (_mean, _variance) of `layers` (None skipped).
    Paddle lists them among parameters(), PyTorch keeps them as buffers."""
    return [t for layer in layers if layer is not None
            for sub in layer.sublayers(include_self=True)
            for t in (getattr(sub, "_mean", None), getattr(sub, "_variance", None))
            if t is not None]


def count_parameters(layer):
    """Learnable scalars of `layer`, frozen ones included, BN running statistics excluded:
    the figure PyTorch's `sum(p.numel() for p in m.parameters())` gives for the same net."""
    stats = {id(t) for t in bn_statistics(layer)}
    return sum(int(p.numel()) for p in layer.parameters() if id(p) not in stats)


__all__ = ["SRResNet", "OnnxSRResNet", "LeftthomasSRGAN", "MSRResNet", "LapSRN", "RRDBNet",
           "SRVGGNetCompact", "Discriminator", "VGGStyleDiscriminator", "UNetDiscriminatorSN",
           "VGGFeatures", "MODELS", "DISCRIMINATORS", "GENERATORS", "GENERATOR_CONTRACT",
           "check_generator", "build_model", "build_generator", "build_discriminator",
           "build_vgg", "bn_statistics", "count_parameters", "output_levels", "final_level",
           "level_scales", "level_key"]
