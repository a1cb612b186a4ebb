"""Results files of an evaluation: results.json, per_image.csv, results.md, console table.

`results` everywhere here is {dataset: {method: evaluate() output}}, where method is
"bicubic", a model's name or "HR" (the HR images' own no-reference scores), and `meta` holds
the protocol and provenance tags.
"""
import csv
import io
import os
import shlex

from .. import checkpoint as ckpt
from ..models import level_key
from ..storage import atomic_save_json, atomic_write_text, refuse_link

# (key, header, decimals); NIQE (lower is more natural) and the grid score (dB of spectral
# peaks at the pixel-shuffle period) beside PSNR
COLUMNS = (("psnr", "PSNR Y", 2), ("ssim", "SSIM Y", 4), ("psnr_rgb", "PSNR RGB", 2),
           ("ssim_rgb", "SSIM RGB", 4), ("niqe", "NIQE", 2), ("grid", "grid dB", 1),
           ("lpips", "LPIPS", 4))


def table_rows(results, degrade=None):
    """[[dataset, method, n, metric...], ...] with the metrics present, plus the header.
    ``degrade``: the LR's degradation spec, shown with each set's name ('Set5 [jpeg:50]')."""
    present = [c for c in COLUMNS if any(c[0] in r for d in results.values() for r in d.values())]
    header = ["dataset", "method", "images"] + [c[1] for c in present]
    rows = []
    for dataset, methods in results.items():
        for method, res in methods.items():
            label = f"{dataset} [{degrade}]" if degrade else dataset
            rows.append([label, method, str(len(res["per_image"]))]
                        + [f"{res[k]:.{nd}f}" if k in res else "-" for k, _, nd in present])
    return header, rows


def markdown_table(results, degrade=None):
    header, rows = table_rows(results, degrade)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def console_table(results, degrade=None):
    header, rows = table_rows(results, degrade)
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*r) for r in rows])


RESULT_FILES = ("results.json", "per_image.csv", "results.md")


def check_result_files(out_dir):
    """LinkedFileError before an evaluation when a results file in `out_dir` is a symbolic
    link (write_results would refuse it only after every metric was computed)."""
    for name in RESULT_FILES:
        refuse_link(os.path.join(out_dir, name))


def write_results(out_dir, results, meta):
    """results.json (means, per image, meta; strict JSON: an infinite PSNR is null),
    per_image.csv and results.md in `out_dir`."""
    json_file, csv_file, md_file = (os.path.join(out_dir, name) for name in RESULT_FILES)
    atomic_save_json({"meta": meta, "results": results}, json_file, indent=2)
    keys = [c[0] for c in COLUMNS]
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["dataset", "method", "image"] + keys)
    for dataset, methods in results.items():
        for method, res in methods.items():
            for row in res["per_image"]:
                writer.writerow([dataset, method, row["name"]]
                                + [f"{row[k]:.6f}" if k in row else "" for k in keys])
    atomic_write_text(rows.getvalue(), csv_file)
    protocol = ", ".join(f"{k}: {v}" for k, v in meta.items() if k != "datasets")
    degrade = (meta.get("degrade") or {}).get("spec")
    atomic_write_text(markdown_table(results, degrade) + f"\n\n{protocol}\n",
                      md_file)


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
    from ..data.benchmarks import locate_benchmark

    val_dir = cfg["datasets"]["val"]["hr_dir"]
    found = locate_benchmark(os.path.join(cfg["data_root"], val_dir))
    title = f"{found[1] if found else val_dir} x{cfg['scale']}"
    def number(key, spec):  # "-" where no image had the score (NIQE, grid of flat images)
        return lambda r: format(r[key], spec) if key in r else "-"
    columns = [("PSNR", number("psnr", ".2f")),
               ("gain", lambda r: f"{r['psnr'] - bicubic['psnr']:+.2f}"),
               ("SSIM", number("ssim", ".4f"))]
    if "psnr_rgb" in bicubic:
        columns.append(("PSNR RGB", number("psnr_rgb", ".2f")))
    if "niqe" in bicubic:
        columns.append(("NIQE", number("niqe", ".2f")))
    columns.append(("grid dB", number("grid", ".1f")))
    results = [("bicubic", bicubic)] + [(f"after phase '{n}'", phase_results[n])
                                        for n in phase_names if n in phase_results]
    if hr_reference is not None:
        results.append(("HR images", hr_reference))
    header = [""] + [name for name, _ in columns]

    def shown(label, name, res):  # the HR row has only no-reference scores
        return ("psnr" in res or name in ("NIQE", "grid dB")) and (label, name) != \
            ("bicubic", "gain")
    rows = [[label] + [cell(res) if shown(label, name, res) else "" for name, cell in columns]
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
        lines.append(f"Figure: {_shell_path(figure)}   (LR | bicubic | SR | HR)")
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


def score_line(result, bicubic, level_scales):
    """'PSNR 27.12 dB, SSIM 0.8001 (bicubic 26.0 / 0.78)'; per level ('x2 PSNR ...; x4 PSNR
    ...') for multi-level nets."""
    def line(prefix, key):
        return (f"{prefix}PSNR {result[key('psnr')]:.3f} dB, SSIM {result[key('ssim')]:.4f} "
                f"(bicubic {bicubic[key('psnr')]:.3f} / {bicubic[key('ssim')]:.4f})")
    if len(level_scales) == 1:
        return line("", lambda name: name)
    return "; ".join(line(f"x{s} ", lambda name, s=s: level_key(name, s)) for s in level_scales)
