"""Labelled comparison strips, the curves PNG and the end-of-run verdict."""
import json
import os

import cv2
import numpy as np
import pytest

from paddle_srgan.data.benchmarks import locate_benchmark
from paddle_srgan.engine import curves, verdict
from paddle_srgan.evaluation import figures


def test_comparison_blows_up_lr_crops_and_labels_each_panel():
    lr = np.zeros((24, 24, 3), np.uint8)
    sr = np.full((96, 96, 3), 100, np.uint8)
    hr16 = np.full((96, 96, 1), 65535, np.uint16)  # 16-bit gray: shown as 8-bit RGB
    box = figures.centre_box(sr.shape, 64, 4)
    strip = figures.comparison([("LR", lr), ("SR 30.00 dB", sr), ("HR", hr16)], box)
    bar, gap, side = figures.LABEL_HEIGHT, figures.GAP, 64
    assert box == (16, 16, side)
    assert strip.shape == (bar + side, 3 * side + 2 * gap, 3) and strip.dtype == np.uint8
    body = strip[bar:]
    assert body[:, :side].max() == 0                           # LR, nearest-neighbour blow-up
    assert (body[:, side + gap:2 * side + gap] == 100).all()   # SR
    assert (body[:, 2 * (side + gap):] == 255).all()           # HR, 65535 -> 255
    assert (body[:, side:side + gap] == 255).all()             # white gap between panels
    # every label bar carries white text on its dark background
    for left in (0, side + gap, 2 * (side + gap)):
        label = strip[:bar, left:left + side]
        assert label.min() == 32 and label.max() > 200


def test_stack_pads_narrower_strips():
    a, b = np.zeros((5, 10, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)
    out = figures.stack([a, b])
    assert out.shape == (5 + figures.GAP + 4, 10, 3)
    assert (out[5 + figures.GAP:, 6:] == 255).all()


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for tag, step, value in records:
            f.write(json.dumps({"tag": tag, "step": step, "value": value}) + "\n")
        f.write('{"tag": "train/g_pixel", "st')  # a line cut short by a kill


def test_read_scalars_keeps_the_last_value_of_a_repeated_step(tmp_path):
    path = tmp_path / "scalars.jsonl"
    # resumed from step 10 after logging 20: steps 20 are logged twice
    write_jsonl(path, [("train/g_pixel", 10, 0.5), ("train/g_pixel", 20, 0.4),
                       ("train/g_pixel", 20, 0.3), ("train/g_pixel", 30, 0.2)])
    assert curves.read_scalars(path) == {"train/g_pixel": ([10, 20, 30], [0.5, 0.3, 0.2])}


def test_plot_curves_writes_a_png(tmp_path):
    path = tmp_path / "scalars.jsonl"
    write_jsonl(path, [("train/g_pixel", s, 1.0 / s) for s in range(1, 50)]
                + [("train/d_loss", s, 0.7) for s in range(26, 50)]
                + [("val/psnr", s, 28 + s / 50) for s in (10, 20, 49)]
                + [("val_bicubic/psnr", 0, 28.43)])
    out = curves.plot_curves(str(path), str(tmp_path / "curves.png"),
                              phases=[("mse", 1, 25), ("gan", 26, 49)])
    img = cv2.imread(out)
    assert img is not None and img.shape[0] > 500 and img.shape[1] > 800
    assert not any(n.endswith(".tmp.png") for n in os.listdir(tmp_path))
    # one loss panel per phase (top row): d_loss (matplotlib's C0) only in the gan phase's,
    # g_pixel (C1) in both; validation below-left (val/psnr in C0)
    top, bottom = img[:img.shape[0] // 2], img[img.shape[0] // 2:]
    mse_panel, gan_panel = top[:, :img.shape[1] // 2], top[:, img.shape[1] // 2:]
    assert colour_pixels(mse_panel, ORANGE) > 200 and colour_pixels(mse_panel, BLUE) == 0
    assert colour_pixels(gan_panel, ORANGE) > 100 and colour_pixels(gan_panel, BLUE) > 100
    assert colour_pixels(bottom[:, :img.shape[1] // 2], BLUE) > 200
    empty = tmp_path / "empty.jsonl"
    write_jsonl(empty, [])
    img = cv2.imread(curves.plot_curves(str(empty), str(tmp_path / "empty.png")))
    assert colour_pixels(img, BLUE) == colour_pixels(img, ORANGE) == 0


BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # matplotlib's C0 and C1, RGB


def colour_pixels(bgr, rgb, tolerance=12):
    """Pixels of a cv2 (BGR) image within `tolerance` of the colour `rgb`."""
    return int((np.abs(bgr.astype(int) - rgb[::-1]).max(axis=-1) <= tolerance).sum())


def test_locate_benchmark():
    assert locate_benchmark("data/benchmarks/Set5/HR") == ("data/benchmarks", "Set5")
    assert locate_benchmark("/x/BSD100/HR") == ("/x", "B100")
    assert locate_benchmark("DIV2K/DIV2K_valid_HR") == (".", "DIV2K")
    assert locate_benchmark("data/microscopy/val") is None


def test_training_verdict_table_and_commands(tmp_path):
    cfg = {"data_root": "data", "scale": 4, "experiment": "demo_x4",
           "datasets": {"val": {"hr_dir": "benchmarks/Set5/HR"}}}
    bicubic = {"psnr": 28.43, "ssim": 0.8111, "psnr_rgb": 26.69, "niqe": 7.61, "grid": 1.52}
    phases = {"mse": {"psnr": 29.5, "ssim": 0.85, "psnr_rgb": 27.7, "niqe": 7.3, "grid": 1.9},
              "gan": {"psnr": 29.25, "ssim": 0.84, "psnr_rgb": 27.5, "niqe": 6.1, "grid": 2.44}}
    run_dir = str(tmp_path / "run")
    text = verdict.training_verdict(cfg, run_dir, bicubic, phases,
                                   {"metric": "niqe", "value": 6.1, "iteration": 900},
                                   ["mse", "gan"], os.path.join(run_dir, "comparison.png"),
                                   os.path.join(run_dir, "curves.png"),
                                   {"niqe": 4.92, "grid": 1.2},
                                   os.path.join(run_dir, "perception_distortion.png"))
    lines = text.splitlines()
    assert "Set5 x4" in text
    header = next(line for line in lines if "PSNR RGB" in line).split()
    assert header[-4:] == ["RGB", "NIQE", "grid", "dB"]
    row = next(line for line in lines if "after phase 'gan'" in line).split()
    assert row[-6:] == ["29.25", "+0.82", "0.8400", "27.50", "6.10", "2.4"]
    assert next(line for line in lines if "HR images" in line).split() == \
        ["HR", "images", "4.92", "1.2"]
    assert any(line.split()[:2] == ["bicubic", "28.43"] for line in lines)
    assert "best niqe (iteration 900)" in text and "perception_distortion.png" in text
    weights = os.path.join(run_dir, "checkpoints", "gan_G.pdparams")
    config = os.path.join(run_dir, "config.yml")
    assert (f"python tools/eval.py -c {config} --weights "
            f"{weights} --data-root data/benchmarks --datasets Set5") in text
    assert f"python tools/infer.py -c {config} --weights {weights}" in text
    assert (f"python tools/export.py -c {config} --weights {weights} --out "
            f"{os.path.join(run_dir, 'exported', 'demo_x4')}") in text
    assert "comparison.png" in text and "curves.png" in text


def test_training_verdict_of_flat_validation_images(tmp_path):
    """Flat validation images have no grid score (nor NIQE): their cells read "-" instead of
    the run failing at its very end (KeyError: 'grid')."""
    cfg = {"data_root": "data", "scale": 4, "experiment": "flat",
           "datasets": {"val": {"hr_dir": "flat"}}}
    flat = {"psnr": float("inf"), "ssim": 1.0}
    text = verdict.training_verdict(cfg, str(tmp_path), flat, {"mse": {"psnr": 40.0,
                                                                      "ssim": 0.99}},
                                   {"metric": "psnr", "value": None, "iteration": None},
                                   ["mse"], None, os.path.join(tmp_path, "curves.png"), {})
    row = next(line for line in text.splitlines() if "after phase 'mse'" in line).split()
    assert row[-4:] == ["40.00", "-inf", "0.9900", "-"]


def test_training_verdict_commands_survive_a_shell(tmp_path):
    """The "Next:" commands are copied into a shell: a run folder with spaces and quotes in
    its name must stay one argument per path."""
    import shlex
    cfg = {"data_root": str(tmp_path / "my data"), "scale": 4, "experiment": "it's x4",
           "datasets": {"val": {"hr_dir": "Set5/HR"}}}
    scores = {"psnr": 28.4, "ssim": 0.81, "grid": 1.5}
    run_dir = str(tmp_path / "my runs" / "it's x4")
    text = verdict.training_verdict(cfg, run_dir, scores, {"mse": scores},
                                   {"metric": "psnr", "value": None, "iteration": None},
                                   ["mse"], None, os.path.join(run_dir, "curves.png"))
    commands = text.split("Next:\n")[1].splitlines()
    weights = os.path.join(run_dir, "checkpoints", "mse_G.pdparams")
    config = os.path.join(run_dir, "config.yml")
    assert [shlex.split(c) for c in commands] == [
        ["python", "tools/eval.py", "-c", config, "--weights", weights,
         "--data-root", str(tmp_path / "my data"), "--datasets", "Set5"],
        ["python", "tools/infer.py", "-c", config, "--weights", weights,
         "--input", "your_photo.png", "--output", os.path.join(run_dir, "sr")],
        ["python", "tools/export.py", "-c", config, "--weights", weights,
         "--out", os.path.join(run_dir, "exported", "it's x4")]]


@pytest.mark.parametrize("first, last, log_interval, every", [
    (1501, 1800, 100, 12),   # demo.yml's GAN phase: 26 points, not 3
    (2601, 2700, 100, 4),    # demo_realworld.yml's: 26, not 1
    (1, 1000000, 100, 100),  # srgan.yml's first phase: log_interval rules
    (7, 12, 2, 1)])
def test_loss_points_start_at_each_phase_and_are_enough_for_a_trend(first, last, log_interval,
                                                                    every):
    points = [i for i in range(first, last + 1)
              if curves.loss_point(i, first, last, log_interval)]
    assert points == sorted({first, last, *range(first - 1 + every, last + 1, every)})
    assert len(points) >= min(curves.CURVE_POINTS, last - first + 1)


def test_phase_curves_are_divided_by_the_phase_start(tmp_path):
    path = tmp_path / "scalars.jsonl"
    write_jsonl(path, [("train/g_pixel", s, 0.01 * s) for s in range(1, 21)]
                + [("train/d_loss", s, 2.0) for s in range(11, 21)]
                + [("train/lr_g", s, 1e-4) for s in range(1, 21)])
    scalars = curves.read_scalars(path)
    gan = curves.phase_curves(scalars, 11, 20)
    assert sorted(gan) == ["train/d_loss", "train/g_pixel"]  # losses only
    assert gan["train/g_pixel"] == (list(range(11, 21)), pytest.approx([s / 11 for s in
                                                                        range(11, 21)]))
    assert gan["train/d_loss"][1] == [1.0] * 10
    assert list(curves.phase_curves(scalars, 1, 10)) == ["train/g_pixel"]


def test_caption_names_a_figure_above_it():
    strip = np.full((30, 200, 3), 255, np.uint8)
    out = figures.caption(strip, "SR: gan_G")
    assert out.shape == (figures.LABEL_HEIGHT + 30, 200, 3)
    assert (out[figures.LABEL_HEIGHT:] == strip).all()
    assert out[:figures.LABEL_HEIGHT].min() == 32 and out[:figures.LABEL_HEIGHT].max() > 200
    narrow = figures.caption(strip[:, :60], "SR: gan_G, the final weights")  # wrapped
    assert narrow.shape[0] > 2 * figures.LABEL_HEIGHT + 30
    assert verdict.sr_weights(["mse", "gan"]) == "gan_G, the final weights after phase 'gan'"
