"""Where the standard SR data sets come from: one table entry per set `tools/prepare_data.py
download NAME` fetches (archives, checksums, how their folders map to our layout, citation).

Folders are relative to the data root (`data/`): training sets under `DIV2K/`, evaluation sets
under `benchmarks/`, the layout `tools/prepare_data.py check --root data/benchmarks` and the
configs read (data/benchmarks.py). `{s}` in a folder stands for a scale (X2, X3, X4).

Checksums: DIV2K's sha256 sums and sizes are the ones TensorFlow Datasets publishes
(tensorflow_datasets/datasets/div2k/checksums.tsv). EDSR's benchmark.tar has no published
sum (sha256 None): the download is checked for its length, its archive structure and the
image count of every folder, and the tool prints the sha256 it computed, which the user pins
on later runs with `--sha256 benchmark.tar=HEX`.
"""
from collections import namedtuple

from ..errors import InputError
from .benchmarks import ALIASES

# file: its name on the server (and in <data root>/downloads/); sha256 and size: of the file,
# None when no source publishes them; folders: {folder in the archive: folder under the data
# root}, only these folders' files are unpacked; scale: an LR archive of that scale, fetched
# only when the scale is asked for (None: always fetched).
Archive = namedtuple("Archive", "file url sha256 size folders scale", defaults=(None,))

# images: how many the published set holds (HR and each LR scale); hr, lr: its folders under
# the data root (lr with {s}); archives: what to fetch; lr_scales: the scales whose MATLAB
# bicubic LR the archives hold (others are made with make-lr); cite, licence: one line each.
Source = namedtuple("Source", "name images hr lr archives lr_scales about cite licence")

EDSR_BENCHMARK_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
LR_SCALES = (2, 3, 4)  # both sources hold MATLAB-bicubic LR images at these scales


def _benchmark(name, images, about, cite):
    """A set of EDSR's benchmark.tar (Lim et al. 2017; ~250 MB, all four sets with their
    MATLAB-bicubic LR): benchmark/<name>/HR/<stem>.png, benchmark/<name>/LR_bicubic/X<s>/
    <stem>x<s>.png, our layout below benchmarks/ exactly."""
    hr, lr = f"benchmarks/{name}/HR", f"benchmarks/{name}/LR_bicubic/X{{s}}"
    archive = Archive("benchmark.tar", EDSR_BENCHMARK_URL, None, None,
                      {f"benchmark/{name}/HR": hr,
                       f"benchmark/{name}/LR_bicubic/X{{s}}": lr})
    return Source(name, images, hr, lr, (archive,), LR_SCALES, about, cite,
                  "research use; images of their authors (no licence published); mirrored "
                  "by EDSR (cv.snu.ac.kr/research/EDSR)")


# DIV2K (sha256, size) by file, from TensorFlow Datasets' checksums.tsv
_DIV2K_SUMS = {
    "DIV2K_train_HR.zip": ("9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
                           3530603713),
    "DIV2K_train_LR_bicubic_X2.zip": (
        "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850", 925390592),
    "DIV2K_train_LR_bicubic_X3.zip": (
        "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a", 427847282),
    "DIV2K_train_LR_bicubic_X4.zip": (
        "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a", 246914039),
    "DIV2K_valid_HR.zip": ("20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
                           448993893),
    "DIV2K_valid_LR_bicubic_X2.zip": (
        "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57", 117763600),
    "DIV2K_valid_LR_bicubic_X3.zip": (
        "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3", 54513392),
    "DIV2K_valid_LR_bicubic_X4.zip": (
        "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553", 31505881),
}


def _div2k(name, split, images, root, about):
    """DIV2K's official zips: DIV2K_<split>_HR.zip holds DIV2K_<split>_HR/0001.png,
    DIV2K_<split>_LR_bicubic_X<s>.zip holds DIV2K_<split>_LR_bicubic/X<s>/0001x<s>.png
    (MATLAB imresize, the challenge's own)."""
    hr, lr = f"{root}/DIV2K_{split}_HR", f"{root}/DIV2K_{split}_LR_bicubic/X{{s}}"
    archives = [Archive(f"DIV2K_{split}_HR.zip", DIV2K_URL + f"DIV2K_{split}_HR.zip",
                        *_DIV2K_SUMS[f"DIV2K_{split}_HR.zip"], {f"DIV2K_{split}_HR": hr})]
    for s in LR_SCALES:
        file = f"DIV2K_{split}_LR_bicubic_X{s}.zip"
        archives.append(Archive(file, DIV2K_URL + file, *_DIV2K_SUMS[file],
                                {f"DIV2K_{split}_LR_bicubic/X{s}": lr.format(s=s)}, s))
    return Source(name, images, hr, lr, tuple(archives), LR_SCALES, about,
                  "Agustsson and Timofte, NTIRE 2017 Challenge on Single Image "
                  "Super-Resolution: Dataset and Study, CVPR Workshops 2017",
                  "academic research only (the DIV2K page); images from the web, "
                  "their authors keep their rights")


SOURCES = {s.name: s for s in (
    _benchmark("Set5", 5, "5 images (baby, bird, butterfly, head, woman); also shipped in "
               "this repo", "Bevilacqua et al., Low-Complexity Single-Image Super-Resolution "
               "based on Nonnegative Neighbor Embedding, BMVC 2012"),
    _benchmark("Set14", 14, "14 images (baboon ... zebra)",
               "Zeyde et al., On Single Image Scale-Up Using Sparse-Representations, "
               "Curves and Surfaces 2010"),
    _benchmark("B100", 100, "the 100 test images of BSD300 (BSD100)",
               "Martin et al., A Database of Human Segmented Natural Images, ICCV 2001"),
    _benchmark("Urban100", 100, "100 photos of buildings (regular structures)",
               "Huang et al., Single Image Super-Resolution from Transformed "
               "Self-Exemplars, CVPR 2015"),
    _div2k("DIV2K", "valid", 100, "benchmarks/DIV2K",
           "DIV2K validation images 0801-0900 (the evaluation set of `check` and eval)"),
    _div2k("DIV2K_train", "train", 800, "DIV2K",
           "DIV2K training images 0001-0800 (the configs' datasets.train.hr_dir)"),
)}


def source_names():
    """The names `download` takes, in table order."""
    return list(SOURCES)


def find_source(text):
    """The Source of a name in any case ('set14', 'bsd100', 'div2k_train'); InputError
    naming the known names otherwise."""
    key = text.lower()
    for name in SOURCES:
        if name.lower() == key:
            return SOURCES[name]
    if ALIASES.get(key) in SOURCES:
        return SOURCES[ALIASES[key]]
    raise InputError(f"unknown data set {text!r} (choose from {', '.join(SOURCES)})")


def archives_for(source, scales):
    """[(Archive, {folder in the archive: folder under the data root})] to fetch for
    `scales`: `{s}` expanded to each scale; LR archives of other scales left out."""
    wanted = []
    for archive in source.archives:
        if archive.scale is not None and archive.scale not in scales:
            continue
        folders = {}
        for inside, dest in archive.folders.items():
            if "{s}" in inside:
                folders.update({inside.format(s=s): dest.format(s=s)
                                for s in scales if s in source.lr_scales})
            else:
                folders[inside] = dest
        wanted.append((archive, folders))
    return wanted
