"""ESRGAN / Real-ESRGAN weights through the importer (issue 27, item 4): every layout of
published_weights/esrgan_networks.py detected, converted and run against the PyTorch outputs of
tests/fixtures/esrgan/ (made by tests/fixtures/make_esrgan_fixtures.py from the published
definitions), its written config built by the model table, and the published
realesr-animevideov3.pth through tools/convert_weights.py and tools/infer.py."""
import re

import cv2
import numpy as np
import paddle
import pytest
import yaml
from torch_writer import write_torch

from paddle_srgan import checkpoint, models
from paddle_srgan.config import load_config
from paddle_srgan.deploy import predictor
from paddle_srgan.published_weights import convert

from conftest import FIXTURES, read_rgb, run_tool

ESRGAN = FIXTURES / "esrgan"
MAX_DIFF = 1e-5  # float32 port vs PyTorch float32 (measured: 1.0e-6 at most)
RRDB_X4 = {"scale": 4, "num_feat": 12, "num_block": 2, "num_grow_ch": 6}
RRDB_SMALL = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}
# case: (weights file, fixture with its input / output, layout, class, options read off it),
# the options as make_esrgan_fixtures.py built each network
CASES = {
    "esrgan_old_arch": ("rrdbnet_x4_esrgan_old_arch.pth", "rrdbnet_x4.npz", "esrgan_old_arch",
                        "RRDBNet", RRDB_X4),
    "esrgan": ("rrdbnet_x4_esrgan.pth", "rrdbnet_x4.npz", "esrgan", "RRDBNet", RRDB_X4),
    "rrdbnet_x4": ("rrdbnet_x4.npz", "rrdbnet_x4.npz", "rrdbnet", "RRDBNet", RRDB_X4),
    "rrdbnet_x2": ("rrdbnet_x2.npz", "rrdbnet_x2.npz", "rrdbnet", "RRDBNet",
                   {"scale": 2, **RRDB_SMALL}),
    "rrdbnet_x1": ("rrdbnet_x1.npz", "rrdbnet_x1.npz", "rrdbnet", "RRDBNet",
                   {"scale": 1, **RRDB_SMALL}),
    "srvgg": ("srvgg_compact.npz", "srvgg_compact.npz", "srvgg", "SRVGGNetCompact",
              {"scale": 4, "num_feat": 16, "num_conv": 4, "act_type": "prelu"}),
    "srvgg_animevideov3": ("realesr-animevideov3.pth", "realesr_animevideov3_io.npz", "srvgg",
                           "SRVGGNetCompact",
                           {"scale": 4, "num_feat": 64, "num_conv": 16, "act_type": "prelu"}),
    "vgg_discriminator": ("vgg_discriminator.npz", "vgg_discriminator.npz", "vgg_discriminator",
                          "VGGStyleDiscriminator", {"num_feat": 2, "input_size": 128}),
    "unet_discriminator": ("unet_discriminator_sn.npz", "unet_discriminator_sn.npz",
                           "unet_discriminator", "UNetDiscriminatorSN",
                           {"num_feat": 4, "skip_connection": True}),
}


def io_fixture(name):
    with np.load(ESRGAN / name) as z:
        return z["input"], z["output"]


def run(net, x):
    net.eval()
    with paddle.no_grad():
        return net(paddle.to_tensor(x)).numpy()


def converted(case):
    """(PyTorch-named source, detected layout, converted state, class, options read, kwargs)."""
    source = convert.read_state(str(ESRGAN / CASES[case][0]))
    layout = convert.detect_layout(source, CASES[case][0])
    state = convert.convert_state(source, layout)
    return (source, layout, state, *convert.model_options(state, layout))


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout_is_detected_and_reproduces_pytorch(case):
    """Detected from the keys alone, options read off the tensors, our forward equal to
    PyTorch's on the fixture's input, and to the layout's reference forward (--check)."""
    _, io, layout, model, options = CASES[case]
    source, found_layout, state, found_model, found, kwargs = converted(case)
    assert (found_layout, found_model) == (layout, model)
    assert {k: found[k] for k in options} == options
    assert found["in_channels"] == 3
    net = convert.load_into(models.MODELS[model](**kwargs), state)
    x, expected = io_fixture(io)
    assert np.abs(run(net, x) - expected).max() <= MAX_DIFF
    assert convert.parity(layout, source, net, "paddle") <= MAX_DIFF


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_config_builds_the_network_the_weights_load_into(case, tmp_path):
    """The .yml the tool writes (convert.model_config) read by load_config and built by the
    model table, the saved .pdparams loaded as train.pretrained_g / train.pretrained_d load
    weights: PyTorch's output. Generators come out of build_generator, discriminators of
    build_discriminator."""
    _, io, _, model, _ = CASES[case]
    _, _, state, _, _, kwargs = converted(case)
    weights = tmp_path / "w.pdparams"
    convert.save_state(state, str(weights))
    (tmp_path / "w.yml").write_text(yaml.safe_dump(convert.model_config(model, kwargs)))
    cfg = load_config(str(tmp_path / "w.yml"))
    if models.MODELS[model] in models.DISCRIMINATORS:
        net, entry = models.build_discriminator(cfg), "D"
    else:
        net, entry = models.build_generator(cfg), "G"
    assert type(net).__name__ == model
    checkpoint.load_network_weights(net, str(weights), entry)
    x, expected = io_fixture(io)
    assert np.abs(run(net, x) - expected).max() <= MAX_DIFF


def test_params_ema_is_preferred_over_params(tmp_path):
    """A BasicSR / Real-ESRGAN checkpoint holds params and params_ema (the EMA generator its
    inference scripts use): params_ema is converted, wherever it stands in the file."""
    ema = convert.read_state(str(ESRGAN / "rrdbnet_x4.npz"))
    raw = {k: v * np.float32(0.9) for k, v in ema.items()}
    write_torch(tmp_path / "net_g.pth", {"params": raw, "params_ema": ema, "iter": 5000})
    x, expected = io_fixture("rrdbnet_x4.npz")
    outputs = {}
    for name, source in (("file", convert.read_state(str(tmp_path / "net_g.pth"))),
                         ("params", raw)):
        state = convert.convert_state(source, convert.detect_layout(source))
        _, _, kwargs = convert.model_options(state, "rrdbnet")
        outputs[name] = run(convert.load_into(models.RRDBNet(**kwargs), state), x)
    assert np.abs(outputs["file"] - expected).max() <= MAX_DIFF
    assert np.abs(outputs["params"] - expected).max() > 0.01  # params would be told apart


def test_what_the_tensors_cannot_place_is_named(tmp_path):
    """An unknown layout is one line of the tool naming the file's keys; keys a known layout
    leaves unplaced, and tensors that contradict the class, are named too."""
    foreign = {"encoder.weight": np.ones([2, 3, 3, 3], np.float32),
               "head.bias": np.ones(2, np.float32)}
    write_torch(tmp_path / "other.pth", {"params_ema": foreign})
    proc = run_tool("convert_weights", "--src", tmp_path / "other.pth",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and not (tmp_path / "o.pdparams").exists()
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'other.pth'}: no known layout places its 2 keys (encoder.weight, "
        f"head.bias); known: {', '.join(convert.LAYOUTS)}; choose one with --layout if it is one"]
    source = convert.read_state(str(ESRGAN / "rrdbnet_x4_esrgan.pth"))
    source["RRDB_trunk.1.RDB2.conv6.weight"] = np.zeros([12, 42, 3, 3], np.float32)
    origins = {ours: theirs for theirs, ours in convert.key_map(source, "esrgan").items()}
    state = convert.convert_state(source, "esrgan")
    _, _, kwargs = convert.model_options(state, "esrgan")
    with pytest.raises(convert.ConversionError, match=re.escape(
            "unexpected 1: body.1.rdb2.conv6.weight (file: RRDB_trunk.1.RDB2.conv6.weight)")):
        convert.load_into(models.RRDBNet(**kwargs), state, origins=origins)
    srvgg = convert.read_state(str(ESRGAN / "srvgg_compact.npz"))
    relu = {k: v for k, v in srvgg.items() if k.endswith(".bias") or v.ndim == 4}
    with pytest.raises(convert.ConversionError, match=r"^body\.1 holds no PReLU slopes: its "
                                                      r"activation is ReLU or LeakyReLU"):
        convert.model_options(convert.convert_state(relu, "srvgg"), "srvgg")
    rrdb = convert.read_state(str(ESRGAN / "rrdbnet_x2.npz"))
    rrdb["conv_first.weight"] = rrdb["conv_first.weight"][:, :6]
    with pytest.raises(convert.ConversionError, match=r"conv_first.weight takes 6 channels for 3 "
                                                      r"output channels; RRDBNet takes C \(x4\)"):
        convert.model_options(convert.convert_state(rrdb, "rrdbnet"), "rrdbnet")


def test_published_animevideov3_converts_and_infers_within_one_grey_level(tmp_path):
    """The real realesr-animevideov3.pth through the CLI (--check), then tools/infer.py with
    the written config on the fixture's held-out 8-bit images: PyTorch's 8-bit output."""
    out = tmp_path / "animevideov3.pdparams"
    log = run_tool("convert_weights", "--src", ESRGAN / "realesr-animevideov3.pth",
                   "--out", out, "--check").stdout
    assert "layout srvgg" in log
    assert ("SRVGGNetCompact(in_channels=3, num_feat=64, num_conv=16, scale=4, "
            "act_type=prelu), 621,424 parameters") in log
    diff = re.search(r"check: max \|ours - srvgg definition run by paddle\| = (\S+) "
                     r"\(random 1x3x16x16 input", log)
    assert diff and float(diff[1]) <= MAX_DIFF, log
    with np.load(ESRGAN / "realesr_animevideov3_io.npz") as z:
        lr, sr = z["input_uint8"], z["output_uint8"]
    (tmp_path / "lr").mkdir()
    for i, image in enumerate(lr):
        cv2.imwrite(str(tmp_path / "lr" / f"{i}.png"), image[:, :, ::-1])
    run_tool("infer", "-c", tmp_path / "animevideov3.yml", "--weights", out,
             "--input", tmp_path / "lr", "--output", tmp_path / "sr", "--device", "cpu")
    for i, expected in enumerate(sr):
        got = read_rgb(tmp_path / "sr" / f"{i}_x4.png")
        assert got.shape == expected.shape == (128, 128, 3)
        assert np.abs(got.astype(int) - expected).max() <= 1, i


def test_converted_original_esrgan_file_exports(tmp_path):
    """The first ESRGAN layout (legacy torch.save, model.N keys) converted by the CLI, its
    .yml and .pdparams exported by tools/export.py: the predictor gives PyTorch's output."""
    out = tmp_path / "esrgan.pdparams"
    log = run_tool("convert_weights", "--src", ESRGAN / "rrdbnet_x4_esrgan_old_arch.pth",
                   "--out", out).stdout
    assert "layout esrgan_old_arch" in log
    assert yaml.safe_load((tmp_path / "esrgan.yml").read_text()) == {
        "scale": 4, "network_g": {"type": "RRDBNet", "num_feat": 12, "num_block": 2,
                                  "num_grow_ch": 6}}
    run_tool("export", "-c", tmp_path / "esrgan.yml", "--weights", out,
             "--out", tmp_path / "exported" / "esrgan_x4")
    runner = predictor.create_predictor(tmp_path / "exported" / "esrgan_x4", "cpu", threads=1)
    x, expected = io_fixture("rrdbnet_x4.npz")
    assert np.abs(runner.run(x) - expected).max() <= MAX_DIFF
