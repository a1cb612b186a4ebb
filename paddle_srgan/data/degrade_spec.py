"""Evaluation under a fixed degradation: ``--degrade SPEC`` of tools/eval.py and
tools/prepare_data.py make-lr, applied where LR images are made (benchmarks.BenchmarkSet,
prepare_data's make_lr), so both give the same pixels.

Grammar: ``SPEC = OP ("+" OP)*``, each kind at most once, written in any order:

    blur:SIGMA    isotropic Gaussian blur of the HR image (std SIGMA 0.1..10 in HR pixels,
                  kernel side 2 * ceil(3 SIGMA) + 1 <= 61, degradations.MAX_KERNEL_SIZE,
                  mirrored borders), rounded to the HR's integers,
                  *before* the MATLAB-bicubic shrink: the camera blurs the scene before the
                  sensor samples it (the classical model y = (x * k) downarrow_s + n)
    noise:SIGMA   white Gaussian noise added to the LR, std SIGMA 0..255 on the 0-255 scale
                  (x 257 for 16-bit images), independent per channel (shared by the three
                  channels of a gray file); then rounded and clipped
    jpeg:Q        JPEG at quality Q (integer 1..100; OpenCV's libjpeg, 4:2:0) of the LR
                  (16-bit LR is first scaled to 8 bit)

Values are decimal numbers ('1e-3' too); out of range is refused in one line (_BOUNDS).
Order of application, whatever the written order: blur (HR) -> MATLAB bicubic -> noise ->
JPEG (the order a camera pipeline applies them). `canonical` writes a spec in that order.

Seed: the noise of an image comes from ``numpy.random.default_rng(n)`` with n the first 8
bytes (little-endian) of sha256(file stem, UTF-8), drawn as ``standard_normal((h, w, C))``
(``(h, w, 1)`` for a gray file): anyone re-running the same spec on the same file gets the same
LR pixels, whatever the other images or their order.
"""
import hashlib
import math
import re

import numpy as np

from ..errors import InputError
from . import degradations as deg
from .colour import to_uint8
from .imresize import INTEGER_MAX
from .transforms import downscale

__all__ = ["parse_spec", "canonical", "spec_protocol", "degraded_lr", "image_rng"]

ORDER = ("blur", "noise", "jpeg")
SEED_RULE = "numpy default_rng(int.from_bytes(sha256(file stem).digest()[:8], 'little'))"


# What each operation takes: (lowest, highest, in words). The one place a spec's values are
# checked. Blur: sigma 10 gives the kernel side 61 (2 ceil(3 sigma) + 1), the largest blur
# kernel the degradations build (degradations.MAX_KERNEL_SIZE); below 0.1 the kernel is the
# identity to float precision (and 1e-200 divided by zero). Noise: past 255 the LR is
# clipped noise alone.
_BOUNDS = {"blur": (0.1, (deg.MAX_KERNEL_SIZE - 1) / 6, "a Gaussian sigma in HR pixels"),
           "noise": (0.0, 255.0, "a Gaussian sigma on the 0-255 scale"),
           "jpeg": (1, 100, "an integer quality")}
_EXAMPLES = {"blur": "1.2", "noise": "5", "jpeg": "50"}
# '+' joins operations; one inside a number ('1e+06') is followed by a digit, not a name
_OPERATION_SEPARATOR = re.compile(r"\+(?=\s*[A-Za-z])")


def _expected(kind):
    low, high, words = _BOUNDS[kind]
    return f"{words} {low:g}..{high:g}"


def _number(kind, text):
    """The value of one operation; ValueError unless a finite number within _BOUNDS
    (an integer for jpeg)."""
    value = float(text)  # ValueError for junk, handled by the caller
    low, high, _ = _BOUNDS[kind]
    if not low <= value <= high:  # NaN fails too; inf is past every bound
        raise ValueError
    if kind == "jpeg":
        if not value.is_integer():
            raise ValueError
        return int(value)
    return value


def _format(value):
    """The shortest text that parses back to exactly `value` ('1.2', '5', '1e-05')."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def parse_spec(text, what="--degrade"):
    """'blur:1.2+noise:5+jpeg:50' -> {'blur': 1.2, 'noise': 5.0, 'jpeg': 50} (keys in
    application order); None or '' -> None. InputError "WHAT TEXT: why" for a bad spec."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, dict):  # an already parsed spec: checked again, as its text
        text = "+".join(f"{k}:{_format(float(v))}" for k, v in text.items())
    spec = {}
    for op in _OPERATION_SEPARATOR.split(str(text)):
        kind, sep, value = op.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in _BOUNDS:
            raise InputError(f"{what} {text}: unknown operation {op.strip()!r} (use "
                             f"blur:SIGMA, noise:SIGMA, jpeg:Q joined by '+')")
        if not sep:
            raise InputError(f"{what} {text}: '{kind}' needs a value, e.g. "
                             f"{kind}:{_EXAMPLES[kind]}")
        if kind in spec:
            raise InputError(f"{what} {text}: '{kind}' is given twice")
        try:
            spec[kind] = _number(kind, value.strip())
        except ValueError:
            raise InputError(f"{what} {text}: '{kind}' takes {_expected(kind)}, "
                             f"got {value.strip()!r}") from None
    return {k: spec[k] for k in ORDER if k in spec}


def canonical(spec):
    """The spec string in application order ('blur:1.2+noise:5+jpeg:50'), None for None."""
    spec = parse_spec(spec)
    if spec is None:
        return None
    return "+".join(f"{k}:{_format(spec[k])}" for k in ORDER if k in spec)


def spec_protocol(spec):
    """JSON-serialisable protocol of a spec for results.json (None for no degradation)."""
    spec = parse_spec(spec)
    if spec is None:
        return None
    return {"spec": canonical(spec), **spec,
            "order": "blur (HR, Gaussian, before the bicubic shrink) -> matlab-bicubic -> "
                     "noise (Gaussian, 0-255 scale) -> round -> jpeg (OpenCV libjpeg)",
            "seed": SEED_RULE}


def image_rng(name):
    """The numpy Generator of the image whose file stem is ``name`` (SEED_RULE)."""
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def degraded_lr(hr, scale, spec, name, gray=False):
    """The LR of a (mod-cropped) HR image under ``spec``; no spec: plain MATLAB bicubic.

    Args:
        hr: uint8/uint16 [H, W, C], H and W multiples of ``scale``.
        scale: int >= 1.
        spec: a spec string or parse_spec's dict (None: no degradation).
        name: the image's file stem (seeds the noise, see the module docstring).
        gray: the image is a gray file replicated to RGB (noise and JPEG keep it gray).

    Returns:
        [H/scale, W/scale, C], ``hr``'s dtype (uint8 after jpeg).
    """
    spec = parse_spec(spec)
    if not spec:
        return downscale(hr, scale)
    peak = INTEGER_MAX.get(hr.dtype)
    if peak is None:
        raise ValueError(f"degraded_lr needs uint8/uint16 images, got {hr.dtype}")
    if "blur" in spec:
        sigma = spec["blur"]
        kernel = deg.anisotropic_gaussian_kernel(2 * math.ceil(3 * sigma) + 1, sigma)
        hr = np.clip(np.rint(deg.blur(hr.astype(np.float32), kernel)), 0, peak).astype(hr.dtype)
    lr = downscale(hr, scale)
    if spec.get("noise"):
        channels = 1 if gray else lr.shape[2]
        noise = image_rng(name).standard_normal(lr.shape[:2] + (channels,))
        noisy = lr.astype(np.float64) + noise * spec["noise"] * (peak / 255.0)
        lr = np.clip(np.rint(noisy), 0, peak).astype(lr.dtype)
    if "jpeg" in spec:
        lr8 = to_uint8(lr)
        if gray:
            lr = np.repeat(deg.jpeg(lr8[:, :, :1], spec["jpeg"]), lr8.shape[2], axis=2)
        else:
            lr = deg.jpeg(lr8, spec["jpeg"])
    return lr
