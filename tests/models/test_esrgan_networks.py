"""ESRGAN / Real-ESRGAN networks (issue 27): forward parity with the PyTorch references of
tests/fixtures/esrgan/ (tests/fixtures/README.md), spectral normalisation's state, any input
size at x2 / x1, and the published realesr-animevideov3 file."""
import json

import numpy as np
import paddle
import pytest

from paddle_srgan import models
from paddle_srgan.deploy import export, predictor, tiling
from paddle_srgan.deploy.metadata import ModelInfo
from paddle_srgan.models import (
    RRDBNet,
    SRVGGNetCompact,
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
)
from paddle_srgan.published_weights.torch_files import read_torch_weights
from paddle_srgan.safe_load import load_file

from conftest import FIXTURES, load_torch_state, paddle_key, require, tiny_table_generator

ESRGAN = FIXTURES / "esrgan"
# A float32 port against PyTorch's float64 forward (torch's own float32 error: <= 1e-6, each
# fixture's meta); measured here 1.1e-6 at most (Paddle 2.6.2 and 3.3.1).
MAX_DIFF = 1e-4
ENTRIES = ("input", "output", "meta")  # the fixtures' non-weight entries (and "a/b" keys)


def fixture(name):
    with np.load(ESRGAN / name) as z:
        return {k: z[k] for k in z.files}


def torch_state(z):
    """The PyTorch state dict of a forward fixture (its top-level weight entries)."""
    return {k: v for k, v in z.items() if "/" not in k and not k.startswith(ENTRIES)
            and not k.endswith("num_batches_tracked")}


def run(model, x, train=False):
    model.train() if train else model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(x)).numpy()


def max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.float64) - b).max())


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_matches_pytorch_basicsr(scale):
    """BasicSR RRDBNet: x4, and x2 / x1 through pixel-unshuffle, loaded from BasicSR's names
    without renaming."""
    z = fixture(f"rrdbnet_x{scale}.npz")
    meta = json.loads(str(z["meta"]))
    net = RRDBNet(scale=scale, num_feat=meta["num_feat"], num_block=meta["num_block"],
                  num_grow_ch=meta["num_grow_ch"])
    assert set(net.state_dict()) == set(torch_state(z))
    load_torch_state(net, torch_state(z))
    assert max_diff(run(net, z["input"]), z["output_f64"]) <= MAX_DIFF


def test_srvgg_compact_matches_pytorch():
    z = fixture("srvgg_compact.npz")
    net = load_torch_state(SRVGGNetCompact(num_feat=16, num_conv=4, scale=4), torch_state(z))
    assert max_diff(run(net, z["input"]), z["output_f64"]) <= MAX_DIFF


def test_vgg_discriminator_matches_pytorch_in_eval_and_train_mode():
    """Eval on the running statistics, train on the batch's; after the train-mode forward
    the running means are torch's and the running variances Paddle's convention (the biased
    batch variance; torch's unbiased ones differ by n / (n - 1) of the batch part)."""
    z = fixture("vgg_discriminator.npz")
    net = load_torch_state(VGGStyleDiscriminator(num_feat=2), torch_state(z))
    assert max_diff(run(net, z["input"]), z["output_f64"]) <= MAX_DIFF
    assert max_diff(run(net, z["input"], train=True), z["output_train"]) <= MAX_DIFF
    state = net.state_dict()
    stats = [k.split("/")[1] for k in z if k.startswith("after_train/")]
    assert len(stats) == 18  # 9 BN layers, mean and variance
    for key in stats:
        got = state[paddle_key(key)].numpy()
        if key.endswith("running_mean"):
            np.testing.assert_allclose(got, z[f"after_train/{key}"], atol=1e-6, err_msg=key)
        else:
            np.testing.assert_allclose(got, z[f"after_train_biasedvar/{key}"], rtol=1e-6,
                                       err_msg=key)
            assert not np.allclose(got, z[f"after_train/{key}"], rtol=1e-6), key


def test_vgg_discriminator_takes_its_crop_size_only():
    net = VGGStyleDiscriminator(num_feat=2)
    with pytest.raises(ValueError, match=r"takes 128x128 crops \(input_size\), got shape "
                                         r"\[1, 3, 96, 96\]"):
        net(paddle.zeros([1, 3, 96, 96]))
    big = VGGStyleDiscriminator(num_feat=2, input_size=256)
    assert "conv5_1.weight" in big.state_dict()
    assert big(paddle.zeros([2, 3, 256, 256])).shape == [2, 1]


def sn_keys(state):
    return {k: v for k, v in state.items() if k.endswith(("weight_u", "weight_v"))}


def test_unet_discriminator_spectral_norm_follows_pytorch():
    """Eval uses the stored u, v and leaves them; one train-mode forward runs one power
    iteration per conv (u, v updated in place, as torch's spectral_norm); eval afterwards uses
    the new ones. State-dict names and shapes are torch's (weight_orig, weight_u, weight_v)."""
    z = fixture("unet_discriminator_sn.npz")
    net = UNetDiscriminatorSN(num_feat=4)
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == {
        k: list(v.shape) for k, v in torch_state(z).items()}
    load_torch_state(net, torch_state(z))
    before = {k: v.numpy().copy() for k, v in sn_keys(net.state_dict()).items()}
    assert len(before) == 16
    assert max_diff(run(net, z["input"]), z["output_f64"]) <= MAX_DIFF
    for key, value in sn_keys(net.state_dict()).items():
        assert np.array_equal(value.numpy(), before[key]), key  # eval: no power iteration
    assert max_diff(run(net, z["input"], train=True), z["output_train"]) <= MAX_DIFF
    for k in range(1, 9):
        conv = getattr(net, f"conv{k}")
        for name in ("weight_u", "weight_v", "weight"):  # weight: W / sigma of that forward
            np.testing.assert_allclose(getattr(conv, name).numpy(),
                                       z[f"after_train/conv{k}.{name}"], atol=1e-6,
                                       err_msg=f"conv{k}.{name}")
    assert max_diff(run(net, z["input"]), z["output_eval_after_train"]) <= MAX_DIFF


def test_spectral_norm_state_is_saved_and_restored(tmp_path):
    """u and v travel with the state dict through paddle.save and the package's restricted
    loader: a network restored from it continues bit-identically, train step after train step
    (what an exact resume needs); one that does not get them differs."""
    z = fixture("unet_discriminator_sn.npz")
    x = paddle.to_tensor(z["input"])
    net = load_torch_state(UNetDiscriminatorSN(num_feat=4), torch_state(z))
    net.train()
    net(x)
    paddle.save(net.state_dict(), str(tmp_path / "d.pdparams"))
    restored = UNetDiscriminatorSN(num_feat=4)
    restored.set_state_dict(load_file(tmp_path / "d.pdparams"))
    # u, v of before the step
    stale = load_torch_state(UNetDiscriminatorSN(num_feat=4), torch_state(z))
    restored.train()
    stale.train()
    for _ in range(2):
        expected = net(x).numpy()
        assert np.array_equal(restored(x).numpy(), expected)
        assert not np.array_equal(stale(x).numpy(), expected)
    for key, value in sn_keys(net.state_dict()).items():
        assert np.array_equal(restored.state_dict()[key].numpy(), value.numpy()), key


@pytest.mark.parametrize("name", ["vgg_discriminator.npz", "unet_discriminator_sn.npz"])
def test_discriminator_features_lead_to_the_pytorch_logits(name):
    """forward_features (feature matching's maps): each convolution's activation, in order,
    ending in the maps the logits are computed from; its logits are the PyTorch forward's."""
    z = fixture(name)
    net = (VGGStyleDiscriminator(num_feat=2) if name.startswith("vgg")
           else UNetDiscriminatorSN(num_feat=4))
    load_torch_state(net, torch_state(z))
    net.eval()
    with paddle.no_grad():
        maps, logits = net.forward_features(paddle.to_tensor(z["input"]))
    assert max_diff(logits.numpy(), z["output_f64"]) <= MAX_DIFF
    n, _, h, w = z["input"].shape
    if name.startswith("vgg"):  # conv0_0, then 9 conv + BN, every second one stride 2
        assert [m.shape[1:] for m in maps] == [[2, 128, 128], [2, 64, 64], [4, 64, 64],
                                               [4, 32, 32], [8, 32, 32], [8, 16, 16],
                                               [16, 16, 16], [16, 8, 8], [16, 8, 8],
                                               [16, 4, 4]]
    else:  # encoder down to 1/8, decoder back up with skips, conv7, conv8
        assert [m.shape[1:] for m in maps] == [
            [4, h, w], [8, h // 2, w // 2], [16, h // 4, w // 4], [32, h // 8, w // 8],
            [16, h // 4, w // 4], [8, h // 2, w // 2], [4, h, w], [4, h, w], [4, h, w]]
        with paddle.no_grad():
            head = net.conv9(maps[-1]).numpy()
        np.testing.assert_array_equal(head, logits.numpy())
    assert all(m.shape[0] == n for m in maps)


def test_unet_discriminator_needs_multiples_of_8():
    with pytest.raises(ValueError, match=r"divisible by 8 .* got shape \[1, 3, 20, 24\]"):
        UNetDiscriminatorSN(num_feat=4)(paddle.zeros([1, 3, 20, 24]))


def test_published_realesr_animevideov3_within_one_grey_level():
    """Real-ESRGAN's published compact anime-video model (read without torch; BSD-3, NOTICE.md)
    on two held-out crops: PyTorch's 8-bit output within one level, float32 within 1e-4."""
    state = read_torch_weights(str(ESRGAN / "realesr-animevideov3.pth"))
    net = load_torch_state(
        SRVGGNetCompact(num_feat=64, num_conv=16, scale=4, act_type="prelu"), state)
    z = fixture("realesr_animevideov3_io.npz")
    np.testing.assert_array_equal(z["input"], z["input_uint8"].transpose(0, 3, 1, 2)
                                  .astype(np.float32) / 255.0)
    out = run(net, z["input"])
    assert max_diff(out, z["output"]) <= MAX_DIFF
    levels = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    assert np.abs(levels.astype(int) - z["output_uint8"]).max() <= 1


def replicate_pad(x, multiple):
    """numpy: x [N, C, h, w] padded at the bottom / right by edge replication to multiples."""
    h, w = x.shape[2:]
    return np.pad(x, [(0, 0), (0, 0), (0, -h % multiple), (0, -w % multiple)], mode="edge")


@pytest.mark.parametrize("scale", [2, 1])
@pytest.mark.parametrize("size", [(13, 17), (1, 3), (2, 2), (12, 16)])
def test_rrdbnet_x2_x1_take_any_input_size(scale, size):
    """Any size: the output is the network on the replicate-padded input, cropped to
    h*scale x w*scale (the unpadded network on a multiple, as the fixtures check)."""
    net = tiny_table_generator("RRDBNet", scale=scale)
    x = np.random.default_rng(0).random((2, 3, *size), dtype=np.float32)
    out = run(net, x)
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)
    padded = run(net, replicate_pad(x, 4 // scale))
    np.testing.assert_array_equal(out, padded[:, :, :size[0] * scale, :size[1] * scale])


@pytest.mark.parametrize("scale", [2, 1])
def test_rrdbnet_x2_x1_export_and_run_any_size_like_eager(scale, tmp_path):
    """The padding and crop are traced with the input's size: the Paddle predictor (and
    onnxruntime when paddle2onnx is here) run sizes that are not multiples like eager."""
    net = tiny_table_generator("RRDBNet", scale=scale)
    try:
        onnx = export.onnx_available() and bool(__import__("paddle2onnx"))
    except Exception:  # paddle2onnx 2.x beside Paddle 2.6 refuses to import
        onnx = False
    meta = export.export_generator(net, tmp_path / "rrdb", onnx_opset=11 if onnx else None)
    assert ModelInfo.from_meta(meta, "meta").scale == scale
    runners = [predictor.create_predictor(tmp_path / "rrdb", "cpu", threads=2)]
    if onnx:
        from paddle_srgan.deploy.onnx_runner import OnnxRunner
        require("onnxruntime", "pip install onnxruntime")
        runners.append(OnnxRunner(f"{tmp_path / 'rrdb'}.onnx", threads=2))
    rng = np.random.default_rng(1)
    for shape in [(1, 3, 13, 17), (2, 3, 8, 6)]:
        x = rng.random(shape, dtype=np.float32)
        expected = run(net, x)
        for runner in runners:
            assert max_diff(runner.run(x), expected) <= MAX_DIFF, (type(runner), shape)
    # the runners read the shift period from the metadata: their tiles give the untiled image
    image = (rng.random((230, 240, 3)) * 255).astype(np.uint8)  # x1: windows of 200 (radius 76)
    for runner in runners:
        assert runner.info.shift_period == 4 // scale
        whole = tiling.super_resolve_image(runner, image)
        tiled = tiling.super_resolve_image(runner, image, tile=45)
        assert (tiled != whole).mean() < 1e-3 and np.abs(tiled.astype(int) - whole).max() <= 1


def test_new_types_are_in_the_table_and_discriminators_are_not_generators():
    assert {"RRDBNet", "SRVGGNetCompact"} <= set(models.GENERATORS)
    assert not {"Discriminator", "VGGStyleDiscriminator", "UNetDiscriminatorSN"} & set(
        models.GENERATORS)
    for name in ("VGGStyleDiscriminator", "UNetDiscriminatorSN"):
        d = models.build_model({"type": name, "num_feat": 4}, "network_d", in_channels=1)
        assert d.in_channels == 1
    x1 = models.build_model({"type": "RRDBNet", "num_feat": 8, "num_block": 1}, scale=1,
                            in_channels=3)
    assert models.check_generator(x1).scale == 1  # the contract takes scale 1
    with pytest.raises(models.ConfigError, match=r"'network_g': RRDBNet scale must be 1, 2 or "
                                                 r"4, got 8"):
        models.build_model({"type": "RRDBNet"}, scale=8, in_channels=3)
