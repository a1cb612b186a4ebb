"""Results files of an evaluation: results.json, per_image.csv, results.md, console table.

`results` everywhere here is {dataset: {method: evaluate() output}}, where method is
"bicubic" or the model's name, and `meta` holds the protocol and provenance tags.
"""
import csv
import json
import os

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
