"""JPEG blocking in a photo given to a model trained for clean input: found from a JPEG's
quantisation tables or from the 8-pixel grid in decoded pixels, and said in one line by
tools/infer.py (the page: tests/deploy/test_app.py)."""
import cv2
import numpy as np
import paddle
import pytest
import skimage.data

from paddle_srgan.data.io import read_image
from paddle_srgan.deploy import suitability
from paddle_srgan.deploy.metadata import CLEAN
from paddle_srgan.models import SRResNet

from conftest import REAL_ESRGAN, ROOT, run_tool

PHOTOS = ("astronaut", "camera", "coffee", "chelsea")  # skimage's bundled photos, clean PNGs


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """{(name, kind): path}: each photo as PNG, as JPEG at quality 30, 50 and 90 (OpenCV's
    libjpeg), and those JPEGs decoded and saved again as PNG."""
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        bgr = image[:, :, ::-1] if image.ndim == 3 else image
        paths[name, "png"] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name, "png"]), bgr)
        for quality in (30, 50, 90):
            jpeg = paths[name, f"q{quality}"] = folder / f"{name}_q{quality}.jpg"
            cv2.imwrite(str(jpeg), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            decoded = paths[name, f"q{quality} png"] = folder / f"{name}_q{quality}_decoded.png"
            cv2.imwrite(str(decoded), cv2.imread(str(jpeg), cv2.IMREAD_UNCHANGED))
    return paths


def finding(path):
    return suitability.jpeg_blocking(path, read_image(path, keep_gray=True))


@pytest.mark.parametrize("name", PHOTOS)
def test_jpeg_blocking_is_found_in_low_quality_jpegs_and_not_in_clean_pngs(photos, name):
    assert suitability.jpeg_quality(photos[name, "png"]) is None
    assert finding(photos[name, "png"]) is None  # no false alarm on the clean photo
    for quality in (30, 50, 90):  # the header's tables give the encoder's quality back
        assert suitability.jpeg_quality(photos[name, f"q{quality}"]) == quality
    assert finding(photos[name, "q30"]) == "JPEG quality 30"
    assert finding(photos[name, "q50"]) == "JPEG quality 50"
    assert finding(photos[name, "q90"]) is None  # above JPEG_QUALITY_LIMIT
    # saved again as PNG: the tables are gone, the 8-pixel grid in the pixels is not
    for kind in ("q30 png", "q50 png"):
        assert finding(photos[name, kind]).startswith("an 8x8 block grid (blockiness 1."), kind


def test_blockiness_measures_the_grid_at_jpeg_block_boundaries():
    rng = np.random.default_rng(0)
    smooth = rng.integers(100, 110, (64, 64), dtype=np.uint8)
    assert suitability.blockiness(smooth) == pytest.approx(1.0, abs=0.15)
    blocky = smooth.astype(int)
    blocky[:, 8::8] += 20  # a step at every block's left edge...
    blocky[8::8, :] += 20  # ...and top edge
    assert suitability.blockiness(blocky.astype(np.uint8)) > 3
    only_columns = smooth.astype(int)
    only_columns[:, 8::8] += 20  # one axis alone is not JPEG's grid
    assert suitability.blockiness(only_columns.astype(np.uint8)) < suitability.BLOCKINESS_LIMIT
    assert suitability.blockiness(np.full((64, 64, 3), 7, np.uint8)) == 1.0  # flat
    assert suitability.blockiness(np.zeros((10, 64), np.uint8)) == 1.0  # too small


def test_advice_is_for_clean_models_only():
    blocked = [("a.jpg", "JPEG quality 30")]
    line = suitability.advice(CLEAN, blocked)
    assert line.startswith("warning: JPEG blocking in the input (a.jpg: JPEG quality 30); ")
    assert "configs/realworld.yml" in line and "configs/demo_realworld.yml" in line
    assert "\n" not in line
    assert suitability.advice(REAL_ESRGAN, blocked) is None
    assert suitability.advice(CLEAN, []) is None
    many = suitability.advice(CLEAN, [(f"{i}.jpg", "JPEG quality 30") for i in range(5)])
    assert "(0.jpg: JPEG quality 30, 1.jpg: JPEG quality 30, 2.jpg: JPEG quality 30 and 2 " \
           "more)" in many


def test_infer_warns_in_one_line_when_a_clean_model_meets_jpeg_blocks(photos, tmp_path):
    paddle.seed(0)
    weights = tmp_path / "tiny.pdparams"
    paddle.save(SRResNet(num_feat=8, num_block=1).state_dict(), str(weights))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for kind in ("png", "q30"):  # small crops: a quick run
        image = cv2.imread(str(photos["coffee", kind]))[:64, :96]
        if kind == "q30":  # the crop keeps the block grid; re-encoded at 30 as a phone would
            cv2.imwrite(str(inputs / "photo.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 30])
        else:
            cv2.imwrite(str(inputs / "clean.png"), image)
    tiny = ["-c", ROOT / "configs" / "srgan.yml", "-o", "network_g.num_block=1",
            "network_g.num_feat=8", "device=cpu"]
    proc = run_tool("infer", *tiny, "--weights", weights, "--input", inputs,
                    "--output", tmp_path / "out")
    assert "model trained for: bicubic (clean)" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: JPEG blocking in the input (photo.jpg: JPEG quality 30); this model was "
        "trained for bicubic (clean) input and sharpens the blocks: a model trained with "
        "configs/realworld.yml (CPU demo: configs/demo_realworld.yml) removes them"]
    clean = run_tool("infer", *tiny, "--weights", weights, "--input", inputs / "clean.png",
                     "--output", tmp_path / "out_clean")
    assert "warning" not in clean.stderr
    # a model trained on real-world degradations is meant for such photos: no warning
    realworld = run_tool("infer", *tiny, "datasets.train.type=realworld", "--weights", weights,
                         "--input", inputs / "photo.jpg", "--output", tmp_path / "out_rw")
    assert "model trained for: realworld: " in realworld.stdout
    assert "warning" not in realworld.stderr
