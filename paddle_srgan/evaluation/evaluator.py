"""Run a generator over benchmark images -> per-image and mean scores, literature protocol.

Protocol (as in the SR papers): SR output quantised to the HR's integer type, then the
full-reference metrics (PSNR, SSIM, MS-SSIM, ...) on the BT.601 Y channel (RGB images) or the
single channel, with `scale` pixels cropped from each border; a gray HR file is scored on its
own values against the SR output's luma on the same scale (data.colour.rgb_to_gray), as the
MATLAB scripts apply rgb2ycbcr only to 3-channel images; LR inputs made by MATLAB-exact bicubic
(or read from paired folders). The bicubic baseline upsamples the same LR with the same
MATLAB-exact resize, so the two rows differ only by the network.

Which metrics, how and in what direction: metrics.table. The no-reference ones (NIQE, the
periodic-artifact score `grid`) score every SR image on the same luma with the same border;
`evaluate_reference` scores the HR images themselves the same way, the level a natural image
reaches. `switches` ({metric name: value}, metrics.table.scored) say which switched metrics
are on (an LPIPS value is its loaded network).

`evaluate` scores one set; `evaluate_sets` runs bicubic, generators and the HR reference over
several sets (tools/eval.py), `evaluation_meta` tags the results with the protocol and
provenance (evaluation.results writes both to files).
"""
import contextlib
import functools

import numpy as np

from .. import models
from ..compat import import_paddle
from ..data.colour import on_8bit_scale, output_image, rgb_to_gray, to_image
from ..data.degrade_spec import spec_protocol
from ..data.imresize import imresize
from ..data.transforms import downscale
from ..errors import InputError
from ..metrics import scores, table
from ..models import output_levels
from ..storage import file_md5

paddle = import_paddle()


@paddle.no_grad()
def super_resolve(generator, lr):
    """generator in eval mode on one LR image.

    Args:
        lr: float32 [C, h, w] array in [0, 1].
    Returns:
        float32 tensor [1, C_out, h*s, w*s] in the generator's output range.
    """
    return generator(paddle.to_tensor(lr[None]))


def score(sr_image, hr_image, scale, rgb=False, gray=False, switches=None):
    """The full-reference metrics (metrics.table) of two integer [H, W, C] images of the same
    depth, literature protocol.

    Returns {"psnr", "ssim", ...} on Y (RGB images) or the single channel, plus the RGB
    metrics ("psnr_rgb", "ssim_rgb", an LPIPS that is on) when `rgb` and the images are RGB.
    16-bit images are scored on the 8-bit scale (values / 257) so numbers compare with 8-bit
    results. `gray`: the HR file was gray (its three channels equal): the luma metrics then
    compare its values with rgb_to_gray of the SR output instead of Y with Y. `switches`:
    which switched metrics are on (default: tools/eval.py's, table.eval_switches()); an
    image a metric cannot score (its `fits`) has no value of it.
    """
    switches = table.eval_switches() if switches is None else switches
    sr8, hr8 = on_8bit_scale(sr_image), on_8bit_scale(hr_image)
    y = hr_image.shape[-1] == 3
    sr_l, hr_l = sr8, hr8
    if y and gray:  # 2-D images: the metrics take them as luma already
        sr_l, hr_l = rgb_to_gray(sr8), hr8[..., 0]
    out = {}
    for m in table.scored(switches, channels=("luma", "rgb") if rgb and y else ("luma",)):
        pair = (sr_l, hr_l) if m.channels == "luma" else (sr8, hr8)
        if m.fit(pair[1].shape, scale):
            out[m.name] = m(*pair, crop_border=scale, y_channel=y and m.channels == "luma",
                            net=switches.get(m.name))
    return out


def no_reference_scores(image, scale, gray=False, switches=None):
    """The no-reference metrics ({"niqe", "grid"}) of one integer [H, W, C] image on the
    8-bit scale, border = scale.

    `gray`: the source file was gray (score the gray scale, as `score` does). An image a
    metric cannot score gets no value of it (NIQE: fewer than two 96x96 blocks after the
    crop), and a flat one neither "niqe" nor "grid" (scores.UndefinedScore): means skip it.
    """
    switches = table.eval_switches() if switches is None else switches
    img8 = on_8bit_scale(image)
    gray = gray and image.shape[-1] == 3
    out = {}
    for m in table.scored(switches, reference=False):
        if m.fit(image.shape, scale):
            try:
                out[m.name] = m(img8, crop_border=scale, gray=gray, period=scale)
            except scores.UndefinedScore:
                pass
    return out


def _summary(rows):
    """{"per_image": rows, score: mean, ...}: each score averaged over the rows that have it
    (NIQE skips images too small for it); InputError for a set without images."""
    if not rows:
        raise InputError("the evaluation set has no images")
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "name"]
    return {"per_image": rows, **{k: float(np.mean([r[k] for r in rows if k in r]))
                                  for k in keys}}


def evaluate(dataset, scale, generator=None, on_image=None, rgb=False, level_scales=None,
             switches=None):
    """Score `generator` (or, if None, bicubic upsampling) on every item of `dataset`.

    Args:
        dataset: iterable of {"name", "lr": float32 [C,h,w] in [0,1], "hr_image": int [H,W,C],
            "lr_image": int [h,w,C], optional "gray": bool} (data.benchmarks.BenchmarkSet).
        scale: the SR factor (also the border crop).
        generator: an nn.Layer mapping [N,C,h,w] [0,1] -> [N,C,sh,sw] in its
            `output_range`, or to a list of levels (LapSRN); put it in eval mode first.
        on_image: optional callback(item, sr_image, row) for saving images / figures:
            sr_image is the picture tools/infer.py returns for the item's LR (a gray file's
            as gray [H, W, 1], data.colour.output_image; the scores compare its RGB
            output's luma), row the image's scores ({"name", "psnr", "ssim", ...}).
        rgb: also score the RGB metrics (see `score`).
        level_scales: scales of the levels to score, e.g. (2, 4); default: the generator's
            `level_scales`, else (scale,). Level x<s> is scored against the HR shrunk to it
            by MATLAB bicubic (border crop s), as keys psnr_x<s>, ssim_x<s>; the bicubic
            baseline upsamples the LR to each level.
        switches: which switched metrics are on (see `score`); the others always are.
    Returns:
        {"per_image": [{"name", "psnr", "ssim", "niqe", "grid", ...}, ...], "psnr": mean,
        ...} (every metric of `score` and `no_reference_scores` for the final level, plus
        per-level keys, averaged over the images that have them).
    """
    switches = table.eval_switches() if switches is None else switches
    level_scales = tuple(level_scales or models.level_scales(generator, scale))
    rows = []
    for item in dataset:
        hr = item["hr_image"]
        if generator is None:
            images = [imresize(item["lr_image"], scale=s) for s in level_scales]
        else:
            levels = output_levels(super_resolve(generator, item["lr"]))
            images = [to_image(o, generator.output_range, hr.dtype.type) for o in levels]
        sr_image = images[-1]
        if sr_image.shape != hr.shape:
            raise InputError(f"{item['name']}: SR image is {sr_image.shape}, HR is {hr.shape}; "
                             f"is the LR folder made for x{scale}?")
        gray = bool(item.get("gray", False))
        row = {"name": item["name"], **score(sr_image, hr, scale, rgb, gray, switches),
               **no_reference_scores(sr_image, scale, gray, switches)}
        if len(level_scales) > 1:
            for s, img in zip(level_scales, images):
                target = hr if s == scale else downscale(hr, scale // s)
                row.update({models.level_key(k, s): v
                            for k, v in score(img, target, s, gray=gray,
                                              switches=switches).items()})
        rows.append(row)
        if on_image is not None:
            if gray and generator is not None:  # shown as tools/infer.py returns it: gray
                sr_image = output_image(levels[-1].numpy()[0], generator.output_range,
                                        hr.dtype.type, gray)
            on_image(item, sr_image, row)
    return _summary(rows)


def evaluate_reference(dataset, scale, switches=None):
    """The no-reference scores of the HR images themselves (`no_reference_scores`): the NIQE
    and artifact level of natural images, the reference line of every table and figure.

    Returns {"per_image": [{"name", "niqe", "grid"}, ...], "niqe": mean, "grid": mean}."""
    rows = [{"name": item["name"],
             **no_reference_scores(item["hr_image"], scale, bool(item.get("gray", False)),
                                   switches)}
            for item in dataset]
    return _summary(rows)


def evaluate_sets(sets, scale, generators=None, switches=None, on_image=None, progress=None):
    """Bicubic, each generator and the HR reference on each benchmark set, RGB columns too.

    Args:
        sets: {set name: BenchmarkSet} (data.benchmarks.open_benchmark_sets).
        scale: the SR factor.
        generators: {method name: nn.Layer in eval mode}, possibly empty (the bicubic
            baseline alone); multi-level generators (LapSRN) are scored at each of their
            `level_scales` (all must have the same), and so is the baseline.
        switches: which switched metrics are on (see `score`), e.g. {"lpips": net}.
        on_image: optional callback(set name, method, item, sr_image, row), the baseline's
            images of a set before the generators' (e.g. figures.EvalImageWriter).
        progress: optional wrapper of each set's items, called as progress(items, desc=...,
            total=...) (e.g. functools.partial(tqdm, leave=False)).
    Returns:
        {set name: {"bicubic": evaluate(...), method: evaluate(...), ...,
        "HR": evaluate_reference(...)}}: evaluation.results' results.
    """
    methods = [("bicubic", None)] + list((generators or {}).items())
    level_scales = models.level_scales(methods[-1][1], scale)
    results = {}
    for name, dataset in sets.items():
        results[name] = {}
        for label, net in methods:
            items = dataset
            if progress is not None:
                items = progress(dataset, desc=f"{name} {label}", total=len(dataset))
            callback = None if on_image is None else functools.partial(on_image, name, label)
            # a bar is closed before an error leaves, so the error's line starts a line
            with items if progress is not None else contextlib.nullcontext():
                results[name][label] = evaluate(items, scale, net, callback, rgb=True,
                                                level_scales=level_scales, switches=switches)
        results[name]["HR"] = evaluate_reference(dataset, scale, switches)
    return results


def evaluation_meta(scale, channel, lr_from, datasets, weights=None, use_ema=False,
                    switches=None, metric_weights=None, degrade=None):
    """The protocol and provenance tags stored with evaluation results.

    Args:
        scale: SR factor (also the border crop); channel: the evaluated channel (None: RGB,
            scored on Y); lr_from: "matlab" (LR made by MATLAB-exact bicubic) or "folder".
        datasets: the set names evaluated.
        weights: {method: weights file} of the evaluated generators (their md5 is
            recorded); None or {} for bicubic alone.
        use_ema: whether the EMA generator of a checkpoint was evaluated.
        switches: which switched metrics were on (see `score`); a switched metric that was
            off is tagged None (one that needs weights is left out).
        metric_weights: {metric name: weights file} of the metrics that loaded weights
            (recorded as "<name>_weights").
        degrade: the degradation spec of the LR inputs (data.degrade_spec), or None.
    """
    switches = table.eval_switches() if switches is None else switches
    weights = dict(weights or {})
    meta = {**scores.protocol(scale, y_channel=channel is None,
                               lr_from="matlab-bicubic" if lr_from == "matlab"
                               else "LR_bicubic folder"),
            "degrade": spec_protocol(degrade),
            "scale": scale, "channel": channel, "weights": weights,
            "weights_md5": {m: file_md5(w) for m, w in weights.items()}, "use_ema": use_ema,
            "datasets": list(datasets)}
    for m in table.METRICS:
        if m.name in meta or (m.protocol is None and m.describe is None):
            continue  # scores.protocol's, or a metric without tags
        if m.switch is None or switches.get(m.name):
            meta.update(m.tags(scale, switches.get(m.name)))
        elif m.loader is None:
            meta[m.name] = None
    meta.update({f"{name}_weights": path for name, path in (metric_weights or {}).items()})
    return meta


def mean_scores(result):
    """The mean scores of an evaluate() result (per-image rows and sample crops left out):
    what is logged as scalars."""
    return {k: v for k, v in result.items() if k not in ("per_image", "samples")}
