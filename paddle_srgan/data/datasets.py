"""The datasets of a run's config: random training patches (TrainPatches + EpochBatchSampler
-> build_train_loader; its worker processes: workers.py) and the validation set
(build_val_set: a benchmarks.BenchmarkSet).

Training determinism. A training run is iteration-based and must resume bit-exactly, so a
patch is a pure function of (seed, global index k):

    epoch, i = divmod(k, len(dataset))        # len = n_images * patches_per_image
    image    = i % n_images
    rng      = np.random.default_rng([seed, epoch, i])  -> crop position, flips, rotation

and the index order is a pure function of (seed, iteration):

    epoch e's order = default_rng([seed, e]).permutation(len(dataset)) + e * len(dataset)
    iteration t     = global batch t of that sequence (batch_size * world_size indices,
                      incomplete epoch tail dropped); rank r takes slice r of it

so neither worker processes, call order, the global numpy RNG nor a restart changes a batch.

LR images. ``hr_only`` makes the LR of each (augmented) HR patch with MATLAB-exact bicubic
(data.imresize, integer rounding after each pass), the protocol of the SR literature;
``paired`` reads pre-made LR files (e.g. DIV2K's X4 folders, or tools/prepare_data.py make-lr);
``realworld`` degrades each HR patch by Real-ESRGAN's second-order model (data.realworld,
parameters in ``datasets.train.degradation``), drawing from the same per-patch generator after
the crop and flips, so a degraded patch is as reproducible as a clean one.
"""
import functools
import os
import sys
import warnings

import cv2
import numpy as np

from ..compat import import_paddle
from ..errors import InputError
from ..levels import level_key
from .benchmarks import BenchmarkSet
from .colour import to_chw_float
from .folders import check_lr_size, list_config_images, match_lr_files, resolve_dir
from .io import check_channel, image_size, read_image, select_channel
from .realworld import RealWorldDegradation
from .transforms import augment, downscale, mod_crop, paired_random_crop, random_crop
from .workers import worker_init

paddle = import_paddle()

__all__ = ["TrainPatches", "EpochBatchSampler", "build_train_set", "build_train_loader",
           "MainProcessLoader", "build_val_set"]


class TrainPatches(paddle.io.Dataset):
    """Random aligned (LR, HR) training patches; see the module docstring for determinism.

    Constructor arguments are the keys of the config's ``datasets.train`` section (less
    ``num_workers``) plus ``scale``, ``seed`` and ``data_root``; build_train_set does that.

    Args:
        hr_dir: folder of HR images (relative: under ``data_root``).
        scale: int, HR side / LR side.
        type: 'hr_only' (LR made from each HR patch by MATLAB bicubic), 'paired' (LR files in
            ``lr_dir``) or 'realworld' (LR made from each HR patch by ``degradation``).
        lr_dir: folder of LR images for 'paired', matched by name (folders.match_lr_files).
        hr_crop: HR patch side, a multiple of ``scale``.
        patches_per_image: patches of each image in one epoch.
        flip, rot90: random flips / 90-degree rotations (transforms.augment).
        channel_shuffle: a random permutation of the RGB channels of each patch, the same
            for HR and LR (drawn only when True, so other configs draw as before).
        cache: keep decoded images in a dict of this process (each DataLoader worker holds
            its own copy: DIV2K's 800 images take ~6.6 GB per worker).
        small_images: 'error' or 'skip' for images with a side < hr_crop.
        channel: see io.select_channel; applied right after reading.
        seed: int >= 0.
        data_root: folder that relative ``hr_dir``/``lr_dir`` are under (None: current dir).
        level_scales: scales the generator outputs, finest last (LapSRN x4: (2, 4));
            each coarser one gets its own target, the HR patch shrunk by MATLAB bicubic.
        degradation: dict of realworld.RealWorldDegradation's arguments (the config's
            ``datasets.train.degradation``); used by 'realworld' only.

    Items: ``ds[k]`` for any int k >= 0 (k >= len(ds) is a later epoch) ->
        {"lr": float32 [C, hr_crop/scale, hr_crop/scale] in [0, 1],
         "hr": float32 [C, hr_crop, hr_crop] in [0, 1],
         "hr_x<s>": float32 [C, hr_crop*s/scale, ...] in [0, 1] for each coarser s}
        (C = 3, or 1 with ``channel``).
    """

    def __init__(self, hr_dir, scale, type="hr_only", lr_dir=None, hr_crop=384,
                 patches_per_image=100, flip=True, rot90=True, cache=False,
                 small_images="error", channel=None, seed=0, data_root=None, level_scales=None,
                 degradation=None, channel_shuffle=False):
        super().__init__()
        # the values were checked when the config was loaded (data/settings.py: ALLOWED,
        # COMBINATIONS)
        key = "datasets.train"
        self.type, self.scale, self.hr_crop = type, scale, hr_crop
        self.patches_per_image, self.flip, self.rot90 = patches_per_image, flip, rot90
        self.channel_shuffle = channel_shuffle
        self.channel = check_channel(channel, f"{key}.channel")
        self.seed = seed
        self.level_scales = tuple(level_scales or (scale,))
        if self.level_scales[-1] != scale or any(scale % s for s in self.level_scales):
            raise ValueError(f"level_scales {self.level_scales} must divide the scale "
                             f"({scale}) and end with it")
        self._cache = {} if cache else None
        self.degrade = None
        if type == "realworld":
            self.degrade = RealWorldDegradation(**degradation, key=f"{key}.degradation")

        hr_files = list_config_images(resolve_dir(hr_dir, data_root), f"{key}.hr_dir")
        lr_files = None
        if type == "paired":
            lr_files = match_lr_files(hr_files, resolve_dir(lr_dir, data_root), scale,
                                      f"{key}.lr_dir")
        keep = self._fitting(hr_files, lr_files, small_images == "skip")
        self.hr_files = [hr_files[j] for j in keep]
        self.lr_files = None if lr_files is None else [lr_files[j] for j in keep]

    def _fitting(self, hr_files, lr_files, skip):
        """Indices of the images a crop fits in; too small ones are an error or skipped with
        one warning. Reads image headers only (DIV2K: well under a second)."""
        keep, small = [], []
        for j, hr in enumerate(hr_files):
            size = image_size(hr)
            if lr_files is not None:
                check_lr_size(hr, size, lr_files[j], image_size(lr_files[j]), self.scale)
            if min(size) < self.hr_crop:
                small.append(f"{hr.name} ({size[0]}x{size[1]})")
            else:
                keep.append(j)
        if small:
            what = (f"{len(small)} of {len(hr_files)} images in {hr_files[0].parent} are "
                    f"smaller than datasets.train.hr_crop={self.hr_crop}: "
                    + ", ".join(small[:10]) + (", ..." if len(small) > 10 else ""))
            if not skip:
                raise InputError(f"{what}. Set datasets.train.small_images: skip to leave them "
                                 f"out, or lower hr_crop.")
            warnings.warn(f"skipping {what}", stacklevel=3)
        if not keep:
            raise InputError(f"no image in {hr_files[0].parent} is large enough for "
                             f"datasets.train.hr_crop={self.hr_crop}")
        return keep

    def __len__(self):
        return len(self.hr_files) * self.patches_per_image

    def _image(self, path):
        """[H, W, C] uint8/uint16 of ``path`` after channel selection, from the cache if on."""
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        img = select_channel(read_image(path), self.channel, "datasets.train.channel")
        if self._cache is not None:
            self._cache[path] = img
        return img

    def __getitem__(self, k):
        k = int(k)
        if k < 0:
            raise IndexError(f"TrainPatches index must be >= 0, got {k}")
        epoch, i = divmod(k, len(self))
        rng = np.random.default_rng([self.seed, epoch, i])
        j = i % len(self.hr_files)
        hr = self._image(self.hr_files[j])
        if self.type == "paired":
            lr = self._image(self.lr_files[j])
            hr, lr = paired_random_crop(mod_crop(hr, self.scale), lr, self.hr_crop,
                                        self.scale, rng)
            hr, lr = augment([hr, lr], self.flip, self.rot90, rng)
            if self.channel_shuffle:
                order = rng.permutation(3)
                hr, lr = hr[:, :, order], lr[:, :, order]
        else:
            (hr,) = augment([random_crop(hr, self.hr_crop, rng)], self.flip, self.rot90, rng)
            if self.channel_shuffle:
                hr = hr[:, :, rng.permutation(3)]
            # Augmenting before resizing makes lr == imresize(hr) exactly for every patch.
            if self.degrade is None:
                lr = downscale(hr, self.scale)
            else:
                lr = self.degrade(hr, self.scale, rng)  # draws after the crop and flips
        item = {"lr": to_chw_float(lr), "hr": to_chw_float(hr)}
        for s in self.level_scales[:-1]:  # coarser supervision levels (LapSRN)
            item[level_key("hr", s)] = to_chw_float(downscale(hr, self.scale // s))
        return item


class EpochBatchSampler:
    """Endless batches of TrainPatches indices, resumable at any iteration.

    Iteration t is global batch t of the sequence described in the module docstring; rank r
    gets indices [r * batch_size, (r + 1) * batch_size) of it. Each epoch has
    num_samples // (batch_size * world_size) iterations (the tail is dropped, so every
    iteration has full batches on every rank).

    Args:
        num_samples: len(dataset), one epoch.
        batch_size: per rank.
        rank, world_size: this process's rank and the number of ranks.
        seed: int >= 0.
        start_iter: first iteration to yield (a resumed run passes the iterations done); the
            position is computed, not iterated to.

    Yields:
        list of int (batch_size global indices, >= 0, growing by num_samples per epoch).
    """

    def __init__(self, num_samples, batch_size, rank=0, world_size=1, seed=0, start_iter=0):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..world_size-1 (world_size {world_size})")
        if batch_size < 1 or start_iter < 0 or seed < 0:
            raise ValueError(f"batch_size must be >= 1, start_iter and seed >= 0; got "
                             f"{batch_size}, {start_iter}, {seed}")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.start_iter = seed, start_iter
        self.global_batch = batch_size * world_size
        self.iters_per_epoch = num_samples // self.global_batch
        if self.iters_per_epoch == 0:
            raise InputError(f"one epoch has {num_samples} patches, fewer than one global batch "
                             f"({batch_size} per rank x {world_size} ranks); raise "
                             f"datasets.train.patches_per_image or lower train.batch_size")

    def epoch_order(self, epoch):
        """int64 [num_samples]: the global indices of ``epoch`` in the order they are used."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        return order + epoch * self.num_samples

    def __iter__(self):
        epoch, j = divmod(self.start_iter, self.iters_per_epoch)
        lo = self.rank * self.batch_size
        while True:
            order = self.epoch_order(epoch)
            for start in range(j * self.global_batch,
                               self.iters_per_epoch * self.global_batch, self.global_batch):
                yield order[start + lo:start + lo + self.batch_size].tolist()
            epoch, j = epoch + 1, 0

    def __len__(self):
        # Endless: paddle.io.DataLoader asks for a length (len(loader)), and sys.maxsize is the
        # largest one len() accepts. Training stops by iteration count, not by exhaustion.
        return sys.maxsize


def build_train_set(cfg, level_scales=None):
    """TrainPatches from a resolved config (``datasets.train``, ``scale``, ``seed``,
    ``data_root``) and the generator's ``level_scales``."""
    section = {k: v for k, v in cfg["datasets"]["train"].items() if k != "num_workers"}
    return TrainPatches(scale=cfg["scale"], seed=cfg["seed"], data_root=cfg["data_root"],
                        level_scales=level_scales, **section)


def build_train_loader(cfg, start_iter=0, rank=0, world_size=1, level_scales=None,
                       dataset=None):
    """The endless training DataLoader of a config, positioned at iteration ``start_iter``.

    Args:
        cfg: resolved config (config.load_config).
        start_iter: iterations already done (0 for a new run; a resumed run's step count).
        rank, world_size: data-parallel position (batch size ``train.batch_size`` per rank).
        level_scales: the generator's output scales (see TrainPatches).
        dataset: the TrainPatches of ``cfg`` if already built (build_train_set), else built
            here with ``level_scales``.

    Returns:
        an iterable yielding {"lr": float32 Tensor [B, C, h, w] in [0, 1],
        "hr": float32 Tensor [B, C, H, W] in [0, 1]} forever, with the EpochBatchSampler as
        ``batch_sampler``: a paddle.io.DataLoader with ``num_workers`` worker processes, or a
        MainProcessLoader for 0.

    With worker processes, OpenCV is set to one thread in this process (and so in the
    workers, which inherit it): see the comment in the code.
    """
    dataset = dataset if dataset is not None else build_train_set(cfg, level_scales)
    sampler = EpochBatchSampler(len(dataset), cfg["train"]["batch_size"], rank=rank,
                                world_size=world_size, seed=cfg["seed"], start_iter=start_iter)
    num_workers = cfg["datasets"]["train"]["num_workers"]
    if num_workers == 0:
        return MainProcessLoader(dataset, sampler)
    # Workers share the cores with training, so each should use one OpenCV thread. It must
    # be set here, before the fork, not in a worker_init_fn: a forked worker inherits
    # OpenCV's thread pool without its threads, and cv2.setNumThreads there waits forever
    # for them once this process has run any parallel cv2 call.
    cv2.setNumThreads(1)
    # One endless iterator is made per run, so persistent_workers would change nothing.
    return paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                worker_init_fn=functools.partial(worker_init, os.getpid()))


class MainProcessLoader:
    """The batches of ``datasets.train.num_workers: 0``, read in the calling thread.

    Paddle's DataLoader reads in a background thread even without workers. When the data
    set raises there (a corrupt training image), that thread ends without closing the queue
    the training thread waits on inside C++, which then waits forever: a Python signal
    handler never runs there, so SIGTERM and Ctrl-C were ignored too. Read here, the error
    reaches the training loop, and a signal is handled between two images.

    Args:
        dataset: TrainPatches (or any map-style set of dicts of equally shaped arrays).
        batch_sampler: EpochBatchSampler, kept as ``batch_sampler`` as on a DataLoader.

    Yields (iter): {key: Tensor [B, ...]}, the items' arrays stacked, as the DataLoader's
    default collation gives them.
    """

    def __init__(self, dataset, batch_sampler):
        self.dataset, self.batch_sampler = dataset, batch_sampler

    def __iter__(self):
        for indices in self.batch_sampler:
            items = [self.dataset[i] for i in indices]
            yield {key: paddle.to_tensor(np.stack([item[key] for item in items]))
                   for key in items[0]}


def build_val_set(cfg):
    """BenchmarkSet from a resolved config (``datasets.val``, ``scale``, ``data_root``)."""
    return BenchmarkSet(scale=cfg["scale"], data_root=cfg["data_root"], **cfg["datasets"]["val"])
