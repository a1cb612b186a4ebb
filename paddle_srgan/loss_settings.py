"""The `vgg` and `losses` sections of the config: their defaults and checks (config_rules'
language), composed by config.py, and the names losses.py accepts. Apart from losses.py
because that one imports paddle, and `--print-config` must not.

(The loss *weights* belong to each training phase: train_settings.py.)
"""
from .config_rules import number, one_of

PIXEL_CRITERIA = ("mse", "l1", "charbonnier")  # losses.PIXEL_CRITERIA implements them
PERCEPTUAL_CRITERIA = ("mse", "l1")             # between the rescaled VGG feature maps
ADVERSARIAL_FORMS = ("vanilla", "relativistic")

DEFAULTS = {
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
}

# vgg.layer and vgg.weights are checked by models.vgg when the network is built
ALLOWED = {
    "losses.pixel.criterion": one_of(*PIXEL_CRITERIA),
    "losses.pixel.eps": number(0, strict=True),
    "losses.perceptual.criterion": one_of(*PERCEPTUAL_CRITERIA),
    "losses.adversarial.form": one_of(*ADVERSARIAL_FORMS),
}
