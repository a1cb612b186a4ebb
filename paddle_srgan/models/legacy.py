"""Network sections written when one SRResNet class emulated every published layout with
layout options (act, norm, output_act, ...): what tools/convert_weights.py wrote beside
converted weights, and so the config.yml of runs trained from them. `resolve` maps such a
section onto the class of the model table it describes, so those configs, checkpoints and
runs keep loading; the state-dict keys did not change.
"""
from .srresnet import MSRRESNET_OPTIONS

# The former SRResNet constructor's options and defaults (the paper's network).
FORMER_DEFAULTS = {
    "in_channels": 3, "out_channels": None, "num_feat": 64, "num_block": 16, "scale": 4,
    "head_kernel": 9, "body_kernel": 3, "norm": "bn", "conv_bias": True, "act": "prelu",
    "negative_slope": 0.2, "block_act": None, "body_end": "conv_norm", "global_skip": True,
    "hr_conv": False, "input_skip": "none", "output_act": "tanh", "output_range": None,
    "input_norm": "none", "upsampler": "pixelshuffle"}
# Each class of the table that replaced a layout, as the former options spelt it (the
# options it fixes that differ from FORMER_DEFAULTS; the options it still takes are free).
FORMER_SPELLINGS = {
    "SRResNet": {},
    "OnnxSRResNet": {"act": "prelu_channel", "conv_bias": False, "output_act": "none",
                     "output_range": (-1.0, 1.0)},
    "LeftthomasSRGAN": {"output_act": "tanh01"},
    "MSRResNet": MSRRESNET_OPTIONS,
}
OUTPUT_ACT_RANGES = {"tanh": (-1.0, 1.0), "tanh01": (0.0, 1.0)}


def _canonical(options):
    """The former options with their implicit values spelt out: block_act None is act,
    output_range None is output_act's own range, ranges are tuples of floats."""
    out = {**FORMER_DEFAULTS, **options}
    out["block_act"] = out["block_act"] or out["act"]
    if out["output_range"] is None:
        out["output_range"] = OUTPUT_ACT_RANGES.get(out["output_act"])
    if isinstance(out["output_range"], (list, tuple)):
        out["output_range"] = tuple(float(v) for v in out["output_range"])
    return out


def is_former(kwargs, params):
    """True when `kwargs` of an SRResNet section use former options that `params` (the
    current SRResNet's parameters) lack, and nothing else unknown."""
    unknown = set(kwargs) - set(params)
    return bool(unknown) and unknown <= set(FORMER_DEFAULTS)


def resolve(kwargs, defaults_of):
    """(type, kwargs) of the table class a former SRResNet section describes.

    Args:
        kwargs: the section without 'type' (former option names).
        defaults_of: {type: {parameter: default}} of the FORMER_SPELLINGS types' constructors.
    Raises ValueError naming the options when they describe none of them.
    """
    given = _canonical(kwargs)
    for name, spelling in FORMER_SPELLINGS.items():
        fixed, params = _canonical(spelling), defaults_of[name]
        if all(given[k] == fixed[k] for k in FORMER_DEFAULTS if k not in params):
            # an option left out meant the former default (LeftthomasSRGAN's num_block is 5)
            return name, {k: kwargs.get(k, FORMER_DEFAULTS[k]) for k in params
                          if k in kwargs or (k in FORMER_DEFAULTS
                                             and params[k] != FORMER_DEFAULTS[k])}
    former = ", ".join(f"{k}={kwargs[k]!r}" for k in kwargs if k not in defaults_of["SRResNet"])
    raise ValueError(f"SRResNet no longer takes the layout options {former}, and together "
                     f"they describe none of the types that replaced them "
                     f"({', '.join(FORMER_SPELLINGS)}); set 'type' to one of those")
