"""Periodic artifacts: how much an image's spectrum peaks at multiples of 1/period cycles per
pixel, relative to its neighbourhood.

Two x2 pixel shuffles (x4 SR) build each output pixel from one of 16 sub-pixel filters; when
those filters disagree, the output carries a pattern repeating every 4 pixels (the
checkerboard / grid that GAN training can bring out on smooth regions). Such a pattern puts
its energy exactly at the frequencies (k/4, l/4); natural images have no reason to. The score
compares the power at those 15 bins with the median power around each:

    luma (border cropped, cut to multiples of the period) - its mean, times a 2-D Hann window
    P = |FFT2|^2
    score = 10 log10( mean over (k, l) != (0, 0) of P[k H/p, l W/p] / median(P, 7x7 around) )

Natural images give a few dB (a single spectral bin against a median is about 1.6 dB on
average for noise-like spectra); a visible period-4 grid gives 10 dB and more. Report it next to
the HR images' own score. NIQE alone can be lowered by adding such a grid; this number cannot.
"""
import numpy as np

from .scores import UndefinedScore

_NEIGHBOURHOOD = 3  # half side of the window the median is taken over (7x7)


def periodic_artifact_score(luma, period=4):
    """The score in dB of a luma image already border-cropped.

    Args:
        luma: float [H, W], any range, H and W >= 2 * period.
        period: the pattern's period in pixels (4 for x4 pixel-shuffle networks).
    Returns:
        float, dB.
    Raises:
        UndefinedScore: the image is flat, or has no power at any of the period's harmonics,
            or the period is 1 (x1 networks: no sub-pixel pattern, no harmonic to look at).
    """
    if period < 2:
        raise UndefinedScore("a period of 1 pixel (a x1 network) has no harmonics to score")
    h, w = (s - s % period for s in luma.shape)
    if min(h, w) < 2 * period:
        raise ValueError(f"periodic artifacts need at least {2 * period}x{2 * period} pixels, "
                         f"got {luma.shape[0]}x{luma.shape[1]}")
    img = np.asarray(luma[:h, :w], np.float64)
    if img.max() == img.min():
        raise UndefinedScore("a flat image has no spectrum to score periodic artifacts on")
    img = (img - img.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(img)) ** 2
    r = _NEIGHBOURHOOD
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy or dx]
    ratios = []
    for k in range(period):
        for m in range(period):
            if k == m == 0:
                continue
            y, x = k * h // period, m * w // period
            around = [power[(y + dy) % h, (x + dx) % w] for dy, dx in offsets]
            ratios.append(power[y, x] / max(np.median(around), 1e-30))
    if not np.mean(ratios) > 0:  # no power at any harmonic: -inf dB is no score
        raise UndefinedScore(f"no power at any multiple of 1/{period} cycles per pixel")
    return float(10 * np.log10(np.mean(ratios)))
