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


def plot_curves(scalars_path, out_path, phases=(), title=None):
    """curves.png of a run. Top row: the loss terms of each phase in a panel of its own, each
    term divided by its first logged value in the phase, on a linear scale: terms of very
    different sizes (a pixel MSE of 0.002 beside an adversarial BCE of 0.7) share one axis,
    and a slow fall late in a phase stays visible (a log scale flattens it). The legend keeps
    each term's first value. Bottom row: validation PSNR against bicubic's and validation
    NIQE against bicubic's and the HR images', with every phase's start marked and named.
    Returns `out_path`.

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
    fig, axes = plt.subplots(2, columns, figsize=(5.5 * columns, 7.5), squeeze=False)
    for ax, (name, first, last) in zip(axes[0], phases):
        for i, tag in enumerate(losses):
            points = [(s, v) for s, v in zip(*scalars[tag]) if first <= s <= last]
            if not points or points[0][1] == 0:
                continue
            start = points[0][1]
            ax.plot([s for s, _ in points], [v / start for _, v in points], marker=".",
                    color=f"C{i}", linestyle="--" if tag.startswith("train/d_") else "-",
                    label=f"{tag.split('/', 1)[1]} (1 = {start:.3g})")
        ax.set_title(f"phase '{name}': losses" if name != "training" else "training losses")
        ax.set_xlabel("iteration")
        ax.set_ylabel("value / its first value in the phase")
        if ax.lines:
            ax.legend(fontsize=8)
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
        for name, first, _ in phases[1:]:
            ax.axvline(first - 1, color="grey", linewidth=0.8, linestyle=":")
            ax.annotate(f" {name} ->", (first - 1, 1), xycoords=("data", "axes fraction"),
                        va="top", fontsize=8, color="dimgrey")
        ax.set_title(titles[tag])
        ax.set_xlabel("iteration")
        if ax.lines:
            ax.legend(fontsize=8, loc="upper right" if metric(tag.split("/")[1]).lower_is_better
                      else "lower right")
    for ax in axes[1][len(val_tags):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path)
