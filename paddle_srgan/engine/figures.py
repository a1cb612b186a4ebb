"""Pictures of a run for people: labelled comparison strips and the training curves.

Comparison strips (`comparison`) serve VisualDL samples, `samples/` on disk, the end-of-run
figure and `tools/eval.py --figures` (`EvalImageWriter`): panels of the same scene side by
side (an LR panel is blown up by nearest neighbour so its real pixels show), each under a label
bar ("LR", "bicubic 28.43 dB", "SR 29.20 dB", "HR"). The curves (`plot_curves`) are drawn from
the run's `scalars.jsonl` with matplotlib, so a notebook without a VisualDL server still shows how
training went.
"""
import json
import os
from collections import defaultdict

import cv2
import numpy as np

from ..data.imresize import imresize
from ..data.io import write_image
from ..data.transforms import to_uint8

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
        item: a BenchmarkSet item ({"name", "lr_image", "hr", ...}).
        sr_image: the generator's output, integer [H, W, C] like item["hr"].
        row, bicubic_row: evaluate()'s per-image scores of the SR and of bicubic.
    """
    panels = [("LR", item["lr_image"]),
              (f"bicubic {bicubic_row['psnr']:.2f} dB", imresize(item["lr_image"], scale=scale)),
              (f"SR {row['psnr']:.2f} dB", sr_image), ("HR", item["hr"])]
    return comparison(panels, centre_box(item["hr"].shape, crop, scale))


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
    PSNR; LR | bicubic | HR when `with_model` is False, the baseline alone).
    """

    def __init__(self, out_dir, scale, save_images=False, figures=False, with_model=True):
        self.out_dir, self.scale = out_dir, scale
        self.save_images, self.figures, self.with_model = save_images, figures, with_model
        self._bicubic = {}  # (set, image) -> (bicubic image, its row), until the SR one comes

    def __call__(self, set_name, method, item, sr_image, row):
        stem = item["name"]
        if self.save_images:
            write_image(os.path.join(self.out_dir, "images", set_name, method, f"{stem}.png"),
                        sr_image)
        if not self.figures:
            return
        if method == "bicubic":
            self._bicubic[set_name, stem] = (sr_image, row)
            if self.with_model:
                return  # the figure waits for the model's image
        bicubic, bicubic_row = self._bicubic.pop((set_name, stem))
        panels = [("LR", item["lr_image"]), (f"bicubic {bicubic_row['psnr']:.2f} dB", bicubic)]
        if self.with_model:
            panels.append((f"SR {row['psnr']:.2f} dB", sr_image))
        panels.append(("HR", item["hr"]))
        box = centre_box(item["hr"].shape, 160, self.scale)
        write_image(os.path.join(self.out_dir, "figures", set_name, f"{stem}.png"),
                    comparison(panels, box))


def read_scalars(path):
    """{tag: ([steps], [values])} from a scalars.jsonl; a step logged twice (a run resumed
    from an earlier checkpoint repeats the steps after it) keeps its last value."""
    latest = defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            latest[rec["tag"]][rec["step"]] = rec["value"]
    return {tag: (sorted(steps), [steps[s] for s in sorted(steps)])
            for tag, steps in latest.items()}


def plot_curves(scalars_path, out_path, phase_ends=(), title=None):
    """curves.png of a run: every train/ loss term (log scale) and validation PSNR against
    bicubic's, over iterations, with the phase boundaries marked. Returns `out_path`."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on servers and in notebook kernels
    from matplotlib import pyplot as plt

    scalars = read_scalars(scalars_path)
    losses = sorted(t for t in scalars if t.startswith("train/") and
                    t.split("/", 1)[1].startswith(("g_", "d_loss")))
    psnr_tags = sorted(t for t in scalars if t.startswith("val/psnr"))
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    for tag in losses:
        steps, values = scalars[tag]
        positive = [(s, v) for s, v in zip(steps, values) if v > 0]
        if positive:
            ax_loss.plot(*zip(*positive), label=tag.split("/", 1)[1])
    ax_loss.set_yscale("log")
    ax_loss.set_title("training losses")
    for tag in psnr_tags:
        steps, values = scalars[tag]
        line, = ax_val.plot(steps, values, marker="o", label=tag.split("/", 1)[1])
        bicubic = scalars.get("val_bicubic/" + tag.split("/", 1)[1])
        if bicubic:
            ax_val.axhline(bicubic[1][-1], color=line.get_color(), linestyle="--",
                           label=f"bicubic ({bicubic[1][-1]:.2f})")
    ax_val.set_title("validation PSNR (dB)")
    for ax in (ax_loss, ax_val):
        for end in phase_ends:
            ax.axvline(end, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("iteration")
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = out_path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_path)
    return out_path
