"""Where the standard SR benchmark sets live under a root folder (eval, prepare_data check).

Layout (the EDSR / BasicSR convention; `data/benchmarks/Set5` in this repo is an example):

    ROOT/Set5/HR/*.png                 ROOT/Set5/LR_bicubic/X4/*.png      (LR optional)
    ROOT/Set14/HR, ROOT/B100/HR (or BSD100, BSDS100), ROOT/Urban100/HR
    ROOT/DIV2K/DIV2K_valid_HR          ROOT/DIV2K/DIV2K_valid_LR_bicubic/X4
"""
from pathlib import Path

from ..errors import InputError
from .io import list_images

# name: (images in the published set, HR folders accepted, relative to the root)
BENCHMARKS = {
    "Set5": (5, ["Set5/HR"]),
    "Set14": (14, ["Set14/HR"]),
    "B100": (100, ["B100/HR", "BSD100/HR", "BSDS100/HR"]),
    "Urban100": (100, ["Urban100/HR"]),
    "DIV2K": (100, ["DIV2K/DIV2K_valid_HR", "DIV2K_valid_HR"]),
}
ALIASES = {name.lower(): name for name in BENCHMARKS}
ALIASES.update({"bsd100": "B100", "bsds100": "B100", "div2k_valid": "DIV2K"})


def canonical_name(text):
    """'set5' -> 'Set5', 'BSD100' -> 'B100'; ValueError naming the known sets otherwise."""
    try:
        return ALIASES[text.lower()]
    except KeyError:
        raise InputError(f"unknown benchmark {text!r} "
                         f"(choose from {', '.join(BENCHMARKS)})") from None


def count_images(folder):
    """Number of images in `folder`, 0 if it is missing or has none."""
    try:
        return len(list_images(folder))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return 0


def lr_folder(hr_dir):
    """Where the LR versions of a benchmark HR folder live (Set5/HR -> Set5/LR_bicubic)."""
    hr_dir = Path(hr_dir)
    if hr_dir.name == "HR":
        return hr_dir.parent / "LR_bicubic"
    return hr_dir.parent / hr_dir.name.replace("_HR", "_LR_bicubic")


def find_benchmark(root, name):
    """The HR folder of benchmark `name` under `root`, or FileNotFoundError saying where it
    looked and what `root` holds."""
    name = canonical_name(name)
    root = Path(root)
    for rel in BENCHMARKS[name][1]:
        if count_images(root / rel):
            return root / rel
    found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    raise FileNotFoundError(
        f"benchmark {name}: no images in {' or '.join(str(root / r) for r in BENCHMARKS[name][1])}"
        f"; {root} holds: "
        f"{', '.join(found) if found else 'nothing' if root.is_dir() else '(missing)'}")


def locate_benchmark(hr_dir):
    """(root, name) when `hr_dir` is a standard benchmark's HR folder (ROOT/Set5/HR -> (ROOT,
    'Set5')), else None: what tools/eval.py needs as --data-root and --datasets."""
    hr_dir = Path(hr_dir)
    for name, (_, rels) in BENCHMARKS.items():
        for rel in rels:
            depth = len(Path(rel).parts)
            if hr_dir.parts[-depth:] == Path(rel).parts:
                return str(Path(*hr_dir.parts[:-depth]) if len(hr_dir.parts) > depth else "."), name
    return None
