"""curves.png of a training run, drawn from its `scalars.jsonl` with matplotlib, so a
notebook without a VisualDL server still shows how training went: the loss terms per phase,
validation PSNR and NIQE (metrics.table's DISTORTION and PERCEPTION) against their bicubic
and HR levels.
"""
import json
from collections import defaultdict

from ..evaluation.figures import pyplot, save_figure
from ..metrics.table import DISTORTION, PERCEPTION, metric


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


# Loss points a phase gets at least, however short (a 100-iteration GAN phase logged every
# log_interval = 100 iterations gave one dot)
CURVE_POINTS = 25
MARKERS_UP_TO = 60  # points per line: dots mark them below this, a plain line above


def loss_point(iteration, first, last, log_interval):
    """Whether the loss means of the iterations since the last point are logged after global
    iteration `iteration` of a phase running from `first` to `last` (1-based, inclusive):
    at the phase's first iteration (the level its curves are divided by), every
    min(log_interval, phase length / CURVE_POINTS) iterations of the phase, and at its last.
    The console's log line keeps `log_interval`; the curves get CURVE_POINTS + 1 points or
    more per phase."""
    every = max(1, min(log_interval, (last - first + 1) // CURVE_POINTS))
    return iteration in (first, last) or (iteration - first + 1) % every == 0


def _phase_marks(ax, phases):
    """A dotted line where each phase after the first starts, named above the axes (outside
    the plot: no legend covers it, and centred on the line it stays inside the figure)."""
    for name, first, _ in phases[1:]:
        ax.axvline(first - 1, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(f"{name} ->", (first - 1, 1), xycoords=("data", "axes fraction"),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                    fontsize=8, color="dimgrey", annotation_clip=False)


def phase_curves(scalars, first, last):
    """{term tag: ([iterations], [value / its value at the first of them])} of the loss terms
    ('train/g_*', 'train/d_loss') logged in the phase running from iteration `first` to
    `last`; the first iteration is the phase's own (loss_point logs it; older runs' logs
    start at their first log_interval). A term whose first value is 0 is left out."""
    curves = {}
    for tag in sorted(scalars):
        if not (tag.startswith("train/") and tag.split("/", 1)[1].startswith(("g_", "d_loss"))):
            continue
        points = [(s, v) for s, v in zip(*scalars[tag]) if first <= s <= last]
        if points and points[0][1] != 0:
            curves[tag] = ([s for s, _ in points], [v / points[0][1] for _, v in points])
    return curves


def _loss_panel(ax, scalars, losses, name, first, last):
    """The loss terms of one phase (phase_curves), the legend naming each one's level."""
    curves = phase_curves(scalars, first, last)
    for i, tag in enumerate(losses):
        if tag not in curves:
            continue
        steps, values = curves[tag]
        start = scalars[tag][1][scalars[tag][0].index(steps[0])]
        ax.plot(steps, values, marker="." if len(steps) <= MARKERS_UP_TO else None,
                color=f"C{i}", linestyle="--" if tag.startswith("train/d_") else "-",
                label=f"{tag.split('/', 1)[1]} (1 = {start:.3g})")
    title = f"phase '{name}': losses" if name != "training" else "training losses"
    level = (f"iteration {min(steps[0] for steps, _ in curves.values())}" if curves
             else "the phase's first logged iteration")
    ax.set_title(f"{title}\n/ their value at {level}", fontsize=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel("value / its value at the phase's start")
    if ax.lines:
        ax.legend(fontsize=8, loc="best")


def plot_curves(scalars_path, out_path, phases=(), title=None):
    """curves.png of a run. Top row: the loss terms of each phase in a panel of its own, each
    term divided by its value at the phase's first iteration (loss_point), on a linear scale:
    terms of very different sizes (a pixel MSE of 0.002 beside an adversarial BCE of 0.7)
    share one axis, and a slow fall late in a phase stays visible (a log scale flattens it).
    The legend keeps each term's first value. Bottom row: validation PSNR against bicubic's
    and validation NIQE against bicubic's and the HR images', with every phase's start
    marked and named above the panel. Returns `out_path`.

    Args:
        phases: [(name, first iteration, last iteration)] of the run's phases; () draws one
            loss panel over every iteration.
    """
    plt = pyplot()
    scalars = read_scalars(scalars_path)
    losses = sorted(t for t in scalars if t.startswith("train/") and
                    t.split("/", 1)[1].startswith(("g_", "d_loss")))
    phases = list(phases) or [("training", 0, float("inf"))]
    dist, perc = metric(DISTORTION), metric(PERCEPTION)
    val_tags = [t for t in (f"val/{dist.name}", f"val/{perc.name}") if t in scalars] \
        or [f"val/{dist.name}"]
    columns = max(len(phases), len(val_tags))
    fig, axes = plt.subplots(2, columns, figsize=(5.5 * columns, 8), squeeze=False)
    for ax, (name, first, last) in zip(axes[0], phases):
        _loss_panel(ax, scalars, losses, name, first, last)
    for ax in axes[0][len(phases):]:
        ax.axis("off")
    references = {f"val/{dist.name}": ((f"val_bicubic/{dist.name}", "--", "bicubic"),),
                  f"val/{perc.name}": ((f"val_bicubic/{perc.name}", "--", "bicubic"),
                                       (f"val_hr/{perc.name}", ":", "HR images"))}
    titles = {f"val/{dist.name}": f"validation {dist.short} (dB)",
              f"val/{perc.name}": f"validation {perc.short} (lower is more natural)"}
    for ax, tag in zip(axes[1], val_tags):
        if tag in scalars:
            ax.plot(*scalars[tag], marker="o", color="C0", label=tag.split("/", 1)[1])
        for ref, style, label in references[tag]:
            if ref in scalars:
                level = scalars[ref][1][-1]
                ax.axhline(level, linestyle=style, color="grey", label=f"{label} ({level:.2f})")
        _phase_marks(ax, phases)
        ax.set_title(titles[tag], pad=14)  # room for the phase names above the panel
        ax.set_xlabel("iteration")
        if ax.lines:
            ax.legend(fontsize=8, loc="best")
    for ax in axes[1][len(val_tags):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path)
