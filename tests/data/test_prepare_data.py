"""tools/prepare_data.py end to end: make-lr (with a degradation spec, sub-images) and
check."""


import numpy as np

from paddle_srgan.data.benchmarks import BenchmarkSet
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.io import (
    list_images,
    read_image,
    write_image,
)
from paddle_srgan.data.transforms import (
    mod_crop,
)

from conftest import (
    SET5,
    natural,
    run_tool,
)

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
