"""LapSRN, multi-scale Charbonnier supervision and single-channel training end to end."""
import json

import numpy as np
import paddle
import pytest
import yaml

from paddle_srgan.config import ConfigError, load_config
from paddle_srgan.data.datasets import TrainPatches
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.io import read_image
from paddle_srgan.data.transforms import downscale
from paddle_srgan.losses import GeneratorObjective
from paddle_srgan.models import LapSRN, build_generator, count_parameters

from conftest import ROOT, read_rgb, run_tool


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_levels_and_shapes(scale, channels):
    net = LapSRN(in_channels=channels, scale=scale, num_feat=8, depth=2)
    outs = net(paddle.rand([2, channels, 6, 5]))
    assert net.level_scales == tuple(2 ** k for k in range(1, len(outs) + 1))
    assert [o.shape for o in outs] == [[2, channels, 6 * s, 5 * s] for s in net.level_scales]


def test_parameter_count_and_bilinear_image_branch():
    # paper setting (64 features, depth 10, x4, one channel): 2 levels of 10 conv3 + convT4 + conv3
    assert count_parameters(LapSRN(in_channels=1, scale=4)) == 871_586
    net = LapSRN(in_channels=1, scale=2, num_feat=4, depth=1)
    x = paddle.rand([1, 1, 8, 8])
    up = net.levels[0].upsample(x)  # the image branch starts as bilinear x2
    ref = paddle.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(up.numpy()[..., 1:-1, 1:-1], ref.numpy()[..., 1:-1, 1:-1], atol=1e-6)
    with pytest.raises(ValueError, match="LapSRN scale must be 2, 4 or 8"):
        LapSRN(scale=3)


def test_multiscale_charbonnier_sums_levels():
    obj = GeneratorObjective({"pixel": 1.0}, {"criterion": "charbonnier", "eps": 1e-3},
                             level_scales=(2, 4))
    a2, b2 = paddle.zeros([1, 1, 2, 2]), paddle.full([1, 1, 2, 2], 3.0)
    a4, b4 = paddle.zeros([1, 1, 4, 4]), paddle.full([1, 1, 4, 4], -4.0)
    total, terms = obj([a2, a4], [b2, b4])
    assert float(terms["pixel_x2"]) == pytest.approx(np.sqrt(9 + 1e-6), rel=1e-6)
    assert float(terms["pixel_x4"]) == pytest.approx(np.sqrt(16 + 1e-6), rel=1e-6)
    assert float(total) == pytest.approx(float(terms["pixel_x2"]) + float(terms["pixel_x4"]))


def test_single_channel_patches_with_level_targets():
    folder = ROOT / "data" / "microscopy" / "train"
    ds = TrainPatches(folder, 4, hr_crop=32, patches_per_image=2, channel="R", seed=3,
                      flip=False, rot90=False, level_scales=(2, 4))
    item = ds[0]
    assert item["lr"].shape == (1, 8, 8) and item["hr"].shape == (1, 32, 32)
    assert item["hr_x2"].shape == (1, 16, 16)
    hr = np.round(item["hr"][0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.round(item["hr_x2"][0] * 255).astype(np.uint8),
                                  downscale(hr[..., None], 2)[..., 0])
    # the patch is a crop of the red channel of the image
    red = read_image(sorted(folder.glob("*.png"))[0])[..., 0]
    found = [(y, x) for y in range(red.shape[0] - 31) for x in range(red.shape[1] - 31)
             if red[y, x] == hr[0, 0] and np.array_equal(red[y:y + 32, x:x + 32], hr)]
    assert found


def test_channels_follow_the_data():
    cfg = load_config(ROOT / "configs" / "lapsrn_single_channel.yml")
    g = build_generator(cfg)
    assert g.in_channels == 1 and g.level_scales == (2, 4)
    rgb = load_config(ROOT / "configs" / "lapsrn_single_channel.yml",
                      ["datasets.train.channel=null"])
    assert build_generator(rgb).in_channels == 3
    with pytest.raises(ConfigError, match="unknown key 'network_g.num_block' for LapSRN"):
        build_generator(load_config(ROOT / "configs" / "lapsrn.yml", ["network_g.num_block=3"]))


def test_tiny_lapsrn_train_then_eval(tmp_path):
    cfg = {"base": str(ROOT / "configs" / "lapsrn_single_channel.yml"),
           "output_dir": str(tmp_path / "runs"), "data_root": str(ROOT / "data"), "device": "cpu",
           "network_g": {"type": "LapSRN", "num_feat": 8, "depth": 1},
           "datasets": {"train": {"hr_crop": 32, "patches_per_image": 4, "num_workers": 0}},
           "train": {"batch_size": 2, "log_interval": 2, "val_every_epochs": 1,
                     "save_interval": 4, "phases": [{"name": "mse", "iters": 4}]}}
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(cfg))
    out = run_tool("train", "-c", path).stdout
    assert "x2 PSNR" in out and "x4 PSNR" in out and "bicubic" in out
    run_dir = tmp_path / "runs" / "lapsrn_ihc_red_x4"
    log = (run_dir / "log.txt").read_text()
    assert "g_pixel_x2" in log and "g_pixel_x4" in log and "epoch 1" in log
    run_tool("eval", "-c", path, "--weights", run_dir / "checkpoints" / "best.pdparams",
             "--data-root", ROOT / "data" / "benchmarks", "--datasets", "Set5",
             "--out", tmp_path / "eval")
    res = json.loads((tmp_path / "eval" / "results.json").read_text())
    lap = res["results"]["Set5"]["best"]  # rows are named by their weights file
    assert res["meta"]["channel"] == "R" and res["meta"]["y_channel"] is False
    assert {"psnr", "psnr_x2", "psnr_x4", "ssim_x2"} <= set(lap)
    assert lap["psnr"] == lap["psnr_x4"] != lap["psnr_x2"]
    # the bicubic x2 level, recomputed here: red channel of the mod-cropped HR shrunk to x2
    # by MATLAB bicubic against the x4 LR upsampled x2, PSNR with a 2-pixel border
    expected = []
    for image_path in sorted((ROOT / "data" / "benchmarks" / "Set5" / "HR").glob("*.png")):
        hr = read_rgb(image_path)
        hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4, 0]
        target = imresize(hr, output_shape=(hr.shape[0] // 2, hr.shape[1] // 2))
        up = imresize(imresize(hr, scale=0.25), scale=2)
        mse = np.mean((up[2:-2, 2:-2].astype(np.float64) - target[2:-2, 2:-2]) ** 2)
        expected.append(10 * np.log10(255.0 ** 2 / mse))
    assert res["results"]["Set5"]["bicubic"]["psnr_x2"] == pytest.approx(np.mean(expected),
                                                                          abs=1e-6)
    # export: the finest level, one channel, through the paddle.inference predictor
    from paddle_srgan.deploy import predictor
    prefix = tmp_path / "exported" / "lapsrn"
    run_tool("export", "-c", path, "--weights", run_dir / "checkpoints" / "best.pdparams",
             "--out", prefix)
    meta = predictor.read_metadata(prefix)
    assert meta["scale"] == 4 and meta["in_channels"] == 1
    x = np.random.default_rng(0).random((1, 1, 8, 12), dtype=np.float32)
    sr = predictor.create_predictor(prefix, "cpu").run(x)
    g = build_generator(load_config(path))
    from paddle_srgan.checkpoint import load_generator_weights
    load_generator_weights(g, str(run_dir / "checkpoints" / "best.pdparams")).eval()
    assert sr.shape == (1, 1, 32, 48)
    assert np.abs(sr - g(paddle.to_tensor(x))[-1].numpy()).max() <= 1e-4
