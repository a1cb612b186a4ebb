"""data/io.py: reading and writing every image kind, corrupt and oversized files in one line,
folder listing, and channel selection."""


import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from paddle_srgan.data.colour import rgb_to_y
from paddle_srgan.data.io import (
    ImageReadError,
    image_size,
    list_images,
    read_image,
    select_channel,
    write_image,
)

from conftest import (
    ROOT,
    child_env,
    natural,
    png_declaring,
    radiance_hdr,
    run_tool,
)

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


