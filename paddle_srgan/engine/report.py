"""Results files of an evaluation: results.json, per_image.csv, results.md, console table.

`results` everywhere here is {dataset: {method: evaluate() output}}, where method is
"bicubic" or the model's name, and `meta` holds the protocol and provenance tags.
"""
import csv
import json
import os

from ..metrics import level_key

COLUMNS = (("psnr", "PSNR Y", 2), ("ssim", "SSIM Y", 4), ("psnr_rgb", "PSNR RGB", 2),
           ("ssim_rgb", "SSIM RGB", 4), ("lpips", "LPIPS", 4))


def table_rows(results):
    """[[dataset, method, n, metric...], ...] with the metrics present, plus the header."""
    present = [c for c in COLUMNS if any(c[0] in r for d in results.values() for r in d.values())]
    header = ["dataset", "method", "images"] + [c[1] for c in present]
    rows = []
    for dataset, methods in results.items():
        for method, res in methods.items():
            rows.append([dataset, method, str(len(res["per_image"]))]
                        + [f"{res[k]:.{nd}f}" if k in res else "-" for k, _, nd in present])
    return header, rows


def markdown_table(results):
    header, rows = table_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def console_table(results):
    header, rows = table_rows(results)
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*r) for r in rows])


def write_results(out_dir, results, meta):
    """results.json (means, per image, meta), per_image.csv and results.md in `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)
    keys = [c[0] for c in COLUMNS]
    with open(os.path.join(out_dir, "per_image.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "method", "image"] + keys)
        for dataset, methods in results.items():
            for method, res in methods.items():
                for row in res["per_image"]:
                    writer.writerow([dataset, method, row["name"]]
                                    + [f"{row[k]:.6f}" if k in row else "" for k in keys])
    protocol = ", ".join(f"{k}: {v}" for k, v in meta.items() if k != "datasets")
    with open(os.path.join(out_dir, "results.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(results) + f"\n\n{protocol}\n")


def _shell_path(path):
    """`path` relative to the working directory when it lies below it (shorter commands)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def training_verdict(cfg, run_dir, bicubic, phase_results, best, phase_names, figure, curves):
    """The end-of-run message: a table of bicubic and the generator after each phase on the
    validation set (PSNR and SSIM on Y, the gain over bicubic, RGB PSNR), where the weights,
    figure and curves are, and the eval / infer commands for those weights.

    bicubic, phase_results[name]: evaluate() means ({"psnr", "ssim", "psnr_rgb"?, ...}).
    """
    from ..data.benchmarks import locate_benchmark

    val_dir = cfg["datasets"]["val"]["hr_dir"]
    found = locate_benchmark(os.path.join(cfg["data_root"], val_dir))
    title = f"{found[1] if found else val_dir} x{cfg['scale']}"
    rgb = "psnr_rgb" in bicubic
    header = ["", "PSNR", "gain", "SSIM"] + (["PSNR RGB"] if rgb else [])
    rows = [["bicubic", f"{bicubic['psnr']:.2f}", "", f"{bicubic['ssim']:.4f}"]
            + ([f"{bicubic['psnr_rgb']:.2f}"] if rgb else [])]
    for name in phase_names:
        if name in phase_results:
            res = phase_results[name]
            rows.append([f"after phase '{name}'", f"{res['psnr']:.2f}",
                         f"{res['psnr'] - bicubic['psnr']:+.2f}", f"{res['ssim']:.4f}"]
                        + ([f"{res['psnr_rgb']:.2f}"] if rgb else []))
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    table = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header] + rows]
    ckpt_dir = _shell_path(os.path.join(run_dir, "checkpoints"))
    final = os.path.join(ckpt_dir, f"{phase_names[-1]}_G.pdparams")
    config = _shell_path(os.path.join(run_dir, "config.yml"))
    eval_cmd = f"python tools/eval.py -c {config} --weights {final}"
    if found:
        eval_cmd += f" --data-root {_shell_path(found[0])} --datasets {found[1]}"
    lines = [f"\nResult on {title} (validation set; Y channel, {cfg['scale']}-pixel border, "
             f"PSNR in dB):", *table, "",
             "Weights:",
             *[f"  {os.path.join(ckpt_dir, n + '_G.pdparams')}   after phase '{n}'"
               for n in phase_names if n in phase_results],
             f"  {os.path.join(ckpt_dir, 'best.pdparams')}   best {best['metric']} "
             f"(iteration {best['iteration']})"]
    if figure:
        lines.append(f"Figure: {_shell_path(figure)}   (LR | bicubic | SR | HR)")
    lines += [f"Curves: {_shell_path(curves)}",
              "Next:",
              f"  {eval_cmd}",
              f"  python tools/infer.py -c {config} --weights {final} --input your_photo.png "
              f"--output {_shell_path(os.path.join(run_dir, 'sr'))}"]
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
