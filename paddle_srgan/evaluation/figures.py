"""Pictures of an evaluation for people: labelled comparison strips and the
perception-distortion plane.

Comparison strips (`comparison`) serve VisualDL samples, `samples/` on disk, the end-of-run
figure and `tools/eval.py --figures` (`EvalImageWriter`): panels of the same scene side by
side (an LR panel is blown up by nearest neighbour so its real pixels show), each under a label
bar ("LR", "bicubic 28.43 dB", "SR 29.20 dB", "HR"). The plane puts metrics.table's DISTORTION
against its PERCEPTION metric. (A training run's curves: engine/curves.py.)
"""
import math
import os

import cv2
import numpy as np

from ..data.colour import to_uint8
from ..data.imresize import imresize
from ..data.io import write_image
from ..metrics.table import DISTORTION, PERCEPTION, metric
from ..storage import atomic_write

LABEL_HEIGHT = 18
GAP = 2  # white pixels between panels


def centre_box(shape, size, multiple=1):
    """(top, left, side) of a centred square of at most `size` pixels in an image of `shape`
    ([H, W, ...]), with all three a multiple of `multiple` (keeps LR/HR crops aligned)."""
    side = min(size, shape[0], shape[1]) // multiple * multiple
    return ((shape[0] - side) // 2 // multiple * multiple,
            (shape[1] - side) // 2 // multiple * multiple, side)


def _label_bar(text, width):
    """A dark [LABEL_HEIGHT, width, 3] uint8 bar with `text` in white, shrunk to fit."""
    bar = np.full((LABEL_HEIGHT, width, 3), 32, np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (text_w, _), _ = cv2.getTextSize(text, font, scale, 1)
    scale *= min(1.0, (width - 6) / max(text_w, 1))
    cv2.putText(bar, text, (3, LABEL_HEIGHT - 5), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def comparison(panels, box=None):
    """Labelled panels side by side.

    Args:
        panels: [(label, image)], images [H, W, C] uint8/uint16 (C 1 or 3) of one scene; a
            smaller one (the LR) is blown up by nearest neighbour to the largest height.
        box: (top, left, side) in the largest image's pixels to crop every panel to, or None.
    Returns:
        uint8 [LABEL_HEIGHT + side, n * side + (n - 1) * GAP, 3] RGB.
    """
    height = max(img.shape[0] for _, img in panels)
    columns = []
    for label, img in panels:
        img = to_uint8(img)
        if img.ndim == 2:
            img = img[:, :, None]
        factor = height // img.shape[0]
        if factor > 1:
            img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
        if box is not None:
            top, left, side = box
            img = img[top:top + side, left:left + side]
        img = np.broadcast_to(img, img.shape[:2] + (3,))
        columns.append(np.concatenate([_label_bar(label, img.shape[1]), img], axis=0))
        columns.append(np.full((columns[-1].shape[0], GAP, 3), 255, np.uint8))
    return np.concatenate(columns[:-1], axis=1)


def validation_figure(item, sr_image, row, bicubic_row, scale, crop):
    """LR | bicubic | SR | HR of one validation image, centre crops of `crop` HR pixels,
    bicubic and SR labelled with their PSNR.

    Args:
        item: a BenchmarkSet item ({"name", "lr_image", "hr_image", ...}).
        sr_image: the generator's output, integer [H, W, C] like item["hr_image"].
        row, bicubic_row: evaluate()'s per-image scores of the SR and of bicubic.
    """
    panels = [("LR", item["lr_image"]),
              (f"bicubic {bicubic_row['psnr']:.2f} dB", imresize(item["lr_image"], scale=scale)),
              (f"SR {row['psnr']:.2f} dB", sr_image), ("HR", item["hr_image"])]
    return comparison(panels, centre_box(item["hr_image"].shape, crop, scale))


def caption(image, text):
    """`image` ([H, W, 3] uint8) under label bars of its width carrying `text` (what a whole
    figure shows, e.g. which weights its SR column ran), wrapped at spaces into as many
    bars as a narrow figure needs to keep the label bars' type size."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    lines = []
    for word in text.split(" "):
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(joined, font, scale, 1)[0][0] <= image.shape[1] - 6:
            lines[-1] = joined
        else:
            lines.append(word)
    return np.concatenate([_label_bar(line, image.shape[1]) for line in lines] + [image], axis=0)


def stack(rows):
    """Strips of possibly different widths one under another (white padding, GAP apart)."""
    width = max(r.shape[1] for r in rows)
    padded = []
    for r in rows:
        padded.append(np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)),
                             constant_values=255))
    return np.concatenate(padded, axis=0)[:-GAP]


class EvalImageWriter:
    """The `on_image` of evaluator.evaluate_sets for tools/eval.py: writes the SR outputs
    (`save_images`: out_dir/images/<set>/<method>/<image>.png) and labelled comparisons
    (`figures`: out_dir/figures/<set>/<image>.png, centre crops LR | bicubic | SR | HR with
    PSNR, one SR panel per model; LR | bicubic | HR for the baseline alone).

    Args:
        methods: the methods evaluate_sets runs, in its order ("bicubic" first): a figure is
            written when the last one's image arrives.
    """

    def __init__(self, out_dir, scale, save_images=False, figures=False, methods=("bicubic",)):
        self.out_dir, self.scale = out_dir, scale
        self.save_images, self.figures, self.methods = save_images, figures, list(methods)
        self._panels = {}  # (set, image) -> [(label, image)], until the last method's comes

    def __call__(self, set_name, method, item, sr_image, row):
        stem = item["name"]
        if self.save_images:
            write_image(os.path.join(self.out_dir, "images", set_name, method, f"{stem}.png"),
                        sr_image)
        if not self.figures:
            return
        label = "SR" if method != "bicubic" and len(self.methods) == 2 else method
        panels = self._panels.setdefault((set_name, stem), [("LR", item["lr_image"])])
        panels.append((f"{label} {row['psnr']:.2f} dB", sr_image))
        if method != self.methods[-1]:
            return  # the figure waits for the last method's image
        del self._panels[set_name, stem]
        panels.append(("HR", item["hr_image"]))
        box = centre_box(item["hr_image"].shape, 160, self.scale)
        write_image(os.path.join(self.out_dir, "figures", set_name, f"{stem}.png"),
                    comparison(panels, box))


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on servers and in notebook kernels
    from matplotlib import pyplot as plt
    return plt


def save_figure(fig, out_path):
    """Write a matplotlib figure as PNG atomically (a kill leaves the old file or the new
    one; storage.atomic_write: never through a link)."""
    try:
        atomic_write(out_path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        pyplot().close(fig)
    return out_path


def plot_perception_distortion(panels, out_path, title=None):
    """The perception-distortion plane (Blau and Michaeli, CVPR 2018) with PSNR for distortion
    and NIQE for perception (metrics.table's DISTORTION and PERCEPTION): one point per
    method, the HR images' NIQE as the line natural images reach. Better is right (higher
    PSNR) and down (lower NIQE). Returns `out_path`.

    Args:
        panels: {panel title: {"points": [(label, psnr, niqe)], "hr_niqe": float or None}},
            e.g. one panel per benchmark set; points without a NIQE are left out, and so
            are points without a finite PSNR (an output equal to the HR, e.g. bicubic at
            scale 1 on clean data: no distortion to place).
    """
    x, y = metric(DISTORTION), metric(PERCEPTION)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (name, panel) in zip(axes[0], panels.items()):
        points = [p for p in panel["points"]
                  if p[2] is not None and p[1] is not None and math.isfinite(p[1])]
        for label, psnr, niqe in points:
            ax.scatter([psnr], [niqe], s=40, zorder=3)
            ax.annotate(f"{label}\n{psnr:.{x.decimals}f} dB, {y.short} {niqe:.{y.decimals}f}",
                        (psnr, niqe), fontsize=8,
                        xytext=(6, 4), textcoords="offset points")
        if panel.get("hr_niqe") is not None:
            ax.axhline(panel["hr_niqe"], color="green", linestyle="--",
                       label=f"HR images ({y.short} {panel['hr_niqe']:.{y.decimals}f})")
            ax.legend(fontsize=8, loc="upper left")
        if points:  # room for the labels on the right and above
            low, high = min(p[1] for p in points), max(p[1] for p in points)
            ax.set_xlim(low - 0.1 - 0.1 * (high - low), high + 0.2 + 0.6 * (high - low))
            levels = [p[2] for p in points] + [panel.get("hr_niqe") or points[0][2]]
            bottom, top = min(levels), max(levels)
            ax.set_ylim(bottom - 0.5, top + 0.15 * (top - bottom) + 0.6)
        ax.set_xlabel(f"{x.label} (dB)  (distortion: better ->)")
        ax.set_ylabel(f"{y.short}  (perception: lower is more natural)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path)


def perception_distortion_panels(results):
    """plot_perception_distortion's panels from evaluation.results-style results ({set: {method:
    means}}): every method with a PSNR is a point, the "HR" entry the reference line."""
    return {dataset: {"points": [(method, res[DISTORTION], res.get(PERCEPTION))
                                 for method, res in methods.items() if DISTORTION in res],
                      "hr_niqe": methods.get("HR", {}).get(PERCEPTION)}
            for dataset, methods in results.items()}
