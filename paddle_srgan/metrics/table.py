"""The metrics table: one entry a metric, read by everything that names metrics.

The evaluator scores the entries that are on, the results files and console tables take
their columns from it, the training verdict, the VisualDL scalars (``val/<name>``),
best-checkpoint selection (``train.best_metric``, direction), the perception-distortion
figure and tools/eval.py's switches too; the config reads names, directions and switches.
Importing this module is cheap (no numpy, Paddle or OpenCV): functions are named as
"module:function" below paddle_srgan.metrics and imported on first use.

Adding a metric: its function (taking ``(img1, img2, crop_border=..., y_channel=...)`` for a
full-reference metric, ``(img, crop_border=..., gray=...)`` without a reference), one line in
METRICS, its test.
"""
from dataclasses import dataclass
from importlib import import_module

KEYWORDS = ("y_channel", "gray", "period", "net")  # what a metric function may take besides
# the images and crop_border: the luma switch, a gray source, the scale, loaded weights


@dataclass(frozen=True)
class Metric:
    """One metric.

    name: its key in results, scalars (val/<name>) and train.best_metric.
    label, short: results tables' column header ("PSNR Y"); the verdict's and figures' name.
    decimals: shown in tables.
    lower_is_better: the direction (best-checkpoint selection, figures).
    reference: scored against the HR image (False: the SR image alone).
    function: "module:function" below paddle_srgan.metrics; called as function(sr, [hr,]
        crop_border=scale, **{k: ... for k in keywords}).
    keywords: which of KEYWORDS the function takes.
    channels: "luma" (BT.601 Y, a gray image's own values) or "rgb" (the three channels; RGB
        images only, when the evaluation asks for RGB columns).
    protocol: how it is computed, stored in results meta under `name` ("{crop_border}" is
        filled in), or None.
    describe: "module:function" (net, crop_border) -> meta tags, for a metric whose tags
        depend on its weights.
    fits: "module:function" (shape, crop_border) -> bool: images it cannot score are left out
        of it (its mean is over the others), or None.
    needs: why no validation image has it, when none fits (train.best_metric's refusal).
    switch: the train.<key> that turns it on at validation (None: always scored); in
        tools/eval.py it is on unless --no-<name>, or, with `loader`, given --<name> WEIGHTS.
    default: that key's default (True / False, or None for a weights path).
    loader: "module:function" (weights path) -> the network `net` the function takes.
    help: tools/eval.py's help of its switch.
    selectable: a value of train.best_metric.
    brief: a column of the training verdict.
    """
    name: str
    label: str
    short: str
    decimals: int
    lower_is_better: bool
    reference: bool
    function: str
    keywords: tuple = ()
    channels: str = "luma"
    protocol: str = None
    describe: str = None
    fits: str = None
    needs: str = None
    switch: str = None
    default: object = True
    loader: str = None
    help: str = None
    selectable: bool = False
    brief: bool = False

    def __call__(self, *images, crop_border, **available):
        """The metric of `images` (sr[, hr]); `available` holds KEYWORDS values, of which
        the function gets those it takes."""
        return _resolve(self.function)(*images, crop_border=crop_border,
                                        **{k: available[k] for k in self.keywords})

    def fit(self, shape, crop_border):
        """Whether an image of `shape` can be scored with `crop_border` (see `fits`)."""
        return self.fits is None or _resolve(self.fits)(shape, crop_border)

    def load(self, weights):
        """The network of `weights` (a path) that the function takes as `net`."""
        return _resolve(self.loader)(weights)

    def tags(self, crop_border, net=None):
        """Results meta tags of this metric as scored: {name: protocol, ...}."""
        if self.describe is not None:
            return _resolve(self.describe)(net, crop_border)
        return {self.name: None if self.protocol is None
                else self.protocol.format(crop_border=int(crop_border))}

    def better(self, value, than):
        """Whether `value` beats `than` in this metric's direction (None: anything does)."""
        return than is None or (value < than if self.lower_is_better else value > than)


def _resolve(ref):
    module, name = ref.split(":")
    return getattr(import_module(f"paddle_srgan.{module}"), name)


_NIQE = ("matlab-release-96x96-blocks, luma as for psnr, rounded; images with fewer than two "
         "blocks after the crop, or fewer than two blocks with texture (flat), have none")

# the order of columns in results files, tables and the verdict
METRICS = (
    Metric("psnr", "PSNR Y", "PSNR", 2, False, True, "metrics.scores:psnr", ("y_channel",),
           protocol="10*log10(255^2/mse)", selectable=True, brief=True),
    Metric("ssim", "SSIM Y", "SSIM", 4, False, True, "metrics.scores:ssim", ("y_channel",),
           protocol="matlab-gaussian-11-1.5", selectable=True, brief=True),
    Metric("msssim", "MS-SSIM Y", "MS-SSIM", 4, False, True, "metrics.multiscale:msssim",
           ("y_channel",), protocol="wang2003-5-scales-ssim-window-2x2-mean; images under "
           "161x161 after the crop have none", fits="metrics.multiscale:msssim_fits",
           needs="is at least 161x161 pixels after the border crop, which MS-SSIM needs",
           switch="val_msssim", default=False, help="skip MS-SSIM", selectable=True,
           brief=True),
    Metric("psnr_rgb", "PSNR RGB", "PSNR RGB", 2, False, True, "metrics.scores:psnr",
           ("y_channel",), channels="rgb", brief=True),
    Metric("ssim_rgb", "SSIM RGB", "SSIM RGB", 4, False, True, "metrics.scores:ssim",
           ("y_channel",), channels="rgb"),
    Metric("niqe", "NIQE", "NIQE", 2, True, False, "metrics.scores:niqe", ("gray",),
           protocol=_NIQE, fits="metrics.scores:niqe_fits",
           needs="holds two 96x96 blocks with texture after the border crop, which NIQE needs",
           switch="val_niqe",
           help="skip NIQE (about 30 ms per 512x512 image; the grid score stays)",
           selectable=True, brief=True),
    Metric("grid", "grid dB", "grid dB", 1, True, False, "metrics.scores:periodic_artifacts",
           ("gray", "period"), protocol="periodic_artifacts, period = scale, dB (crop_border "
           "{crop_border}); flat images have none", brief=True),
    Metric("lpips", "LPIPS", "LPIPS", 4, True, True, "metrics.scores:lpips", ("net",),
           channels="rgb", describe="metrics.scores:lpips_protocol", switch="val_lpips",
           default=None, loader="models.lpips:load_lpips",
           help="also score LPIPS v0.1 (lower is better) with the .pdparams made once by "
           "tools/convert_lpips_weights.py (RGB evaluation only)",
           selectable=True, brief=True),
)
BY_NAME = {m.name: m for m in METRICS}
DISTORTION, PERCEPTION = "psnr", "niqe"  # the perception-distortion plane's axes; DISTORTION's
# gain over bicubic is the verdict's "gain" and train.best_min_psnr_gain's measure


def metric(name):
    """The entry of `name` (KeyError for an unknown one)."""
    return BY_NAME[name]


def metric_names(selectable=False):
    """Every metric's name in table order; `selectable`: train.best_metric's values only."""
    return tuple(m.name for m in METRICS if m.selectable or not selectable)


def lower_is_better(name):
    return BY_NAME[name].lower_is_better


def switched():
    """The metrics with a switch (train.<switch>; tools/eval.py's flag)."""
    return tuple(m for m in METRICS if m.switch is not None)


def switch_defaults():
    """{train key: default} of every switch: the config's train defaults for them."""
    return {m.switch: m.default for m in switched()}


def scored(switches, reference=True, channels=("luma",)):
    """The metrics scored under `switches` ({name: value}; a switched metric is on when its
    value is truthy: True, or its loaded network), with or without a reference, computed on
    one of `channels`."""
    return tuple(m for m in METRICS
                 if m.reference == reference and m.channels in channels
                 and (m.switch is None or switches.get(m.name)))


def eval_switches():
    """tools/eval.py's switches before its flags: every switch on, except weights."""
    return {m.name: m.loader is None for m in switched()}


def train_switches(train_cfg):
    """{name: value} of the validation switches in a resolved config's train section (a
    weights metric's value is its weights path, None when off)."""
    return {m.name: train_cfg[m.switch] for m in switched()}
