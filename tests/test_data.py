"""paddle_srgan.data: image io, patch transforms, training/benchmark datasets, the batch
sampler's resume contract, and tools/prepare_data.py end to end."""

import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from paddle_srgan.config import load_config
from paddle_srgan.data.benchmarks import BenchmarkSet
from paddle_srgan.data.colour import rgb_to_y, to_chw_float
from paddle_srgan.data.datasets import (
    EpochBatchSampler,
    TrainPatches,
    build_train_loader,
    build_val_set,
)
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.io import (
    ImageReadError,
    image_size,
    list_images,
    read_image,
    select_channel,
    write_image,
)
from paddle_srgan.data.transforms import (
    augment,
    downscale,
    mod_crop,
    paired_random_crop,
    random_crop,
)

from conftest import (
    ROOT,
    SET5,
    child_env,
    png_declaring,
    radiance_hdr,
    run_tool,
    y_by_hand,
)

SET5_NAMES = ["baby", "bird", "butterfly", "head", "woman"]


def natural(name, h, w, y=0, x=0):
    """uint8 [h, w, 3] crop of a skimage sample photo (real image statistics, no download)."""
    img = getattr(skdata, name)()
    assert img.shape[0] >= y + h and img.shape[1] >= x + w
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def to_uint8(chw):
    """float32 [C, H, W] in [0, 1] -> uint8 [H, W, C] (inverse of to_chw_float)."""
    return np.round(chw.transpose(1, 2, 0) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- io


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_8bit_rgb_round_trip_is_lossless_and_rgb_ordered(tmp_path, ext):
    img = natural("chelsea", 60, 70)
    write_image(tmp_path / f"cat{ext}", img)
    out = read_image(tmp_path / f"cat{ext}")
    assert out.dtype == np.uint8 and out.shape == (60, 70, 3)
    np.testing.assert_array_equal(out, img)
    # Channel order is RGB: OpenCV's own reader (BGR) sees the channels reversed.
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / f"cat{ext}"))[:, :, ::-1], img)


def test_jpeg_round_trip_is_close(tmp_path):
    img = natural("coffee", 64, 64)
    write_image(tmp_path / "c.JPG", img)
    out = read_image(tmp_path / "c.JPG")
    assert out.shape == img.shape and np.abs(out.astype(int) - img).mean() < 4


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_round_trip_keeps_values_above_255(tmp_path, ext):
    img = np.random.default_rng(0).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    img[0, 0] = (65535, 256, 1000)
    write_image(tmp_path / f"deep{ext}", img)
    out = read_image(tmp_path / f"deep{ext}")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, img)


def test_16bit_to_jpeg_is_refused(tmp_path):
    with pytest.raises(ValueError, match="16-bit"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint16))


def test_gray_file_reads_as_three_identical_channels(tmp_path):
    gray = skdata.camera()[:40, :50]
    write_image(tmp_path / "g.png", gray)
    assert cv2.imread(str(tmp_path / "g.png"), cv2.IMREAD_UNCHANGED).ndim == 2  # really gray
    out = read_image(tmp_path / "g.png")
    assert out.shape == (40, 50, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_rgba_file_drops_alpha(tmp_path):
    rgb = natural("astronaut", 30, 40)
    alpha = np.full((30, 40, 1), 7, np.uint8)
    bgra = np.concatenate([rgb[:, :, ::-1], alpha], axis=2)
    cv2.imencode(".png", bgra)[1].tofile(str(tmp_path / "a.png"))
    out = read_image(tmp_path / "a.png")
    assert out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, rgb)


def test_rgba_and_gray_kept_on_request_and_written_back(tmp_path):
    """What inference reads and gives back: gray stays one channel, RGBA keeps its alpha."""
    rgb = natural("astronaut", 30, 40)
    alpha = np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))[:, :, None]
    rgba = np.concatenate([rgb, alpha], axis=2)
    write_image(tmp_path / "a.png", rgba)
    bgra = cv2.imdecode(np.fromfile(str(tmp_path / "a.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(bgra, rgba[:, :, [2, 1, 0, 3]])  # stored as OpenCV's BGRA
    np.testing.assert_array_equal(read_image(tmp_path / "a.png", keep_alpha=True), rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)
    deep = rgba.astype(np.uint16) * 257
    write_image(tmp_path / "deep.png", deep)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png", keep_alpha=True), deep)
    gray = rgb[:, :, :1].copy()
    write_image(tmp_path / "g.png", gray)
    np.testing.assert_array_equal(
        read_image(tmp_path / "g.png", keep_gray=True, keep_alpha=True), gray)
    with pytest.raises(ValueError, match=r"a\.jpg\): RGBA needs a \.png name"):
        write_image(tmp_path / "a.jpg", rgba)


def test_unicode_path_round_trip_and_listing(tmp_path):
    folder = tmp_path / "数据 ü"
    img = natural("astronaut", 32, 48)
    write_image(folder / "图像 ü.png", img)  # also creates the folder
    np.testing.assert_array_equal(read_image(folder / "图像 ü.png"), img)
    assert [p.name for p in list_images(folder)] == ["图像 ü.png"]


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b"not an image" * 20, "not a PNG, JPEG, BMP, TIFF or WebP file (it starts with "
                           "b'not an i')"),
    ("truncated", "truncated PNG (the file ends before its last chunk)"),
    # whole chunks, far too little image data: libpng printed "libpng error: Not enough
    # image data" beside ours
    (png_declaring(30000, 30000), "not a decodable PNG file (corrupt or truncated: Not "
                                  "enough image data)"),
    # OpenCV raised (a cv2.error traceback) instead of returning None
    (png_declaring(40000, 40000), "not a decodable PNG file (its header declares more than "
                                  "2^30 pixels, OpenCV's limit)")],
    ids=["empty", "not an image", "truncated", "declares 30000x30000", "declares 40000x40000"])
def test_corrupt_file_error_names_the_file(tmp_path, content, reason, capfd):
    if content == "truncated":
        write_image(tmp_path / "ok.png", natural("chelsea", 80, 80))
        data = (tmp_path / "ok.png").read_bytes()
        content = data[:len(data) // 2]
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        read_image(bad)
    assert str(err.value) == f"cannot read image {bad}: {reason}"
    assert capfd.readouterr().err == ""  # ours is the only message


def test_a_png_with_bytes_after_its_end_decodes(tmp_path):
    """Decoders ignore bytes after the IEND chunk (a tool's appended metadata, a padded
    download); the truncation check looked for IEND in the last 12 bytes and refused it."""
    img = natural("chelsea", 40, 48)
    write_image(tmp_path / "ok.png", img)
    padded = tmp_path / "padded.png"
    padded.write_bytes((tmp_path / "ok.png").read_bytes() + b"\0" * 100 + b"appended by a tool")
    np.testing.assert_array_equal(read_image(padded), img)
    assert image_size(padded) == (40, 48)
    data = (tmp_path / "ok.png").read_bytes()
    cut = tmp_path / "cut.png"  # the IEND chunk itself cut short: still truncated
    cut.write_bytes(data[:-2])
    with pytest.raises(ImageReadError, match="truncated PNG"):
        read_image(cut)


def test_libpng_never_prints_beside_our_one_line(tmp_path):
    """The real tool's stderr is our line alone (libpng wrote its own line to the
    process's stderr from C first)."""
    folder = tmp_path / "hr"
    folder.mkdir()
    (folder / "declares.png").write_bytes(png_declaring(30000, 30000))
    proc = run_tool("prepare_data", "make-lr", "--hr", folder, "--out", tmp_path / "lr",
                    "--workers", "1", check=False, env={"TQDM_DISABLE": "1"})
    assert proc.returncode == 2
    assert proc.stderr == (f"error: cannot read image {folder / 'declares.png'}: not a "
                           f"decodable PNG file (corrupt or truncated: Not enough image "
                           f"data)\n")


# a tool run with its address space limited to 2 GiB
WITH_2GB = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_an_image_too_large_for_memory_is_one_line(tmp_path):
    """Decoding 30000x30000 (2.7 GB) with 2 GiB of address space: OpenCV raised its
    'Insufficient memory' error, a traceback."""
    folder = tmp_path / "hr"
    folder.mkdir()
    image = folder / "huge.png"
    image.write_bytes(png_declaring(30000, 30000))
    proc = subprocess.run([sys.executable, "-c", WITH_2GB, str(ROOT / "tools" / "prepare_data.py"),
                           "make-lr", "--hr", str(folder), "--out", str(tmp_path / "lr"),
                           "--workers", "1"], capture_output=True, text=True, timeout=60,
                          env=child_env(TQDM_DISABLE="1"))
    assert proc.returncode == 2 and proc.stderr == (
        f"error: cannot read image {image}: not a decodable PNG file (Insufficient memory: "
        f"Failed to allocate 2700000000 bytes)\n")


def test_formats_are_told_by_content_and_others_are_never_decoded(tmp_path, monkeypatch):
    """OpenCV decodes whatever it recognises, whatever the name: a Radiance .hdr of
    10000x10000 (a few kB of run-length data; the 6.4 MB original grew a server by 3 GB)
    was decoded in full to learn its size. Now neither image_size nor read_image decodes
    it; a JPEG named .png is read as the JPEG it is."""
    hdr = tmp_path / "declares.hdr"
    hdr.write_bytes(radiance_hdr(10000, 10000, rows=2))
    import paddle_srgan.data.io as image_io
    monkeypatch.setattr(image_io.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    for reader in (image_size, read_image):
        with pytest.raises(ImageReadError) as err:
            reader(hdr)
        assert str(err.value) == (f"cannot read image {hdr}: not a PNG, JPEG, BMP, TIFF or "
                                  f"WebP file (it starts with b'#?RADIAN')")
    monkeypatch.undo()
    img = natural("chelsea", 24, 32)
    write_image(tmp_path / "photo.jpg", img)
    renamed = tmp_path / "photo.png"
    renamed.write_bytes((tmp_path / "photo.jpg").read_bytes())
    assert np.abs(read_image(renamed).astype(int) - img).mean() < 3


def test_tools_report_a_corrupt_image_in_one_line(tmp_path):
    folder = tmp_path / "Set5" / "HR"
    folder.mkdir(parents=True)
    write_image(folder / "ok.png", natural("chelsea", 80, 80))
    (folder / "broken.png").write_bytes(b"not an image" * 20)
    proc = run_tool("eval", "--bicubic-only", "--data-root", tmp_path, "--datasets", "Set5",
                    "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("error: ") and "broken.png: not a PNG, JPEG, BMP" in last


def test_an_interrupted_write_leaves_the_previous_image(tmp_path, monkeypatch):
    """write_image replaces a file only once the new one is complete: stopped before that
    (Ctrl-C, a kill), the previous image is intact and no temporary file is left."""
    from paddle_srgan import storage
    path = tmp_path / "out" / "a_x4.png"
    old = np.full((8, 8, 3), 7, np.uint8)
    write_image(path, old)

    def interrupted(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(storage.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(path, np.zeros((16, 16, 3), np.uint8))
    np.testing.assert_array_equal(read_image(path), old)
    assert os.listdir(path.parent) == [path.name]


def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="nothing.png: no such file"):
        read_image(tmp_path / "nothing.png")


def test_list_images_sorts_by_name_and_filters(tmp_path):
    for name in ["b.PNG", "a.jpg", "10.png", "2.tif", "notes.txt", "._a.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["10.png", "2.tif", "a.jpg", "b.PNG"]


def test_folder_without_images_says_what_it_holds(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "HR").mkdir()
    with pytest.raises(ValueError) as info:
        list_images(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and ".png" in message and ".jpg" in message
    assert "readme.txt" in message and "HR/" in message


def test_missing_folder_lists_its_parent(tmp_path):
    (tmp_path / "HR_images").mkdir()
    with pytest.raises(FileNotFoundError, match="HR_images/") as info:
        list_images(tmp_path / "HR")
    assert str(tmp_path / "HR") in str(info.value)


def test_select_channel_rgb_and_index():
    img = natural("coffee", 20, 30)
    assert select_channel(img, None) is img
    for name, index in (("R", 0), ("G", 1), ("b", 2)):
        for channel in (name, index):
            out = select_channel(img, channel)
            assert out.shape == (20, 30, 1)
            np.testing.assert_array_equal(out[:, :, 0], img[:, :, index])


def test_select_channel_y_is_matlab_luma_rounded():
    img = natural("astronaut", 50, 50)
    y = select_channel(img, "Y")
    assert y.dtype == np.uint8 and y.shape == (50, 50, 1)
    np.testing.assert_array_equal(y[:, :, 0], np.floor(rgb_to_y(img) + 0.5))
    assert y.min() >= 16 and y.max() <= 235
    # uint16: the same luma on a 257x finer scale (white -> 235 * 257).
    y16 = select_channel(img.astype(np.uint16) * 257, "Y")
    assert y16.dtype == np.uint16
    np.testing.assert_allclose(y16[:, :, 0] / 257.0, rgb_to_y(img), atol=0.5 / 257 + 1e-9)
    white = np.full((1, 1, 3), 65535, np.uint16)
    assert select_channel(white, "Y")[0, 0, 0] == 235 * 257


def test_select_channel_gray_is_full_range_601_luma():
    img = natural("chelsea", 40, 40)
    gray = select_channel(img, "gray")
    expected = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    assert np.abs(gray[:, :, 0] - expected).max() <= 0.5 + 1e-9  # rounded, one luma (colour.py)
    # OpenCV's fixed-point weights round a few pixels the other way
    assert np.abs(gray[:, :, 0].astype(int) - cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)).max() <= 1
    assert select_channel(np.full((1, 1, 3), 255, np.uint8), "gray")[0, 0, 0] == 255


@pytest.mark.parametrize("bad", ["YCbCr", 3, -1, True, 1.0])
def test_select_channel_rejects_bad_values_naming_the_key(bad):
    with pytest.raises(ValueError, match=r"datasets\.\*\.channel.*R, G, B"):
        select_channel(natural("coffee", 4, 4), bad)


# --------------------------------------------------------------------------- transforms


def nearest_pair(lr, scale):
    """(HR, LR) where HR = LR with every pixel repeated scale x scale times, so the two are
    aligned exactly: HR[y*s:(y+1)*s, x*s:(x+1)*s] == LR[y, x]."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1), lr


def test_paired_random_crop_windows_are_aligned():
    hr, lr = nearest_pair(natural("astronaut", 37, 41), 4)
    positions = set()
    for seed in range(40):
        hr_patch, lr_patch = paired_random_crop(hr, lr, 32, 4, np.random.default_rng(seed))
        assert hr_patch.shape == (32, 32, 3) and lr_patch.shape == (8, 8, 3)
        np.testing.assert_array_equal(hr_patch, nearest_pair(lr_patch, 4)[0])
        positions.add(lr_patch.tobytes())
    assert len(positions) > 20  # positions really vary


def test_paired_random_crop_matches_matlab_lr_of_the_same_region():
    hr = natural("astronaut", 192, 192, 100, 150)
    lr = imresize(hr, 0.25)
    hr_patch, lr_patch = paired_random_crop(hr, lr, 96, 4, np.random.default_rng(3))
    # Away from the patch border the LR of the HR patch is the LR patch (the kernel reaches
    # 2 LR pixels out; inside it the two resizes see the same HR pixels).
    diff = np.abs(imresize(np.ascontiguousarray(hr_patch), 0.25).astype(int) - lr_patch)
    assert diff[3:-3, 3:-3].max() <= 1


def test_paired_random_crop_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(10, 11\).*\(40, 48\)"):
        paired_random_crop(np.zeros((40, 48, 3)), np.zeros((10, 11, 3)), 8, 4,
                           np.random.default_rng(0))
    with pytest.raises(ValueError, match="multiple"):
        paired_random_crop(np.zeros((40, 44, 3)), np.zeros((10, 11, 3)), 10, 4,
                           np.random.default_rng(0))


def test_random_crop_too_small_image():
    with pytest.raises(ValueError, match="20x30 pixels is smaller than the 32x32"):
        random_crop(np.zeros((20, 30, 3)), 32, np.random.default_rng(0))


def test_augment_applies_the_same_transform_to_the_pair_and_reaches_all_8():
    hr, lr = nearest_pair(natural("coffee", 6, 6), 2)
    seen = set()
    for seed in range(64):
        hr_aug, lr_aug = augment([hr, lr], True, True, np.random.default_rng(seed))
        np.testing.assert_array_equal(hr_aug, nearest_pair(lr_aug, 2)[0])
        seen.add(lr_aug.tobytes())
    assert len(seen) == 8
    for seed in range(8):
        same, = augment([lr], False, False, np.random.default_rng(seed))
        np.testing.assert_array_equal(same, lr)


def test_to_chw_float_ranges():
    img8 = np.array([[[0, 128, 255]]], np.uint8)
    out = to_chw_float(img8)
    assert out.dtype == np.float32 and out.shape == (3, 1, 1) and out.flags.c_contiguous
    np.testing.assert_array_equal(out.ravel(), np.array([0, 128, 255], np.float32) / 255)
    out16 = to_chw_float(np.array([[[0, 257, 65535]]], np.uint16))
    np.testing.assert_allclose(out16.ravel(), [0, 1 / 255, 1], rtol=1e-6)
    flt = np.full((2, 3, 1), 0.25, np.float32)
    out = to_chw_float(flt)
    assert out.shape == (1, 2, 3) and not np.shares_memory(out, flt)


def test_downscale_is_matlab_imresize_and_refuses_non_multiples():
    hr = natural("chelsea", 120, 96)
    np.testing.assert_array_equal(downscale(hr, 4), imresize(hr, 0.25))
    assert downscale(hr, 3).shape == (40, 32, 3)
    with pytest.raises(ValueError, match="mod-crop"):
        downscale(natural("chelsea", 121, 96), 4)


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
from paddle_srgan.config import load_config
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


# --------------------------------------------------------------------------- tools


def test_make_lr_end_to_end(tmp_path):
    hr_dir = tmp_path / "HR 高"
    images = {"a": natural("astronaut", 61, 50), "b": natural("chelsea", 48, 72)}
    for stem, img in images.items():
        write_image(hr_dir / f"{stem}.png", img)
    proc = run_tool("prepare_data", "make-lr", "--hr", hr_dir, "--out", tmp_path / "LR",
                    "--scales", 2, 3, "--workers", 2)
    assert "wrote 4 LR images" in proc.stdout
    for stem, img in images.items():
        for s in (2, 3):
            out = read_image(tmp_path / "LR" / f"X{s}" / f"{stem}x{s}.png")
            np.testing.assert_array_equal(out, imresize(mod_crop(img, s), 1 / s))
    # The output is what a paired TrainPatches / BenchmarkSet reads.
    bench = BenchmarkSet(hr_dir, 3, lr_dir=tmp_path / "LR" / "X3")
    np.testing.assert_array_equal(bench[0]["lr_image"], BenchmarkSet(hr_dir, 3)[0]["lr_image"])


def test_make_lr_with_a_degradation_spec(tmp_path):
    """make-lr --degrade writes what BenchmarkSet(degrade=...) makes (seeded by file name),
    gray files stay gray; a bad spec is one line, before anything is written."""
    hr_dir = tmp_path / "HR"
    write_image(hr_dir / "a.png", natural("astronaut", 61, 50))
    write_image(hr_dir / "g.png", natural("camera", 48, 40)[:, :, None])
    proc = run_tool("prepare_data", "make-lr", "--hr", hr_dir, "--out", tmp_path / "LR",
                    "--scales", 2, "--degrade", "noise:8+jpeg:70", "--workers", 1)
    assert "degraded noise:8+jpeg:70" in proc.stdout
    bench = BenchmarkSet(hr_dir, 2, degrade="jpeg:70+noise:8")
    for item in bench:
        out = read_image(tmp_path / "LR" / "X2" / f"{item['name']}x2.png")
        np.testing.assert_array_equal(out, item["lr_image"])
        assert not np.array_equal(out, BenchmarkSet(hr_dir, 2)[0 if item["name"] == "a" else 1]
                                  ["lr_image"])
    gray = read_image(tmp_path / "LR" / "X2" / "gx2.png")
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])  # gray noise, gray JPEG
    bad = run_tool("prepare_data", "make-lr", "--hr", hr_dir, "--out", tmp_path / "bad",
                   "--degrade", "blur:x", check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: --degrade blur:x: 'blur' takes a Gaussian sigma in HR pixels 0.1..10, got 'x'")
    assert not (tmp_path / "bad").exists()


def test_make_lr_refuses_an_image_smaller_than_the_scale(tmp_path):
    """A 3x3 image at x4 has an empty LR: imresize's traceback after some files were
    written. One line naming the image and the minimum, before any file is written."""
    write_image(tmp_path / "HR" / "a.png", natural("chelsea", 40, 40))
    write_image(tmp_path / "HR" / "tiny.png", natural("coffee", 3, 5))
    proc = run_tool("prepare_data", "make-lr", "--hr", tmp_path / "HR", "--out", tmp_path / "LR",
                    "--scales", 2, 4, "--workers", 1, check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"error: image {tmp_path / 'HR' / 'tiny.png'} is 5x3; an LR image at x4 needs at "
        f"least 4x4 pixels")
    assert not (tmp_path / "LR").exists()
    # sub-images smaller than the scale: refused before any sub-image is cut (it wrote
    # 66,546 2x2 files before refusing the first)
    proc = run_tool("prepare_data", "make-lr", "--hr", tmp_path / "HR", "--out", tmp_path / "LR",
                    "--scales", 4, "--sub-images", 2, "--step", 1, "--sub-out", tmp_path / "sub",
                    "--workers", 1, check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "error: --sub-images 2 is smaller than the scale x4: an LR sub-image would have no "
        "pixel")
    assert not list(tmp_path.glob("sub/*"))


def test_make_lr_with_sub_images(tmp_path):
    img = natural("coffee", 50, 75)
    write_image(tmp_path / "HR" / "c.png", img)
    run_tool("prepare_data", "make-lr", "--hr", tmp_path / "HR", "--out", tmp_path / "LR",
             "--scales", 4, "--sub-images", 32, "--step", 10, "--thresh", 2,
             "--sub-out", tmp_path / "sub", "--workers", 1)
    subs = list_images(tmp_path / "sub")
    # rows: 0, 10 (+18: remainder 8 > 2); cols: 0, 10, 20, 30, 40 (+43: remainder 3 > 2)
    rows, cols = [0, 10, 18], [0, 10, 20, 30, 40, 43]
    assert len(subs) == len(rows) * len(cols)
    for n, (y, x) in enumerate([(y, x) for y in rows for x in cols], start=1):
        np.testing.assert_array_equal(read_image(tmp_path / "sub" / f"c_s{n:03d}.png"),
                                      img[y:y + 32, x:x + 32])
    assert len(list_images(tmp_path / "LR" / "X4")) == len(subs)


def test_check_reports_set5_found_and_others_missing():
    proc = run_tool("prepare_data", "check", "--root", SET5.parent, check=False)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    set5 = next(line for line in lines if "Set5" in line and "found" in line)
    assert "5 images" in set5 and "X4 (5)" in set5
    for name in ("Set14", "B100", "Urban100", "DIV2K"):
        assert any(name in line and "MISSING" in line for line in lines), name
    ok = run_tool("prepare_data", "check", "--root", SET5.parent, "--datasets", "set5")
    assert "1 of 1 found" in ok.stdout
    bad = run_tool("prepare_data", "check", "--root", SET5.parent / "nope", check=False)
    assert bad.returncode == 2 and "benchmark root not found" in bad.stderr
