"""data/benchmarks.py: benchmark sets (Set5 against the shipped MATLAB LR, mod-crop,
max_images, channel) and the validation set of a config."""


import numpy as np
import pytest

from paddle_srgan.config import load_config
from paddle_srgan.data.benchmarks import BenchmarkSet
from paddle_srgan.data.datasets import (
    build_val_set,
)
from paddle_srgan.data.io import (
    read_image,
)

from conftest import (
    SET5,
    to_uint8,
)

SET5_NAMES = ["baby", "bird", "butterfly", "head", "woman"]


# --------------------------------------------------------------------------- BenchmarkSet


def test_set5_benchmark_reproduces_the_shipped_matlab_lr():
    bench = BenchmarkSet(SET5 / "HR", 4)
    items = list(bench)
    assert [it["name"] for it in items] == SET5_NAMES and len(bench) == 5
    for item in items:
        shipped = read_image(SET5 / "LR_bicubic" / "X4" / f"{item['name']}.png")
        np.testing.assert_array_equal(item["lr_image"], shipped)
        np.testing.assert_array_equal(item["hr_image"],
                                      read_image(SET5 / "HR" / f"{item['name']}.png"))
        assert item["lr"].dtype == np.float32 and item["lr"].shape == (3,) + shipped.shape[:2]
        np.testing.assert_array_equal(to_uint8(item["lr"]), shipped)
    paired = BenchmarkSet("Set5/HR", 4, lr_dir="Set5/LR_bicubic/X4", data_root=SET5.parent)
    np.testing.assert_array_equal(paired[4]["lr_image"], items[4]["lr_image"])


def test_benchmark_mod_crop_max_images_and_channel():
    bench = BenchmarkSet(SET5 / "HR", 3, max_images=2, channel="Y")
    assert len(bench) == 2
    baby = bench[0]
    assert baby["hr_image"].shape == (510, 510, 1) and baby["lr"].shape == (1, 170, 170)
    assert bench[1]["name"] == "bird" and bench[1]["hr_image"].shape == (288, 288, 1)
    with pytest.raises(IndexError):
        bench[2]


def test_val_set_from_config_and_missing_folder():
    cfg = load_config(None, [f"data_root={SET5.parents[1]}", "datasets.val.max_images=1"])
    assert [it["name"] for it in build_val_set(cfg)] == ["baby"]
    cfg = load_config(None, [f"data_root={SET5.parents[1]}",
                             "datasets.val.hr_dir=benchmarks/Set5/GT"])
    with pytest.raises(FileNotFoundError) as info:
        build_val_set(cfg)
    message = str(info.value)
    assert "datasets.val.hr_dir" in message and "Set5/GT" in message
    assert "HR/" in message and "LR_bicubic/" in message


