"""data/datasets.py and data/workers.py: training patches (hr_only / paired), the batch
sampler's resume contract, the DataLoader with 0 and 2 workers."""


import itertools
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from paddle_srgan.config import ConfigError, load_config
from paddle_srgan.data.datasets import (
    EpochBatchSampler,
    TrainPatches,
    build_train_loader,
)
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.io import (
    ImageReadError,
    read_image,
    write_image,
)
from paddle_srgan.data.transforms import (
    downscale,
    mod_crop,
)

from conftest import (
    ROOT,
    child_env,
    natural,
    nearest_pair,
    to_uint8,
    y_by_hand,
)

# --------------------------------------------------------------------------- TrainPatches


@pytest.fixture(scope="module")
def train_dirs(tmp_path_factory):
    """A tiny DIV2K-like layout: HR/000{1,2,3}.png (real photo crops; 0003's sides are not
    multiples of 4) and LR/X4 with DIV2K names for two images and a plain name for one."""
    root = tmp_path_factory.mktemp("train")
    images = {"0001": natural("astronaut", 96, 112, 50, 200),
              "0002": natural("chelsea", 100, 128, 100, 150),
              "0003": natural("coffee", 83, 99, 150, 250)}
    for stem, img in images.items():
        write_image(root / "HR" / f"{stem}.png", img)
        lr_name = f"{stem}.png" if stem == "0002" else f"{stem}x4.png"
        write_image(root / "LR" / "X4" / lr_name, downscale(mod_crop(img, 4), 4))
    return root


def patches(root, **kwargs):
    options = dict(hr_dir="HR", scale=4, hr_crop=32, patches_per_image=5, seed=7,
                   data_root=str(root))
    options.update(kwargs)
    return TrainPatches(**options)


def test_train_patches_length_and_item_format(train_dirs):
    ds = patches(train_dirs)
    assert len(ds) == 15
    item = ds[0]
    assert set(item) == {"lr", "hr"}
    assert item["hr"].shape == (3, 32, 32) and item["lr"].shape == (3, 8, 8)
    for x in item.values():
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1


def test_train_patches_depend_only_on_seed_and_index(train_dirs):
    ds1, ds2 = patches(train_dirs), patches(train_dirs)
    ks = [0, 1, 14, 15, 16, 1000003]
    first = {k: ds1[k] for k in ks}
    np.random.seed(123)  # the global RNG must not matter
    for k in reversed(ks):  # nor the call order, nor the instance
        for key in ("lr", "hr"):
            np.testing.assert_array_equal(ds2[k][key], first[k][key])
    # Every index is a different patch: same image, next epoch (0 vs 15) included.
    hrs = [first[k]["hr"].tobytes() for k in ks]
    assert len(set(hrs)) == len(ks)
    assert not np.array_equal(patches(train_dirs, seed=8)[0]["hr"], first[0]["hr"])


def test_hr_only_lr_is_matlab_imresize_of_the_returned_hr(train_dirs):
    ds = patches(train_dirs)
    for k in range(0, 30, 4):
        item = ds[k]
        hr = to_uint8(item["hr"])
        np.testing.assert_array_equal(to_uint8(item["lr"]), imresize(hr, 0.25))


def test_channel_shuffle_permutes_each_patch_and_keeps_the_pairs(tmp_path, train_dirs):
    """datasets.train.channel_shuffle: each patch is the unshuffled one (same crop and flips)
    with its R, G, B in a random order, HR and LR alike, and every order occurs; off, the draws
    are those of a config without the key. The config refuses it for one-channel data."""
    plain, shuffled = patches(train_dirs), patches(train_dirs, channel_shuffle=True)
    orders = set()
    for k in range(30):
        hr, hr_shuffled = to_uint8(plain[k]["hr"]), to_uint8(shuffled[k]["hr"])
        # the photos' channels differ, so the order is the one matching permutation
        (order,) = [o for o in itertools.permutations(range(3))
                    if np.array_equal(hr[:, :, list(o)], hr_shuffled)]
        orders.add(order)
        np.testing.assert_array_equal(to_uint8(shuffled[k]["lr"]), imresize(hr_shuffled, 0.25))
    assert len(orders) == 6
    paired = patches(train_dirs, type="paired", lr_dir="LR/X4", channel_shuffle=True)
    plain_paired = patches(train_dirs, type="paired", lr_dir="LR/X4")
    item, reference = paired[2], plain_paired[2]
    (order,) = [o for o in itertools.permutations(range(3))
                if np.array_equal(reference["hr"][list(o)], item["hr"])]
    np.testing.assert_array_equal(item["lr"], reference["lr"][list(order)])
    with pytest.raises(ConfigError, match="'datasets.train.channel_shuffle' needs RGB patches, "
                                          "but 'datasets.train.channel' is 'R'"):
        load_config(str(ROOT / "configs" / "demo.yml"), ["datasets.train.channel_shuffle=true",
                                                        "datasets.train.channel=R"])


def test_paired_matches_div2k_names_and_aligns(tmp_path, train_dirs):
    # Nearest-neighbour pairs make alignment checkable pixel by pixel.
    for stem, name in (("0001", "0001x4.png"), ("0002", "0002.png")):
        hr, lr = nearest_pair(natural("astronaut", 12, 14, int(stem) * 40), 4)
        write_image(tmp_path / "HR" / f"{stem}.png", hr)
        write_image(tmp_path / "LR" / name, lr)
    ds = patches(tmp_path, type="paired", lr_dir="LR", patches_per_image=10)
    assert [p.name for p in ds.lr_files] == ["0001x4.png", "0002.png"]
    for k in range(20):
        item = ds[k]
        np.testing.assert_array_equal(to_uint8(item["hr"]),
                                      nearest_pair(to_uint8(item["lr"]), 4)[0])


def test_paired_with_matlab_lr_of_mod_cropped_hr(train_dirs):
    # 0003 is 83x99: its LR (20x24) belongs to the mod-cropped HR (80x96).
    ds = patches(train_dirs, type="paired", lr_dir="LR/X4")
    item = ds[2]
    diff = np.abs(imresize(to_uint8(item["hr"]), 0.25).astype(int) - to_uint8(item["lr"]))
    assert diff[2:-2, 2:-2].max() <= 1


def test_paired_missing_partner_names_the_file(tmp_path):
    write_image(tmp_path / "HR" / "0001.png", natural("coffee", 32, 32))
    write_image(tmp_path / "HR" / "0002.png", natural("coffee", 32, 32))
    write_image(tmp_path / "LR" / "0001x4.png", natural("coffee", 8, 8))
    with pytest.raises(FileNotFoundError, match=r"0002\.png.*0002x4"):
        patches(tmp_path, type="paired", lr_dir="LR")


def test_paired_wrong_lr_size_names_both_files(tmp_path):
    write_image(tmp_path / "HR" / "0001.png", natural("coffee", 64, 64))
    write_image(tmp_path / "LR" / "0001x4.png", natural("coffee", 32, 32))
    with pytest.raises(ValueError, match=r"0001x4\.png is 32x32.*0001\.png.*16x16"):
        patches(tmp_path, type="paired", lr_dir="LR")


def test_corrupt_training_image_is_named_when_the_set_is_built(tmp_path):
    write_image(tmp_path / "HR" / "0001.png", natural("coffee", 40, 40))
    (tmp_path / "HR" / "0002.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(ImageReadError, match="0002.png"):
        patches(tmp_path)


def test_small_images_error_or_skip(train_dirs):
    with pytest.raises(ValueError, match=r"0003\.png \(83x99\).*small_images"):
        patches(train_dirs, hr_crop=88)
    with pytest.warns(UserWarning, match=r"skipping 1 of 3 .*0003\.png") as record:
        ds = patches(train_dirs, hr_crop=88, small_images="skip")
    assert len(record) == 1
    assert [p.name for p in ds.hr_files] == ["0001.png", "0002.png"] and len(ds) == 10
    assert ds[0]["hr"].shape == (3, 88, 88)


def test_train_patches_config_errors(train_dirs):
    """What only the data can tell (values alone: tests/test_config.py)."""
    with pytest.raises(ValueError, match=r"datasets\.train\.channel"):
        patches(train_dirs, channel="U")
    with pytest.raises(FileNotFoundError, match=r"datasets\.train\.hr_dir.*nope.*HR/"):
        patches(train_dirs, hr_dir="nope")


def test_channel_and_cache(tmp_path, train_dirs):
    ds = patches(train_dirs, channel="Y")
    item = ds[3]
    assert item["hr"].shape == (1, 32, 32) and item["lr"].shape == (1, 8, 8)
    # the patch is a window of the source's MATLAB Y (by hand, rounded), up to a flip/rot90
    rgb = read_image(train_dirs / "HR" / sorted(os.listdir(train_dirs / "HR"))[3 // 5])
    rgb = rgb.astype(np.float64)
    y = np.floor(y_by_hand(rgb) + 0.5).astype(np.float32)
    patch = np.round(item["hr"][0] * 255).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(y, patch.shape)
    variants = [np.rot90(p, k) for p in (patch, patch[:, ::-1]) for k in range(4)]
    assert any((windows == v).all(axis=(2, 3)).any() for v in variants)
    # The cache serves images whose file is gone.
    for name in ("0001.png", "0002.png", "0003.png"):
        write_image(tmp_path / "HR" / name, read_image(train_dirs / "HR" / name))
    cached = patches(tmp_path, cache=True)
    first = [cached[k]["hr"] for k in range(3)]
    for name in ("0001.png", "0002.png", "0003.png"):
        (tmp_path / "HR" / name).unlink()
    for k in range(3):
        np.testing.assert_array_equal(cached[k]["hr"], first[k])
    with pytest.raises(ImageReadError, match="0001.png"):
        patches(train_dirs)._image(tmp_path / "HR" / "0001.png")


# --------------------------------------------------------------------------- sampler


def take(iterable, n):
    it = iter(iterable)
    return [next(it) for _ in range(n)]


def test_sampler_epochs_are_permutations_with_dropped_tail():
    sampler = EpochBatchSampler(10, 3, seed=5)  # 3 iterations per epoch, 1 index dropped
    batches = take(sampler, 9)
    for epoch in range(3):
        flat = np.concatenate(batches[3 * epoch:3 * epoch + 3])
        assert len(set(flat)) == 9 and flat.min() >= 10 * epoch and flat.max() < 10 * epoch + 10
        np.testing.assert_array_equal(flat, sampler.epoch_order(epoch)[:9])
    assert not np.array_equal(sampler.epoch_order(1) - 10, sampler.epoch_order(0))  # reshuffled


@pytest.mark.parametrize("start_iter", [1, 4, 5, 13])
def test_sampler_start_iter_is_the_tail_of_an_uninterrupted_run(start_iter):
    full = take(EpochBatchSampler(21, 4, seed=3), 20)  # 5 iterations per epoch
    resumed = take(EpochBatchSampler(21, 4, seed=3, start_iter=start_iter), 20 - start_iter)
    assert resumed == full[start_iter:]


def test_sampler_ranks_partition_the_global_batch():
    single = take(EpochBatchSampler(50, 6, seed=1), 16)
    ranks = [take(EpochBatchSampler(50, 3, rank=r, world_size=2, seed=1), 16) for r in (0, 1)]
    for t in range(16):
        assert ranks[0][t] + ranks[1][t] == single[t]
    with pytest.raises(ValueError, match="fewer than one global batch"):
        EpochBatchSampler(5, 3, world_size=2)


def test_dataloader_batches_match_direct_indexing_with_0_and_2_workers(train_dirs):
    ds = patches(train_dirs, patches_per_image=4, seed=11)
    sampler = EpochBatchSampler(len(ds), 4, seed=11, start_iter=2)
    expected = [np.stack([ds[k]["hr"] for k in batch]) for batch in take(sampler, 5)]
    for workers in (0, 2):
        cfg = load_config(None, [f"data_root={train_dirs}", "datasets.train.hr_dir=HR",
                                 "datasets.train.hr_crop=32", "datasets.train.patches_per_image=4",
                                 f"datasets.train.num_workers={workers}", "train.batch_size=4",
                                 "seed=11"])
        batches = take(build_train_loader(cfg, start_iter=2), 5)
        assert list(batches[0]["lr"].shape) == [4, 3, 8, 8]
        for batch, hr in zip(batches, expected):
            np.testing.assert_array_equal(batch["hr"].numpy(), hr)


# Once a parallel OpenCV call has started the thread pool and its threads have gone to sleep
# (after a short busy-wait), a forked worker that reconfigures OpenCV waits forever.
FORK_AFTER_OPENCV = """
import sys, time, cv2, numpy as np
from paddle_srgan.config import ConfigError, load_config
from paddle_srgan.data.datasets import build_train_loader
cv2.resize(np.zeros((1000, 1000, 3), np.uint8), (500, 500), interpolation=cv2.INTER_CUBIC)
time.sleep(0.3)
batch = next(iter(build_train_loader(load_config(None, sys.argv[1:]))))
print("ok", list(batch["hr"].shape))
"""


def test_workers_start_after_opencv_ran_its_thread_pool(train_dirs):
    overrides = [f"data_root={train_dirs}", "datasets.train.hr_dir=HR", "datasets.train.hr_crop=32",
                 "datasets.train.num_workers=2", "train.batch_size=2"]
    # Own session: on a hang, the child and its workers are killed together.
    proc = subprocess.Popen([sys.executable, "-c", FORK_AFTER_OPENCV, *overrides], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=child_env())
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("DataLoader workers hung after OpenCV had used its thread pool")
    assert proc.returncode == 0 and "ok [2, 3, 32, 32]" in out, err


