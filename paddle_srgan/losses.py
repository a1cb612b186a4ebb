"""Loss terms of SRResNet / SRGAN / ESRGAN / Real-ESRGAN training, and the weighted generator
objective.

Conventions: images are [N, C, H, W] float32 in the generator's output range (`output_range`,
[-1, 1] for SRResNet); D's logits are [N, 1] or per pixel [N, 1, H, W] (Real-ESRGAN's U-Net
D); every loss returns a 0-d tensor (mean over all elements, as BasicSR's GANLoss).
"""
import contextlib

from .compat import import_paddle
from .loss_settings import ADVERSARIAL_FORMS, PERCEPTUAL_CRITERIA, TARGET_TERMS
from .models import final_level, level_key, output_levels

paddle = import_paddle()
F = paddle.nn.functional


def charbonnier(pred, target, eps=1e-3):
    """mean(sqrt((pred - target)^2 + eps^2)): a differentiable L1 (LapSRN, Lai et al. 2017)."""
    diff = pred - target
    return paddle.sqrt(diff * diff + eps * eps).mean()


PIXEL_CRITERIA = {
    "mse": lambda pred, target, eps: F.mse_loss(pred, target),
    "l1": lambda pred, target, eps: F.l1_loss(pred, target),
    "charbonnier": charbonnier,
}


def pixel_loss(pred, target, criterion="mse", eps=1e-3):
    """Pixel-space loss between two same-shape tensors; criterion mse | l1 | charbonnier."""
    if criterion not in PIXEL_CRITERIA:
        raise ValueError(f"losses.pixel.criterion must be one of {sorted(PIXEL_CRITERIA)}, "
                         f"got {criterion!r}")
    return PIXEL_CRITERIA[criterion](pred, target, eps)


class PerceptualLoss(paddle.nn.Layer):
    """Content loss on VGG feature maps (paper eq. 5, phi_i,j), over one layer or several with
    weights (BasicSR's PerceptualLoss: use_input_norm True, range_norm False):

        sum_k w_k * criterion(s * phi_k(sr), s * phi_k(hr))

    The paper rescales feature maps by s = 1/12.75 (so they are of the same order as pixel
    MSE); the rescale is applied to the maps, which scales an MSE by s^2, an L1 by s.

    Args:
        vgg: a frozen `VGGFeatures` (input RGB [0,1]) reading at least the layers weighed.
        feature_scale: s, applied to both feature maps (paper: 1/12.75, ESRGAN: 1).
        criterion: 'mse' or 'l1' between the rescaled maps (mean over their elements).
        output_range: (lo, hi) of the images given to forward (the generator's), mapped
            to [0, 1] for VGG.
        layer_weights: {VGG19 layer name: w_k} (config `vgg.layer`, loss_settings.
            layer_weights); None: every layer `vgg` reads, weight 1.
    """

    def __init__(self, vgg, feature_scale=1.0 / 12.75, criterion="mse", output_range=(-1.0, 1.0),
                 layer_weights=None):
        super().__init__()
        if criterion not in PERCEPTUAL_CRITERIA:
            raise ValueError(f"losses.perceptual.criterion must be "
                             f"{' or '.join(map(repr, PERCEPTUAL_CRITERIA))}, "
                             f"got {criterion!r}")
        self.layer_weights = dict(layer_weights or dict.fromkeys(vgg.layers, 1.0))
        missing = set(self.layer_weights) - set(vgg.layers)
        if missing:
            raise ValueError(f"PerceptualLoss weighs {sorted(missing)}, which the VGG does not "
                             f"read (it reads {vgg.layers})")
        self.vgg = vgg
        self.feature_scale = feature_scale
        self.criterion = criterion
        self.lo, self.hi = output_range

    def _features(self, img):
        maps = self.vgg.feature_maps((img - self.lo) / (self.hi - self.lo))
        return {name: maps[name] * self.feature_scale for name in self.layer_weights}

    def forward(self, sr, hr):
        """sr, hr: [N, C, H, W] in `output_range` -> 0-d loss (gradients reach sr only)."""
        # VGG runs in fp32 even under AMP: relu5_4 activations of ImageNet VGG reach
        # magnitudes where fp16 loses the small differences the loss is about.
        with paddle.amp.auto_cast(enable=False):
            sr, hr = sr.astype("float32"), hr.astype("float32")
            with paddle.no_grad():
                target = self._features(hr)
            features = self._features(sr)
            return sum(w * pixel_loss(features[name], target[name], self.criterion)
                       for name, w in self.layer_weights.items())


@contextlib.contextmanager
def frozen(layer):
    """Within the block, `layer`'s trainable parameters get no gradients (inputs still do).

    Why: the generator's adversarial term needs d loss / d sr through D, not D's own weight
    gradients, which the D step recomputes anyway; skipping them saves their GEMMs.
    """
    params = [p for p in layer.parameters() if not p.stop_gradient]
    for p in params:
        p.stop_gradient = True
    try:
        yield
    finally:
        for p in params:
            p.stop_gradient = False


def _bce(logits, label):
    target = paddle.full_like(logits, float(label))
    return F.binary_cross_entropy_with_logits(logits, target)


def adversarial_g_loss(fake_logits, real_logits=None, form="vanilla"):
    """Generator's adversarial loss on D's logits ([N, 1] or [N, 1, H, W]).

    vanilla: BCE towards 'real', -log D(G(x)) (the paper's eq. 6).
    relativistic: RaGAN (Jolicoeur-Martineau 2018, ESRGAN): SR should look more real than the
    average HR and HR less real than the average SR; needs `real_logits` (detached).
    """
    if form == "vanilla":
        return _bce(fake_logits, 1)
    return (_bce(real_logits - fake_logits.mean(), 0)
            + _bce(fake_logits - real_logits.mean(), 1)) / 2


def adversarial_d_terms(real_logits, fake_logits, form="vanilla"):
    """The discriminator's loss on the logits of real HR and of detached SR (see
    adversarial_g_loss) -> (loss, real term, fake term): BasicSR's l_d_total, l_d_real and
    l_d_fake.

    vanilla: BCE with label 1 on real, label 0 on fake; loss = their sum (the paper).
    relativistic: RaGAN's mirror image of adversarial_g_loss, BCE(real - mean(fake), 1) and
    BCE(fake - mean(real), 0); loss = their mean (ESRGAN).
    """
    if form == "vanilla":
        real, fake = _bce(real_logits, 1), _bce(fake_logits, 0)
        return real + fake, real, fake
    real = _bce(real_logits - fake_logits.mean(), 1)
    fake = _bce(fake_logits - real_logits.mean(), 0)
    return (real + fake) / 2, real, fake


def feature_matching_loss(fake_maps, real_maps):
    """Content loss on the discriminator's own features: the mean over D's conv blocks of
    L1(block(sr), block(hr)), HR side detached. A learned perceptual distance that needs no
    ImageNet network (pix2pixHD's feature-matching loss); it pulls the SR's texture statistics
    towards the HR's where pixel losses would average them away."""
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_maps, real_maps)) / len(fake_maps)


class GeneratorObjective:
    """Weighted sum of the generator's loss terms for one phase.

        total = w_pixel * pixel(sr, hr) + w_perceptual * perceptual(sr, hr)
                + w_adversarial * adversarial_g(D(sr)) + w_feature_matching * fm(D(sr), D(hr))

    Each term may have its own target (Real-ESRGAN: the USM-sharpened HR for pixel and
    perceptual, the plain HR for D). Terms with weight 0 are not computed (the MSE phase never
    builds VGG or D). For multi-level generators (LapSRN) the pixel term is the sum over
    levels, each level against its own target (the paper's multi-scale supervision);
    perceptual and adversarial terms use the finest level.

    Args:
        weights: {'pixel': w, 'perceptual': w, 'adversarial': w, 'feature_matching': w}
            (a phase's `losses`; missing terms weigh 0).
        pixel_cfg: config `losses.pixel` ({'criterion', 'eps'}).
        perceptual: a PerceptualLoss, required when w_perceptual > 0.
        discriminator: required when w_adversarial or w_feature_matching > 0; it has
            forward_features(img) -> (feature maps, logits) (models.DISCRIMINATORS).
        adversarial_form: 'vanilla' (the paper) or 'relativistic' (config
            `losses.adversarial.form`).
        level_scales: scale of each level of a multi-level generator, e.g. (2, 4); names
            the per-level pixel terms pixel_x2, pixel_x4.
    """

    def __init__(self, weights, pixel_cfg, perceptual=None, discriminator=None,
                 level_scales=None, adversarial_form="vanilla"):
        self.weights = {k: float(v) for k, v in weights.items() if v}
        if "perceptual" in self.weights and perceptual is None:
            raise ValueError("a perceptual loss weight > 0 needs a PerceptualLoss (VGG)")
        if {"adversarial", "feature_matching"} & set(self.weights) and discriminator is None:
            raise ValueError("an adversarial or feature-matching weight > 0 needs a "
                             "discriminator")
        if adversarial_form not in ADVERSARIAL_FORMS:
            raise ValueError(f"losses.adversarial.form must be one of {ADVERSARIAL_FORMS}, "
                             f"got {adversarial_form!r}")
        self.adversarial_form = adversarial_form
        self.pixel_cfg = pixel_cfg
        self.perceptual = perceptual
        self.discriminator = discriminator
        self.level_scales = level_scales

    def __call__(self, sr, hr):
        """sr: [N, C, H, W] in the generator's range, or a list of them (coarse to fine);
        hr: the target alike, for every term, or {term: target} with one for each of
        loss_settings.TARGET_TERMS ('adversarial': the real images D compares SR with)
        -> (total, {term: unweighted 0-d loss})."""
        targets = hr if isinstance(hr, dict) else dict.fromkeys(TARGET_TERMS, hr)
        terms = {}
        if "pixel" in self.weights:
            levels = zip(output_levels(sr), output_levels(targets["pixel"]))
            per_level = [pixel_loss(s, h, self.pixel_cfg["criterion"], self.pixel_cfg["eps"])
                         for s, h in levels]
            terms["pixel"] = sum(per_level)
            if len(per_level) > 1:
                for scale, value in zip(self.level_scales, per_level):
                    terms[level_key("pixel", scale)] = value
        sr = final_level(sr)
        if "perceptual" in self.weights:
            terms["perceptual"] = self.perceptual(sr, final_level(targets["perceptual"]))
        if {"adversarial", "feature_matching"} & set(self.weights):
            terms.update(self._discriminator_terms(sr, final_level(targets["adversarial"])))
        total = sum(self.weights[name] * terms[name] for name in self.weights)
        return total, terms

    def _discriminator_terms(self, sr, real):
        """The terms that look through D (frozen: gradients reach sr, not D's weights). The
        real images go through D only when a term compares with them (RaGAN, feature
        matching), after SR, as BasicSR's ESRGAN G step does (D's BN statistics and
        spectral-norm power iterations advance in that order)."""
        terms = {}
        need_real = (self.adversarial_form == "relativistic"
                     or "feature_matching" in self.weights)
        with frozen(self.discriminator):
            fake_maps, fake_logits = self.discriminator.forward_features(sr)
            real_maps = real_logits = None
            if need_real:
                with paddle.no_grad():
                    real_maps, real_logits = self.discriminator.forward_features(real)
            if "adversarial" in self.weights:
                terms["adversarial"] = adversarial_g_loss(fake_logits, real_logits,
                                                          self.adversarial_form)
            if "feature_matching" in self.weights:
                terms["feature_matching"] = feature_matching_loss(fake_maps, real_maps)
        return terms
