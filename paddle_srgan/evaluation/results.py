"""Results files of an evaluation: results.json, per_image.csv, results.md, console table.

`results` everywhere here is {dataset: {method: evaluate() output}}, where method is
"bicubic", a model's name or "HR" (the HR images' own no-reference scores), and `meta` holds
the protocol and provenance tags.
"""
import csv
import io
import os

from ..metrics.table import METRICS
from ..storage import atomic_save_json, atomic_write_text, refuse_link

# (key, header, decimals): the metrics table's columns, in its order
COLUMNS = tuple((m.name, m.label, m.decimals) for m in METRICS)


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
