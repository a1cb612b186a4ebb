"""Evaluation under a fixed degradation: ``--degrade SPEC`` of tools/eval.py and
tools/prepare_data.py make-lr, applied where LR images are made (benchmarks.BenchmarkSet,
prepare_data's make_lr), so both give the same pixels.

Grammar: ``SPEC = OP ("+" OP)*``, each kind at most once, written in any order:

    blur:SIGMA    isotropic Gaussian blur of the HR image (std SIGMA > 0 in HR pixels, kernel
                  side 2 * ceil(3 SIGMA) + 1, mirrored borders), rounded to the HR's integers,
                  *before* the MATLAB-bicubic shrink: the camera blurs the scene before the
                  sensor samples it (the classical model y = (x * k) downarrow_s + n)
    noise:SIGMA   white Gaussian noise added to the LR, std SIGMA >= 0 on the 0-255 scale
                  (x 257 for 16-bit images), independent per channel (shared by the three
                  channels of a gray file); then rounded and clipped
    jpeg:Q        JPEG at quality Q (integer 1..100; OpenCV's libjpeg, 4:2:0) of the LR
                  (16-bit LR is first scaled to 8 bit)

Order of application, whatever the written order: blur (HR) -> MATLAB bicubic -> noise ->
JPEG (the order a camera pipeline applies them). `canonical` writes a spec in that order.

Seed: the noise of an image comes from ``numpy.random.default_rng(n)`` with n the first 8
bytes (little-endian) of sha256(file stem, UTF-8), drawn as ``standard_normal((h, w, C))``
(``(h, w, 1)`` for a gray file): anyone re-running the same spec on the same file gets the same
LR pixels, whatever the other images or their order.
"""
import hashlib
import math

import numpy as np

from ..errors import InputError
from . import degradations as deg
from .colour import to_uint8
from .imresize import INTEGER_MAX
from .transforms import downscale

__all__ = ["parse_spec", "canonical", "describe", "degraded_lr", "image_rng"]

ORDER = ("blur", "noise", "jpeg")
SEED_RULE = "numpy default_rng(int.from_bytes(sha256(file stem).digest()[:8], 'little'))"


def _number(kind, text, what):
    value = float(text)  # ValueError for junk, handled by the caller
    if not math.isfinite(value):
        raise ValueError
    if kind == "jpeg":
        if not value.is_integer() or not 1 <= value <= 100:
            raise ValueError
        return int(value)
    if value < 0 or (kind == "blur" and value == 0):
        raise ValueError
    return value


_EXPECTED = {"blur": "a Gaussian sigma > 0 (HR pixels)",
             "noise": "a Gaussian sigma >= 0 (0-255 scale)",
             "jpeg": "an integer quality 1..100"}


def parse_spec(text, what="--degrade"):
    """'blur:1.2+noise:5+jpeg:50' -> {'blur': 1.2, 'noise': 5.0, 'jpeg': 50} (keys in
    application order); None or '' -> None. InputError "WHAT TEXT: why" for a bad spec."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, dict):
        return {k: text[k] for k in ORDER if k in text}
    spec = {}
    for op in str(text).split("+"):
        kind, sep, value = op.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in _EXPECTED:
            raise InputError(f"{what} {text}: unknown operation {op.strip()!r} (use "
                             f"blur:SIGMA, noise:SIGMA, jpeg:Q joined by '+')")
        if not sep:
            raise InputError(f"{what} {text}: '{kind}' needs a value, e.g. {kind}:"
                             f"{ {'blur': '1.2', 'noise': '5', 'jpeg': '50'}[kind] }")
        if kind in spec:
            raise InputError(f"{what} {text}: '{kind}' is given twice")
        try:
            spec[kind] = _number(kind, value.strip(), what)
        except ValueError:
            raise InputError(f"{what} {text}: '{kind}' takes {_EXPECTED[kind]}, "
                             f"got {value.strip()!r}") from None
    return {k: spec[k] for k in ORDER if k in spec}


def canonical(spec):
    """The spec string in application order ('blur:1.2+noise:5+jpeg:50'), None for None."""
    spec = parse_spec(spec)
    if spec is None:
        return None
    return "+".join(f"{k}:{spec[k]:g}" for k in ORDER if k in spec)


def describe(spec):
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
