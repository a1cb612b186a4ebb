"""The `vgg` and `losses` sections of the config: their defaults and checks (config_rules'
language), composed by config.py, and the names losses.py accepts. Apart from losses.py
because that one imports paddle, and `--print-config` must not.

(The loss *weights* belong to each training phase: train_settings.py.)
"""
import math

from .config_rules import ConfigError, integer, number, one_of
from .errors import shown

PIXEL_CRITERIA = ("mse", "l1", "charbonnier")  # losses.PIXEL_CRITERIA implements them
PERCEPTUAL_CRITERIA = ("mse", "l1")             # between the rescaled VGG feature maps
ADVERSARIAL_FORMS = ("vanilla", "relativistic")
# the generator's terms that compare with an HR target ('adversarial': the real images D
# sees, feature matching's too): what losses.usm.targets may sharpen (Real-ESRGAN)
TARGET_TERMS = ("pixel", "perceptual", "adversarial")

VGG19_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block of VGG19


def vgg19_layer_names():
    """['conv1_1', 'relu1_1', ..., 'pool5']: index i is `features.<i>` of VGG19 (torchvision's
    and paddle.vision's); 'convX_Y' is before its ReLU, 'reluX_Y' after."""
    names = []
    for block, convs in enumerate(VGG19_BLOCKS, start=1):
        for j in range(1, convs + 1):
            names += [f"conv{block}_{j}", f"relu{block}_{j}"]
        names.append(f"pool{block}")
    return names


def layer_weights(layer):
    """`vgg.layer` as {layer name: weight}, in the config's order: a single name weighs 1."""
    return {layer: 1.0} if isinstance(layer, str) else {k: float(v) for k, v in layer.items()}


DEFAULTS = {
    "vgg": {
        # the perceptual loss's VGG19 layer (paper's phi_5,4) or {layer: weight, ...}
        # (Real-ESRGAN: {conv1_2: 0.1, conv2_2: 0.1, conv3_4: 1, conv4_4: 1, conv5_4: 1})
        "layer": "relu5_4",
        "weights": "imagenet",   # imagenet (paddle.vision download) | <file.pdparams> | none
        "feature_scale": 1.0 / 12.75,  # paper: VGG feature maps are rescaled by 1/12.75
    },
    "losses": {
        "pixel": {"criterion": "mse", "eps": 1e-3},      # mse | l1 | charbonnier (eps)
        "perceptual": {"criterion": "mse"},              # mse | l1 on VGG feature maps
        # vanilla: the paper's BCE, -log D(G(x)) | relativistic: RaGAN (ESRGAN)
        "adversarial": {"form": "vanilla"},
        # Real-ESRGAN's unsharp-masked HR as the target of the listed terms (x4plus: [pixel,
        # perceptual]); weight, radius (Gaussian kernel side, made odd) and threshold (on
        # |HR - blurred HR| in 0..255 levels) as its USMSharp
        "usm": {"targets": [], "weight": 0.5, "radius": 50, "threshold": 10},
    },
}

# Keys whose value may be of more than one type (vgg.layer: a name or a mapping); ALLOWED and
# CHECKS alone judge them, and a new value replaces the old one whole.
ANY_TYPE = ("vgg.layer",)

# vgg.weights is checked by models.vgg when the network is built
ALLOWED = {
    "losses.pixel.criterion": one_of(*PIXEL_CRITERIA),
    "losses.pixel.eps": number(0, strict=True),
    "losses.perceptual.criterion": one_of(*PERCEPTUAL_CRITERIA),
    "losses.adversarial.form": one_of(*ADVERSARIAL_FORMS),
    "losses.usm.targets.*": one_of(*TARGET_TERMS),
    "losses.usm.weight": number(0),
    "losses.usm.radius": integer(1),
    "losses.usm.threshold": number(0),
}


def check_vgg_layer(cfg, origin):
    """vgg.layer: a VGG19 layer name, or a non-empty mapping of them to weights > 0."""
    layer, names = cfg["vgg"]["layer"], vgg19_layer_names()
    valid = f"valid: {', '.join(names)}"
    if isinstance(layer, str):
        if layer not in names:
            raise ConfigError(f"{origin('vgg.layer')}: 'vgg.layer' {shown(layer)} is not a "
                              f"VGG19 layer; {valid}")
        return
    if not isinstance(layer, dict) or not layer:
        raise ConfigError(f"{origin('vgg.layer')}: 'vgg.layer' must be a VGG19 layer name or "
                          f"a mapping {{layer name: weight}}, got {shown(layer)}")
    for name, weight in layer.items():
        key = f"vgg.layer.{name}"
        if name not in names:
            raise ConfigError(f"{origin(key)}: 'vgg.layer' names {shown(name)}, not a VGG19 "
                              f"layer; {valid}")
        if (isinstance(weight, bool) or not isinstance(weight, (int, float))
                or not (weight > 0 and math.isfinite(weight))):
            raise ConfigError(f"{origin(key)}: '{key}' must be a weight > 0, got "
                              f"{shown(weight)}")


def check_usm_targets(cfg, origin):
    targets = cfg["losses"]["usm"]["targets"]
    if len(set(targets)) != len(targets):
        raise ConfigError(f"{origin('losses.usm.targets')}: 'losses.usm.targets' lists a term "
                          f"twice: {shown(targets)}")


CHECKS = [check_vgg_layer, check_usm_targets]


def usm_kernel_size(radius):
    """The side of USM's Gaussian kernel: `losses.usm.radius` made odd (Real-ESRGAN)."""
    return radius if radius % 2 else radius + 1


COMBINATIONS = [
    # the blur pads by reflection, which needs more pixels than the kernel's half side
    (("losses.usm.targets", "losses.usm.radius", "datasets.train.hr_crop"),
     lambda targets, radius, crop: not targets or crop > usm_kernel_size(radius) // 2,
     "'losses.usm.radius' ({1}) needs HR crops larger than half its kernel: "
     "'datasets.train.hr_crop' is {2}"),
]
