"""The second-order degradation model of Real-ESRGAN (Wang et al., ICCVW 2021, section 3 and
its training options ``realesrgan_x4plus.yml``): how ``datasets.train.type: realworld`` makes
the LR patch of each HR patch, in the data workers (numpy + OpenCV, no Paddle).

One stage = blur -> random resize -> noise -> JPEG:

* blur: a kernel of random odd size in ``kernel_range``; with probability ``sinc_prob`` a 2-D
  sinc (cutoff U(pi/3, pi), U(pi/5, pi) for sizes >= 13), otherwise a family drawn from
  ``kernel_list`` with ``kernel_prob`` (iso/aniso Gaussian, generalized Gaussian, plateau;
  sigmas U(blur_sigma), angle U(-pi, pi) for aniso, beta U(betag_range) / U(betap_range));
* resize: up / down / keep with ``resize_prob``; the factor U(1, hi) or U(lo, 1) of
  ``resize_range``; interpolation area / bilinear / bicubic, equally likely;
* noise: Gaussian (sigma U(noise_range), 0-255 scale) with ``gaussian_noise_prob``, else
  Poisson (scale U(poisson_scale_range)); gray (luminance) noise with ``gray_noise_prob``;
* JPEG at a quality U(jpeg_range) (integer).

Stage 2 uses the ``*2`` keys, skips its blur with probability 1 - ``second_blur_prob``,
resizes relative to the final LR size, and its JPEG is the one of the final step. Then the
final resize to HR / scale (random interpolation) and a sinc filter (with ``final_sinc_prob``,
cutoff U(pi/3, pi)) come in a random order with the last JPEG: [resize + sinc, JPEG] or
[JPEG, resize + sinc], each with probability 1/2, as Real-ESRGAN does. ``order: shuffled``
instead applies each stage's operations (stage 1: blur, resize, noise, JPEG; stage 2: blur,
resize, noise) in a random order (BSRGAN's idea; Zhang et al., ICCV 2021).

Every random number comes from the ``numpy.random.Generator`` passed in, in a fixed sequence,
so the LR of a patch is a function of (seed, index) like the rest of the data.
"""
import math

import numpy as np

from ..errors import InputError
from . import degradations as deg
from .settings import KERNEL_TYPES

__all__ = ["RealWorldDegradation", "KERNEL_TYPES", "degradation_label"]

_STAGE_KEYS = ("kernel_list", "kernel_prob", "sinc_prob", "blur_sigma", "betag_range",
               "betap_range", "resize_prob", "resize_range", "gaussian_noise_prob",
               "noise_range", "poisson_scale_range", "gray_noise_prob", "jpeg_range")
_PROBABILITIES = ("sinc_prob", "gaussian_noise_prob", "gray_noise_prob")
# name: (lowest, highest) value. A resize past x4 would grow a patch without bound (x1e6
# asked for terabytes); Real-ESRGAN stays within [0.15, 1.5].
_RANGES = {"blur_sigma": (0, math.inf), "betag_range": (0, math.inf),
           "betap_range": (0, math.inf), "resize_range": (0, 4),
           "noise_range": (0, math.inf), "poisson_scale_range": (0, math.inf),
           "jpeg_range": (1, 100)}


def degradation_label(degradation):
    """The ranges of a ``datasets.train.degradation`` section in a few words, for a person
    choosing a model (export metadata, the page): each range spans both stages, e.g.
    'JPEG q30-95, noise sigma 1-30 or Poisson x0.05-3, blur sigma 0.2-3, resize x0.15-1.5,
    two stages (realesrgan order)'. Probabilities are left out: a label, not the recipe."""
    def span(name):
        lo = min(degradation[name][0], degradation[name + "2"][0])
        hi = max(degradation[name][1], degradation[name + "2"][1])
        return f"{lo:g}-{hi:g}"
    return (f"JPEG q{span('jpeg_range')}, noise sigma {span('noise_range')} or Poisson "
            f"x{span('poisson_scale_range')}, blur sigma {span('blur_sigma')}, resize "
            f"x{span('resize_range')}, two stages ({degradation['order']} order)")


class RealWorldDegradation:
    """Callable HR patch -> degraded LR patch; the keyword arguments are the keys of the
    config's ``datasets.train.degradation`` (defaults: data/settings.py, Real-ESRGAN's values).

    Args (``*2``: the same for stage 2):
        kernel_range: [lo, hi], odd kernel sides drawn from lo, lo + 2, ..., hi.
        kernel_list, kernel_prob: kernel families (KERNEL_TYPES) and their probabilities.
        sinc_prob: probability of a sinc kernel instead.
        blur_sigma, betag_range, betap_range: [lo, hi] of the kernel parameters.
        resize_prob: [up, down, keep] probabilities; resize_range: [lo, hi] factor.
        gaussian_noise_prob, noise_range, poisson_scale_range, gray_noise_prob: noise.
        jpeg_range: [lo, hi] JPEG quality.
        second_blur_prob: probability that stage 2 blurs.
        final_sinc_prob: probability of the final sinc filter.
        order: 'realesrgan' or 'shuffled' (settings.ORDERS, see the module docstring;
            checked when the config is loaded).
        key: config section named in errors.

    Call: ``lr = degrade(hr, scale, rng)`` with hr uint8/uint16 [H, W, C] (C = 1 or 3, H and
    W multiples of scale), rng a numpy.random.Generator -> lr uint8 [H/scale, W/scale, C].
    """

    def __init__(self, kernel_range, second_blur_prob, final_sinc_prob, order="realesrgan",
                 key="datasets.train.degradation", **stages):
        expected = {k + s for k in _STAGE_KEYS for s in ("", "2")}
        unknown, missing = set(stages) - expected, expected - set(stages)
        if unknown or missing:
            raise InputError(f"'{key}': unknown keys {sorted(unknown)}, missing keys "
                             f"{sorted(missing)}")
        self.key = key
        lo, hi = self._range("kernel_range", kernel_range, low=1, high=deg.MAX_KERNEL_SIZE)
        if lo % 2 == 0 or hi % 2 == 0 or not all(float(v).is_integer() for v in (lo, hi)):
            raise InputError(f"'{key}.kernel_range' must hold two odd integers, got "
                             f"{kernel_range!r}")
        self.kernel_sizes = np.arange(int(lo), int(hi) + 1, 2)
        self.second_blur_prob = self._probability("second_blur_prob", second_blur_prob)
        self.final_sinc_prob = self._probability("final_sinc_prob", final_sinc_prob)
        self.order = order
        self.stages = [self._stage(stages, suffix) for suffix in ("", "2")]

    # -- validation (so a bad key fails when the training set is built, naming it) --
    def _probability(self, name, p):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise InputError(f"'{self.key}.{name}' must be a probability in [0, 1], got {p!r}")
        return float(p)

    def _range(self, name, value, low=0, high=math.inf):
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
              and low <= value[0] <= value[1] <= high)
        if not ok:
            bound = f" <= {high:g}" if high < math.inf else ""
            raise InputError(f"'{self.key}.{name}' must be [lo, hi] with {low} <= lo <= "
                             f"hi{bound}, got {value!r}")
        return float(value[0]), float(value[1])

    def _distribution(self, name, probs, n):
        if (not isinstance(probs, (list, tuple)) or len(probs) != n
                or any(not isinstance(p, (int, float)) or p < 0 for p in probs)
                or abs(sum(probs) - 1) > 1e-6):
            raise InputError(f"'{self.key}.{name}' must be {n} probabilities summing to 1, "
                             f"got {probs!r}")
        return np.asarray(probs, np.float64) / sum(probs)

    def _stage(self, cfg, suffix):
        kernels = cfg["kernel_list" + suffix]
        if not isinstance(kernels, (list, tuple)) or not kernels or \
                any(k not in KERNEL_TYPES for k in kernels):
            raise InputError(f"'{self.key}.kernel_list{suffix}' must be a list of "
                             f"{', '.join(KERNEL_TYPES)}; got {kernels!r}")
        stage = {"kernel_list": list(kernels),
                 "kernel_prob": self._distribution("kernel_prob" + suffix,
                                                   cfg["kernel_prob" + suffix], len(kernels)),
                 "resize_prob": self._distribution("resize_prob" + suffix,
                                                   cfg["resize_prob" + suffix], 3)}
        for name in _PROBABILITIES:
            stage[name] = self._probability(name + suffix, cfg[name + suffix])
        for name, (low, high) in _RANGES.items():
            stage[name] = self._range(name + suffix, cfg[name + suffix], low, high)
        if stage["blur_sigma"][0] <= 0 or stage["resize_range"][0] <= 0:
            raise InputError(f"'{self.key}.blur_sigma{suffix}' and 'resize_range{suffix}' "
                             f"must be > 0")
        return stage

    # -- random draws --
    def random_kernel(self, stage, rng):
        """A blur kernel of stage 0 or 1 (the module docstring's blur), float64 [k, k]."""
        p = self.stages[stage]
        size = int(rng.choice(self.kernel_sizes))
        if rng.random() < p["sinc_prob"]:
            low = np.pi / 5 if size >= 13 else np.pi / 3  # small kernels cannot cut lower
            return deg.sinc_kernel(size, rng.uniform(low, np.pi))
        kind = p["kernel_list"][int(rng.choice(len(p["kernel_list"]), p=p["kernel_prob"]))]
        sx = rng.uniform(*p["blur_sigma"])
        if kind.endswith("_iso") or kind == "iso":
            sy, theta = sx, 0.0
        else:
            sy, theta = rng.uniform(*p["blur_sigma"]), rng.uniform(-np.pi, np.pi)
        if kind.startswith("generalized"):
            return deg.generalized_gaussian_kernel(size, sx, sy, theta,
                                                   rng.uniform(*p["betag_range"]))
        if kind.startswith("plateau"):
            return deg.plateau_kernel(size, sx, sy, theta, rng.uniform(*p["betap_range"]))
        return deg.anisotropic_gaussian_kernel(size, sx, sy, theta)

    def _resize_factor(self, p, rng):
        kind = int(rng.choice(3, p=p["resize_prob"]))  # up, down, keep
        lo, hi = p["resize_range"]
        return (rng.uniform(1, hi), rng.uniform(lo, 1), 1.0)[kind]

    @staticmethod
    def _interpolation(rng):
        return list(deg.INTERPOLATIONS)[int(rng.integers(len(deg.INTERPOLATIONS)))]

    def _noise(self, img, p, rng):
        gray = rng.random() < p["gray_noise_prob"]
        if rng.random() < p["gaussian_noise_prob"]:
            return deg.gaussian_noise(img, rng.uniform(*p["noise_range"]), gray, rng)
        return deg.poisson_noise(img, rng.uniform(*p["poisson_scale_range"]), gray, rng)

    def _jpeg(self, img, p, rng):
        quality = int(rng.integers(int(p["jpeg_range"][0]), int(p["jpeg_range"][1]) + 1))
        return deg.jpeg(np.clip(img, 0.0, 1.0), quality).astype(np.float32) / np.float32(255)

    def _run_stage(self, img, stage, base_hw, rng):
        """One stage; ``base_hw``: the size the resize factor applies to."""
        p = self.stages[stage]

        def blur(x):
            if stage == 1 and rng.random() >= self.second_blur_prob:
                return x
            return deg.blur(x, self.random_kernel(stage, rng))

        def resize(x):
            f = self._resize_factor(p, rng)
            h, w = (max(1, int(n * f)) for n in base_hw)
            return deg.resize(x, h, w, self._interpolation(rng))

        ops = [blur, resize, lambda x: self._noise(x, p, rng), lambda x: self._jpeg(x, p, rng)]
        ops = ops if stage == 0 else ops[:3]  # stage 2's JPEG comes with the final resize
        order = rng.permutation(len(ops)) if self.order == "shuffled" else range(len(ops))
        for i in order:
            img = ops[i](img)
        return img

    def __call__(self, hr, scale, rng):
        h, w = hr.shape[:2]
        if h % scale or w % scale:
            raise ValueError(f"degrade: HR sides {h}x{w} are not multiples of {scale}")
        peak = np.float32(np.iinfo(hr.dtype).max) if hr.dtype.kind == "u" else np.float32(1)
        img = hr.astype(np.float32) / peak
        img = self._run_stage(img, 0, (h, w), rng)
        img = self._run_stage(img, 1, (h // scale, w // scale), rng)

        def resize_and_sinc(x):
            x = deg.resize(x, h // scale, w // scale, self._interpolation(rng))
            if rng.random() < self.final_sinc_prob:
                x = deg.blur(x, deg.sinc_kernel(int(rng.choice(self.kernel_sizes)),
                                                rng.uniform(np.pi / 3, np.pi)))
            return x

        def last_jpeg(x):
            return self._jpeg(x, self.stages[1], rng)

        if rng.random() < 0.5:
            img = last_jpeg(resize_and_sinc(img))
        else:
            img = resize_and_sinc(last_jpeg(img))
        return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
