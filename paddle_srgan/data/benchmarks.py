"""The standard SR benchmark sets: where they live under a root folder (eval, prepare_data
check) and `BenchmarkSet`, their whole images for validation and evaluation.

Layout (the EDSR / BasicSR convention; `data/benchmarks/Set5` in this repo is an example):

    ROOT/Set5/HR/*.png                 ROOT/Set5/LR_bicubic/X4/*.png      (LR optional)
    ROOT/Set14/HR, ROOT/B100/HR (or BSD100, BSDS100), ROOT/Urban100/HR
    ROOT/DIV2K/DIV2K_valid_HR          ROOT/DIV2K/DIV2K_valid_LR_bicubic/X4
"""
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..metrics.scores import min_scored_side
from .colour import to_chw_float
from .degrade_spec import canonical, degraded_lr, parse_spec
from .folders import check_lr_size, list_config_images, match_lr_files, resolve_dir
from .io import check_channel, image_size, list_images, read_image, select_channel
from .transforms import mod_crop

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
    looked = " or ".join(str(root / r) for r in BENCHMARKS[name][1])
    holds = ", ".join(found) if found else "nothing" if root.is_dir() else "(missing)"
    raise FileNotFoundError(f"benchmark {name}: no images in {looked}; {root} holds: {holds}")


def open_benchmark_sets(root, names=None, scale=4, lr_from="matlab", channel=None, degrade=None):
    """{name: BenchmarkSet} of the benchmarks `names` under `root` (tools/eval.py).

    Args:
        root: folder holding Set5/, Set14/, ... (the layout of the module docstring).
        names: set names or aliases ('bsd100'), or folders of images (named after the folder,
            or its parent for a folder called HR); None: every set of BENCHMARKS present.
        scale: SR factor.
        lr_from: "matlab" (LR made by MATLAB-exact bicubic) or "folder" (the set's
            LR_bicubic/X<scale> files).
        channel: see io.select_channel.
        degrade: a degradation spec ('blur:1.2+noise:5+jpeg:50', data.degrade_spec) applied
            to the MATLAB-bicubic LR of every set; None: none.
    Raises:
        ValueError for an unknown name or a bad spec; FileNotFoundError for a missing set or
        LR folder, before any set is read (all are found first).
    """
    degrade = parse_spec(degrade)
    if degrade and lr_from != "matlab":
        raise InputError(f"--degrade {canonical(degrade)}: degrades the LR made from the HR "
                         f"images, so it needs --lr-from matlab (not {lr_from})")
    if not names:
        names = [n for n in BENCHMARKS if count_images(Path(root) / BENCHMARKS[n][1][0])]
        if not names:
            raise FileNotFoundError(f"no benchmark sets under {root} (expected "
                                    f"{', '.join(BENCHMARKS)}; see tools/prepare_data.py check)")
    found = {}
    for text in names:
        if text.lower() not in ALIASES and Path(text).is_dir():
            hr_dir = Path(text)  # a folder of the user's own images
            found[(hr_dir.parent if hr_dir.name == "HR" else hr_dir).name] = hr_dir
        else:
            found[canonical_name(text)] = find_benchmark(root, text)
    sets = {}
    for name, hr_dir in found.items():
        lr_dir = None
        if lr_from == "folder":
            lr_dir = lr_folder(hr_dir) / f"X{scale}"
            if not lr_dir.is_dir():
                raise FileNotFoundError(f"--lr-from folder: {lr_dir} does not exist")
        sets[name] = BenchmarkSet(hr_dir, scale, lr_dir=lr_dir, channel=channel, key=name,
                                  degrade=degrade)
    return sets


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


class BenchmarkSet:
    """Whole images of a benchmark (Set5, Set14, B100, Urban100, DIV2K valid) for validation.

    HR images are mod-cropped to multiples of ``scale``; the LR is MATLAB bicubic
    ``imresize(HR, 1/scale)`` (uint8/uint16-exact), or read from ``lr_dir``, matched by name.
    With ``degrade``, the made LR is degraded by that spec (data.degrade_spec.degraded_lr,
    seeded by the file name), the one place evaluation LR images are degraded.

    Args:
        hr_dir: folder of HR images (relative: under ``data_root``).
        scale: int.
        lr_dir: None, or a folder of LR images (e.g. Set5/LR_bicubic/X4).
        channel: see io.select_channel (HR and LR both).
        max_images: use the first N images (sorted by name); None: all.
        data_root: folder that relative dirs are under.
        key: config section named in errors.
        degrade: None, or a spec string / parsed spec (data.degrade_spec); not with lr_dir.

    Items (``ds[i]`` or iteration, in file-name order):
        {"name": file stem,
         "lr": float32 [C, h, w] in [0, 1] (network input),
         "hr_image": [h * scale, w * scale, C] uint8/uint16, the mod-cropped HR (metrics),
         "lr_image": [h, w, C] uint8/uint16, the LR as integers,
         "gray": True if the HR file is single-channel (its three channels are then equal;
                 the evaluator scores it on the gray values, as the literature does)}
    """

    def __init__(self, hr_dir, scale, lr_dir=None, channel=None, max_images=None,
                 data_root=None, key="datasets.val", degrade=None):
        self.scale = scale
        self.channel = check_channel(channel, f"{key}.channel")
        self._key = key
        self.degrade = parse_spec(degrade)
        if self.degrade and lr_dir is not None:
            raise InputError(f"'{key}': a degradation spec applies to the LR made from HR, "
                             f"not to LR files ({lr_dir})")
        self.hr_files = list_config_images(resolve_dir(hr_dir, data_root), f"{key}.hr_dir")
        self.hr_files = self.hr_files[:max_images]
        self._check_sizes()
        self.lr_files = None
        if lr_dir is not None:
            self.lr_files = match_lr_files(self.hr_files, resolve_dir(lr_dir, data_root), scale,
                                           f"{key}.lr_dir")

    def _check_sizes(self):
        """Every HR image, mod-cropped, must be scorable with the protocol's border (the
        scale): refused by its header before any work, naming the image and the minimum."""
        need = min_scored_side(self.scale)
        least = -(-need // self.scale) * self.scale  # the smallest side whose mod-crop fits
        for path in self.hr_files:
            h, w = image_size(path)
            if min(h - h % self.scale, w - w % self.scale) < need:
                raise InputError(
                    f"image {path} is {w}x{h}; scoring at x{self.scale} needs "
                    f"at least {least}x{least} pixels (a {self.scale}-pixel border on each "
                    f"side, then SSIM's 11x11 window)")

    def __len__(self):
        return len(self.hr_files)

    def _read(self, path):
        """(image after channel selection, whether the file is gray)."""
        img = read_image(path, keep_gray=True)
        gray = img.shape[2] == 1
        rgb = np.repeat(img, 3, axis=2) if gray else img  # the networks take RGB
        return select_channel(rgb, self.channel, f"{self._key}.channel"), gray

    def __getitem__(self, i):
        hr_path = self.hr_files[i]  # IndexError ends iteration
        hr, gray = self._read(hr_path)
        hr = np.ascontiguousarray(mod_crop(hr, self.scale))
        if self.lr_files is None:
            lr = degraded_lr(hr, self.scale, self.degrade, hr_path.stem, gray)
        else:
            lr, _ = self._read(self.lr_files[i])
            check_lr_size(hr_path, hr.shape[:2], self.lr_files[i], lr.shape[:2], self.scale)
        return {"name": hr_path.stem, "lr": to_chw_float(lr), "hr_image": hr, "lr_image": lr,
                "gray": gray}

    def __iter__(self):
        return (self[i] for i in range(len(self)))
