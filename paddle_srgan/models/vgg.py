"""Frozen VGG19 feature extractor for the perceptual (content) loss.

The paper's content loss phi_5,4 is the feature map after the 4th conv (and its ReLU) before
the 5th max-pool, i.e. `relu5_4`; ESRGAN takes `conv5_4` (before the ReLU: its features are
not yet sparse), Real-ESRGAN five layers with weights. Layers are named like the paper and the
Caffe prototxt (conv1_1, relu1_1, ..., pool5; loss_settings.vgg19_layer_names) so configs
never hold magic indices; the Sequential keeps torchvision's / paddle.vision's indices, so
`features.<i>.*` keys of a full VGG19 state dict load unchanged.
"""
import os
import warnings

from ..compat import import_paddle
from ..config import ConfigError
from ..errors import shown
from ..loss_settings import vgg19_layer_names
from ..safe_load import load_state_dict
from .state import load_state_strict

paddle = import_paddle()
nn = paddle.nn

_VGG19_WIDTHS = (64, 128, 256, 512, 512)  # per block (loss_settings.VGG19_BLOCKS)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAKE_WEIGHTS_FILE = (
    "Make the file once on a machine with internet: python -c \"import paddle; paddle.save("
    "paddle.vision.models.vgg19(pretrained=True).state_dict(), 'vgg19.pdparams')\"")


class VGGWeightsError(ConfigError):
    """VGG weights could not be found or loaded; the message says which config key to set."""


class VGGFeatures(nn.Layer):
    """VGG19 `features` truncated after the deepest requested layer, ImageNet-normalised
    inside, frozen; one forward gives every requested layer.

    Args:
        layer: the layer(s) read: one name, e.g. 'relu5_4' (paper), 'relu2_2', 'conv5_4'
            (before the ReLU), or several (a list, or a mapping whose keys are names, as
            `vgg.layer`'s {name: weight}).
        weights: 'imagenet' (paddle.vision download/cache), 'none' (random init: tests only;
            training warns loudly), or the path of a local .pdparams holding a full VGG19
            state dict or a truncated `features` one (up to the deepest layer at least).
    Input:  img [N, 3, H, W] float32 RGB in [0, 1]; [N, 1, H, W] is repeated to 3 channels
            (single-channel training: VGG was trained on RGB, a gray image is R=G=B).
    Output: `forward`: the map of `layer` [N, C_layer, H/2^k, W/2^k] float32 when one name
            was given, else what `feature_maps` gives; `feature_maps`: {name: map} of every
            requested layer (no rescaling here; the loss applies e.g. the paper's 1/12.75).
    """

    def __init__(self, layer="relu5_4", weights="imagenet"):
        super().__init__()
        names = vgg19_layer_names()
        self.single = isinstance(layer, str)
        requested = [layer] if self.single else list(layer)
        unknown = [n for n in requested if n not in names]
        if unknown or not requested:
            raise ValueError(f"vgg.layer {shown(unknown[0] if unknown else layer)} is not a "
                             f"VGG19 layer; valid: {', '.join(names)}")
        self.layers = sorted(set(requested), key=names.index)  # network order
        self.layer = self.layers[-1]  # the deepest: the network ends there
        modules, channels = [], 3
        for name in names[: names.index(self.layer) + 1]:
            if name.startswith("conv"):
                width = _VGG19_WIDTHS[int(name[4]) - 1]
                modules.append(nn.Conv2D(channels, width, 3, padding=1))
                channels = width
            elif name.startswith("relu"):
                modules.append(nn.ReLU())
            else:
                modules.append(nn.MaxPool2D(kernel_size=2, stride=2))
        self.features = nn.Sequential(*modules)
        self._read_at = {names.index(n): n for n in self.layers}
        self.register_buffer("mean", paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]),
                             persistable=False)
        self.register_buffer("std", paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]),
                             persistable=False)
        self._load(weights)
        for p in self.parameters():
            p.stop_gradient = True
        self.eval()

    def _load(self, weights):
        if weights == "none":
            return
        if weights == "imagenet":
            state = _imagenet_state()
        elif os.path.isfile(str(weights)):
            state = load_state_dict(weights, "VGG weights", VGGWeightsError)
        else:
            raise VGGWeightsError(
                f"vgg.weights: {weights!r} is neither 'imagenet', 'none' nor an existing file. "
                f"{MAKE_WEIGHTS_FILE}")
        # a full VGG19 (features + classifier) or a truncated `features` state dict
        state = {k if k.startswith("features.") else f"features.{k}": v for k, v in state.items()}
        load_state_strict(self, state, f"VGG weights ({weights}) for the layers up to "
                                       f"{self.layer}", error=VGGWeightsError, subset=True)

    def feature_maps(self, img):
        """{layer name: [N, C, h, w] float32} of every requested layer (see the class)."""
        if len(img.shape) != 4:
            raise ValueError(f"VGGFeatures expects [N, C, H, W], got shape {list(img.shape)}")
        if img.shape[1] == 1:
            img = paddle.tile(img, [1, 3, 1, 1])
        x, maps = (img - self.mean) / self.std, {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self._read_at:
                maps[self._read_at[index]] = x
        return maps

    def forward(self, img):
        maps = self.feature_maps(img)
        return maps[self.layer] if self.single else maps


def _imagenet_state():
    """paddle.vision's ImageNet VGG19 weights (downloaded once into ~/.cache/paddle/hapi)."""
    from paddle.vision.models import vgg19
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return vgg19(pretrained=True).state_dict()
    except Exception as exc:  # offline machines fail deep inside the downloader
        raise VGGWeightsError(
            "could not get ImageNet VGG19 weights from paddle.vision (no internet?): "
            f"{type(exc).__name__}: {exc}. Set vgg.weights=<file.pdparams> instead. "
            f"{MAKE_WEIGHTS_FILE}") from None
