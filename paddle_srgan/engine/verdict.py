"""The end of a training run for people: comparison.png, the perception-distortion plane and
the verdict (bicubic and the generator after each phase on the validation set, where the
weights are, what to run next); `score_line`, the one line of each validation.
"""
import os
import shlex

from .. import checkpoint as ckpt
from ..data.benchmarks import locate_benchmark
from ..data.io import write_image
from ..evaluation import figures
from ..metrics.table import DISTORTION, METRICS, PERCEPTION
from ..models import level_key


def _shell_path(path):
    """`path` relative to the working directory when it lies below it (shorter commands)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _shell_arg(path):
    """`_shell_path(path)` quoted for a POSIX shell: a printed command stays one argument per
    path when a folder name holds spaces or quotes."""
    return shlex.quote(_shell_path(path))


def training_verdict(cfg, run_dir, bicubic, phase_results, best, phase_names, figure, curves,
                     hr_reference=None, plane=None):
    """The end-of-run message: a table of bicubic and the generator after each phase on the
    validation set (PSNR and SSIM on Y, the gain over bicubic, RGB PSNR, NIQE and the grid
    score, with the HR images' own NIQE and grid score as the natural level), where the
    weights and figures are, and the eval / infer / export commands for those weights.

    bicubic, phase_results[name], hr_reference: evaluate() / evaluate_reference() means
    ({"psnr", "ssim", "psnr_rgb"?, "niqe"?, "grid", ...}); plane: the path of
    perception_distortion.png, if drawn.
    """
    val_dir = cfg["datasets"]["val"]["hr_dir"]
    found = locate_benchmark(os.path.join(cfg["data_root"], val_dir))
    title = f"{found[1] if found else val_dir} x{cfg['scale']}"
    def number(m):  # "-" where no image had the score (NIQE, grid of flat images)
        return lambda r: format(r[m.name], f".{m.decimals}f") if m.name in r else "-"
    columns = []  # (header, cell, no-reference)
    for m in METRICS:
        # a metric scored on every luma always has its column; a switched or RGB one only
        # when the validation scored it
        if m.brief and (m.name in bicubic or m.switch is None and m.channels == "luma"):
            columns.append((m.short, number(m), not m.reference))
        if m.name == DISTORTION:
            columns.append(("gain", lambda r: f"{r[DISTORTION] - bicubic[DISTORTION]:+.2f}",
                            False))
    results = [("bicubic", bicubic)] + [(f"after phase '{n}'", phase_results[n])
                                        for n in phase_names if n in phase_results]
    if hr_reference is not None:
        results.append(("HR images", hr_reference))
    header = [""] + [name for name, _, _ in columns]

    def shown(label, name, no_reference, res):  # the HR row has only no-reference scores
        return (DISTORTION in res or no_reference) and (label, name) != ("bicubic", "gain")
    rows = [[label] + [cell(res) if shown(label, name, no_ref, res) else ""
                       for name, cell, no_ref in columns]
            for label, res in results]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    table = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header] + rows]
    final = _shell_arg(ckpt.phase_weights_path(run_dir, phase_names[-1]))
    config = _shell_arg(os.path.join(run_dir, "config.yml"))
    eval_cmd = f"python tools/eval.py -c {config} --weights {final}"
    if found:
        eval_cmd += f" --data-root {_shell_arg(found[0])} --datasets {shlex.quote(found[1])}"
    best_line = (f"  {_shell_path(ckpt.best_weights_path(run_dir))}   best {best['metric']} "
                 f"(iteration {best['iteration']})" if best["value"] is not None else
                 "  no best.pdparams: no validation reached train.best_min_psnr_gain")
    lines = [f"\nResult on {title} (validation set; Y channel, {cfg['scale']}-pixel border; "
             f"PSNR in dB; NIQE: lower is more natural; grid: spectral peaks of pixel-shuffle "
             f"artifacts, dB):", *table, "",
             "Weights:",
             *[f"  {_shell_path(ckpt.phase_weights_path(run_dir, n))}   after phase '{n}'"
               for n in phase_names if n in phase_results],
             best_line]
    if figure:
        lines.append(f"Figure: {_shell_path(figure)}   (LR | bicubic | SR | HR; SR: "
                     f"{sr_weights(phase_names)})")
    if plane:
        lines.append(f"Perception-distortion plane: {_shell_path(plane)}")
    lines += [f"Curves: {_shell_path(curves)}",
              "Next:",
              f"  {eval_cmd}",
              f"  python tools/infer.py -c {config} --weights {final} --input your_photo.png "
              f"--output {_shell_arg(os.path.join(run_dir, 'sr'))}",
              f"  python tools/export.py -c {config} --weights {final} --out "
              f"{_shell_arg(os.path.join(run_dir, 'exported', cfg['experiment']))}"]
    return "\n".join(lines)


def sr_weights(phase_names):
    """Which weights the SR column of comparison.png shows, in words: the last phase's
    generator file (the end-of-run validation runs the weights it then writes)."""
    final = phase_names[-1]
    name = os.path.splitext(os.path.basename(ckpt.phase_weights_path("", final)))[0]
    return f"{name}, the final weights after phase '{final}'"


def score_line(result, bicubic, level_scales):
    """'PSNR 27.12 dB, SSIM 0.8001 (bicubic 26.0 / 0.78)'; per level ('x2 PSNR ...; x4 PSNR
    ...') for multi-level nets."""
    def line(prefix, key):
        return (f"{prefix}PSNR {result[key('psnr')]:.3f} dB, SSIM {result[key('ssim')]:.4f} "
                f"(bicubic {bicubic[key('psnr')]:.3f} / {bicubic[key('ssim')]:.4f})")
    if len(level_scales) == 1:
        return line("", lambda name: name)
    return "; ".join(line(f"x{s} ", lambda name, s=s: level_key(name, s)) for s in level_scales)


def end_of_run_report(cfg, run_dir, val, bicubic, hr_reference, phase_results, best,
                      phase_names, curves):
    """comparison.png (the last validation's crops, under a caption naming the weights of
    its SR column), perception_distortion.png (when the validation scored NIQE) and the
    verdict's text (`training_verdict`)."""
    figure = os.path.join(run_dir, "comparison.png")
    if val["samples"]:
        strips = figures.stack([strip for _, strip in val["samples"]])
        write_image(figure, figures.caption(
            strips, f"LR | bicubic | SR | HR.  SR: {sr_weights(phase_names)}"))
    else:
        figure = None
    plane = None
    if PERCEPTION in bicubic:
        methods = {"bicubic": bicubic, "HR": hr_reference,
                   **{f"after '{n}'": phase_results[n] for n in phase_names
                      if n in phase_results}}
        plane = figures.plot_perception_distortion(
            figures.perception_distortion_panels({"validation": methods}),
            os.path.join(run_dir, "perception_distortion.png"), title=cfg["experiment"])
    return training_verdict(cfg, run_dir, bicubic, phase_results, best, phase_names, figure,
                            curves, hr_reference, plane)
