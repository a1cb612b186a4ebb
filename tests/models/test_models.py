import inspect

import numpy as np
import paddle
import pytest

from paddle_srgan.config import ConfigError, load_config
from paddle_srgan.models import (
    GENERATORS,
    Discriminator,
    LeftthomasSRGAN,
    MSRResNet,
    OnnxSRResNet,
    SRResNet,
    VGGFeatures,
    build_discriminator,
    build_generator,
    build_model,
    count_parameters,
)
from paddle_srgan.models.blocks import BilinearUpsample, UpsampleBlock, pixel_unshuffle
from paddle_srgan.models.vgg import VGGWeightsError, vgg19_layer_names

TINY = {"num_feat": 8, "num_block": 2}


def test_parameter_counts_match_pytorch_reference():
    assert count_parameters(SRResNet()) == 1_549_462
    assert count_parameters(Discriminator()) == 23_565_505
    # torchvision VGG19 features[:36] (up to relu5_4)
    assert count_parameters(VGGFeatures("relu5_4", weights="none")) == 20_024_384


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes_and_range(scale, channels):
    g = SRResNet(in_channels=channels, scale=scale, **TINY)
    g.eval()
    sr = g(paddle.rand([2, channels, 7, 5]))
    assert sr.shape == [2, channels, 7 * scale, 5 * scale]
    # the tanh bounds the output however large the last conv's output gets
    g.tail_conv.bias.set_value(paddle.full_like(g.tail_conv.bias, 100.0))
    sr = g(paddle.rand([2, channels, 7, 5])).numpy()
    assert sr.max() <= 1.0 and sr.min() > 0.99


@pytest.mark.parametrize("size", [96, 384, 40])
def test_discriminator_any_size(size):
    d = Discriminator(num_feat=8, fc_size=16)
    assert d(paddle.rand([2, 3, size, size]) * 2 - 1).shape == [2, 1]


def test_discriminator_full_width_on_a_384_crop():
    assert Discriminator()(paddle.rand([1, 3, 384, 384])).shape == [1, 1]


def test_wrong_rank_and_channels_are_clear_errors():
    g = SRResNet(**TINY)
    with pytest.raises(ValueError, match=r"SRResNet expects a 4-D tensor \[N, C, H, W\], "
                                         r"got shape \[3, 8, 8\]"):
        g(paddle.rand([3, 8, 8]))
    with pytest.raises(ValueError, match="SRResNet expects 3 channel"):
        g(paddle.rand([1, 1, 8, 8]))
    with pytest.raises(ValueError, match="Discriminator expects a 4-D"):
        Discriminator(num_feat=8)(paddle.rand([96, 96]))
    with pytest.raises(ValueError, match="scale must be 2, 4 or 8"):
        SRResNet(scale=3)


def _parity_model(npz):
    from paddle_srgan.published_weights import convert
    state = convert.convert_state(convert.read_state(str(npz)), "srresnet")
    return convert.load_into(SRResNet(), state)


def test_forward_parity_with_pytorch_eval(parity_npz):
    z = np.load(parity_npz)
    g = _parity_model(parity_npz)
    g.eval()
    out = g(paddle.to_tensor(z["input"])).numpy()
    assert np.abs(out - z["output_f64"]).max() < 1e-4
    assert np.abs(out - z["output"]).max() < 1e-4


def test_train_mode_parity_and_bn_momentum(parity_npz):
    """Batch-statistics forward equals PyTorch's, and one step moves running stats like
    PyTorch's momentum 0.1 (Paddle 0.9; Paddle's variance update uses the biased variance)."""
    z = np.load(parity_npz)
    g = _parity_model(parity_npz)
    g.train()
    out = g(paddle.to_tensor(z["input"])).numpy()
    assert np.abs(out - z["output_train"]).max() < 1e-4
    pairs = [(g.body[i].bn1, f"residual_blocks.{i}.conv_block1.conv_block.1") for i in range(16)]
    pairs += [(g.body[i].bn2, f"residual_blocks.{i}.conv_block2.conv_block.1") for i in range(16)]
    pairs += [(g.body_bn, "conv_block2.conv_block.1")]
    for bn, name in pairs:
        np.testing.assert_allclose(bn._mean.numpy(), z[f"after_train/{name}.running_mean"],
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bn._variance.numpy(),
                                   z[f"after_train_biasedvar/{name}.running_var"],
                                   rtol=1e-4, atol=1e-6)


def test_build_from_config_and_kwarg_errors(monkeypatch):
    cfg = load_config(None, ["scale=2", "network_g.num_feat=8", "network_g.num_block=1",
                             "datasets.train.channel=G", "network_d.num_feat=8"])
    g, d = build_generator(cfg), build_discriminator(cfg)  # channels follow the data
    assert g.scale == 2 and g.in_channels == 1 and g.out_channels == 1 and d.in_channels == 1
    with pytest.raises(ConfigError,
                       match=r"'network_g.in_channels' is 3 but the data .* makes it 1"):
        build_generator(load_config(None, ["network_g.in_channels=3", "datasets.train.channel=R"]))
    bad = load_config(None, ["network_g.num_blok=3"])
    with pytest.raises(ConfigError,
                       match=r"unknown key 'network_g.num_blok'.*'network_g.num_block'"):
        build_generator(bad)
    with pytest.raises(ConfigError,
                       match=r"'network_g.scale' is 2 but the top-level 'scale' makes it 4"):
        build_generator(load_config(None, ["network_g.scale=2"]))
    with pytest.raises(ConfigError, match="'network_d.type' must be one of"):
        build_discriminator(load_config(None, ["network_d.type=PatchGAN"]))
    # constructor options of the wrong kind: one line naming the key, not a traceback from
    # inside the network (TypeError, AssertionError); the kinds follow the defaults
    from paddle_srgan import models

    class Options(SRResNet):
        def __init__(self, in_channels=3, num_feat=64, num_block=16, scale=4, skip=True,
                     slope=0.2):
            super().__init__(in_channels, num_feat=num_feat, num_block=num_block, scale=scale)

    monkeypatch.setitem(models.MODELS, "Options", Options)
    monkeypatch.setitem(models.GENERATORS, "Options", Options)
    for option, rule, got in (("network_g.num_feat=abc", "an integer >= 1", "'abc'"),
                              ("network_g.num_feat=-1", "an integer >= 1", "-1"),
                              ("network_g.num_feat=1.5", "an integer >= 1", "1.5"),
                              ("network_g.num_block=[1,2]", "an integer >= 1", "[1, 2]"),
                              ("network_g.skip=1", "true or false", "1"),
                              ("network_g.slope=x", "a number", "'x'")):
        with pytest.raises(ConfigError) as error:
            build_generator(load_config(None, ["network_g.type=Options", option]))
        assert str(error.value).endswith(f"'{option.split('=')[0]}' must be {rule}, got {got}")


def test_vgg_layers_normalisation_and_freeze():
    names = vgg19_layer_names()
    assert len(names) == 37 and names[35] == "relu5_4" and names[8] == "relu2_2"
    vgg = VGGFeatures("relu2_2", weights="none")
    x = paddle.rand([2, 3, 32, 32])
    feats = vgg(x)
    assert feats.shape == [2, 128, 16, 16] and float(feats.min()) >= 0  # after a ReLU
    assert all(p.stop_gradient for p in vgg.parameters()) and not vgg.training
    # ImageNet normalisation happens inside: equals the bare Sequential on normalised input
    mean = paddle.to_tensor([0.485, 0.456, 0.406]).reshape([1, 3, 1, 1])
    std = paddle.to_tensor([0.229, 0.224, 0.225]).reshape([1, 3, 1, 1])
    np.testing.assert_allclose(vgg.features((x - mean) / std).numpy(), feats.numpy(), atol=1e-5)
    # a single channel is used as gray RGB
    gray = x[:, :1]
    np.testing.assert_allclose(vgg(gray).numpy(), vgg(paddle.tile(gray, [1, 3, 1, 1])).numpy(),
                               atol=1e-5)
    with pytest.raises(ValueError, match="vgg.layer 'relu6_1' is not a VGG19 layer"):
        VGGFeatures("relu6_1", weights="none")


def test_vgg_loads_full_and_truncated_state_dicts(tmp_path):
    full = paddle.vision.models.vgg19(pretrained=False).state_dict()  # layout of the ImageNet file
    paddle.save(full, str(tmp_path / "vgg19.pdparams"))
    vgg = VGGFeatures("relu2_2", weights=str(tmp_path / "vgg19.pdparams"))
    np.testing.assert_array_equal(vgg.features[5].weight.numpy(), full["features.5.weight"].numpy())
    paddle.save(vgg.state_dict(), str(tmp_path / "trunc.pdparams"))
    again = VGGFeatures("relu2_2", weights=str(tmp_path / "trunc.pdparams"))
    np.testing.assert_array_equal(again.features[5].weight.numpy(),
                                  full["features.5.weight"].numpy())
    with pytest.raises(VGGWeightsError,
                       match=r"for the layers up to relu5_4 does not fit VGGFeatures: "
                             r"missing 24: features.10.bias"):
        VGGFeatures("relu5_4", weights=str(tmp_path / "trunc.pdparams"))


def test_vgg_reads_several_layers_in_one_forward(tmp_path):
    """As Real-ESRGAN's {conv1_2: 0.1, ...}: the network ends at the deepest (conv3_4 =
    features.16), one forward gives each map, and each equals what a single-layer VGG loaded
    from the same (truncated) state dict gives; 'conv' maps are before the ReLU, 'relu' ones
    after."""
    paddle.seed(4)
    layers = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1}
    vgg = VGGFeatures(layers, weights="none")
    assert len(vgg.features) == 17 and vgg.layer == "conv3_4"
    paddle.save(vgg.state_dict(), str(tmp_path / "five.pdparams"))
    x = paddle.rand([1, 3, 32, 32])
    maps = vgg(x)
    assert list(maps) == list(layers) and maps["conv3_4"].shape == [1, 256, 8, 8]
    for name in [*layers, "relu2_2"]:
        alone = VGGFeatures(name, weights=str(tmp_path / "five.pdparams"))
        expected = alone(x).numpy()
        if name in maps:
            np.testing.assert_allclose(maps[name].numpy(), expected, atol=1e-5, err_msg=name)
        else:  # relu2_2 = relu(conv2_2)
            np.testing.assert_allclose(np.maximum(maps["conv2_2"].numpy(), 0), expected,
                                       atol=1e-5)
    assert float(maps["conv3_4"].min()) < 0  # before the ReLU
    assert list(VGGFeatures(["relu3_1", "conv1_1"], weights="none")(x)) == ["conv1_1",
                                                                           "relu3_1"]
    with pytest.raises(ValueError, match="vgg.layer 'conv6_1' is not a VGG19 layer; valid: "):
        VGGFeatures({"conv1_1": 1, "conv6_1": 1}, weights="none")


def test_vgg_missing_weights_offline_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(VGGWeightsError, match=r"vgg.weights: '.*nope.pdparams' is neither"):
        VGGFeatures("relu2_2", weights=str(tmp_path / "nope.pdparams"))

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")
    monkeypatch.setattr(paddle.vision.models, "vgg19", offline)
    with pytest.raises(VGGWeightsError, match=r"no internet\?.*Set vgg.weights=<file.pdparams>"):
        VGGFeatures("relu2_2", weights="imagenet")


def test_published_srresnet_classes():
    """The published layouts (published_weights.convert.LAYOUTS) are classes of their own,
    built from models.blocks, with the keys the importer maps onto."""
    onnx = OnnxSRResNet(num_feat=8, num_block=1).state_dict()
    assert list(onnx["head_act._weight"].shape) == [8] and "body.0.conv1.bias" not in onnx
    assert "body_conv.bias" not in onnx and "upsample.0.conv.bias" in onnx
    old = LeftthomasSRGAN(num_feat=8, num_block=1, body_end="conv_act")
    assert "body_act._weight" in old.state_dict() and "body_bn.weight" not in old.state_dict()
    old.eval()
    sr = old(paddle.rand([2, 3, 5, 4]))
    assert old.output_range == (0.0, 1.0) and 0 <= float(sr.min()) and float(sr.max()) <= 1
    assert len(LeftthomasSRGAN().body) == 5  # the repository's Generator
    # MSRResNet: no BN keys, and with a zero last conv the output is the bilinear
    # upsampling of the input: [0, 1] per row -> [0, .25, .75, 1] (half-pixel, clamped).
    m = MSRResNet(num_feat=8, num_block=1, scale=2)
    assert not any("_mean" in k or k.startswith("body_") for k in m.state_dict())
    m.tail_conv.weight.set_value(paddle.zeros_like(m.tail_conv.weight))
    m.tail_conv.bias.set_value(paddle.zeros_like(m.tail_conv.bias))
    lr = paddle.to_tensor(np.tile(np.float32([0, 1]), (1, 3, 2, 1)))
    np.testing.assert_allclose(m(lr).numpy()[0, :, 1], np.tile([0, .25, .75, 1], (3, 1)), atol=1e-6)
    assert m.output_range == (0.0, 1.0)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_bilinear_input_skip_is_paddles_bilinear_interpolation(scale):
    """MSRResNet's skip (a fixed transposed convolution, because F.interpolate's float64
    scale attribute made Paddle 3.3 exports unusable) computes F.interpolate's half-pixel
    bilinear, clamped at the borders, up to float rounding: <= 2 ulp of 1.0 on [0, 1]."""
    rng = np.random.default_rng(scale)
    for shape in [(1, 3, 1, 1), (2, 3, 2, 5), (1, 1, 17, 23), (1, 3, 40, 31)]:
        x = paddle.to_tensor(rng.random(shape, dtype=np.float32))
        ours = BilinearUpsample(shape[1], scale)(x).numpy()
        theirs = paddle.nn.functional.interpolate(x, scale_factor=scale, mode="bilinear",
                                                  align_corners=False).numpy()
        assert ours.shape == theirs.shape == (*shape[:2], shape[2] * scale, shape[3] * scale)
        assert np.abs(ours - theirs).max() <= 2 * 2.0 ** -23, shape
    msr = MSRResNet(**TINY, scale=scale)
    assert not any(k.startswith("input_upsample") for k in msr.state_dict())  # no new keys


@pytest.mark.parametrize("upsampler, ring", [("nearest", 0), ("bilinear", 1)])
def test_resize_conv_at_lr_is_interpolate_then_conv(upsampler, ring):
    """The resize-convolution, computed at LR with derived sub-pixel kernels, is
    F.interpolate followed by the block's own 3x3 conv and activation: everywhere for
    'nearest'; for 'bilinear' (LR padded by replication) away from the outermost ring."""
    paddle.seed(0)
    block = UpsampleBlock(5, 3, act="leakyrelu", negative_slope=0.1, upsampler=upsampler)
    block.conv.bias.set_value(paddle.rand([5]))
    x = paddle.to_tensor(np.random.default_rng(0).random((2, 5, 7, 9), dtype=np.float32))
    resized = paddle.nn.functional.interpolate(x, scale_factor=2, mode=upsampler,
                                               align_corners=False)
    theirs = block.act(block.conv(resized)).numpy()
    ours = block(x).numpy()
    assert ours.shape == theirs.shape == (2, 5, 14, 18)
    inner = (slice(None), slice(None), slice(ring, 14 - ring), slice(ring, 18 - ring))
    np.testing.assert_allclose(ours[inner], theirs[inner], atol=1e-6)
    assert list(block.state_dict()) == ["conv.weight", "conv.bias"]  # taps: not a weight


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("upsampler", ["nearest", "bilinear"])
def test_resize_conv_upsamplers_leave_no_sub_pixel_grid(upsampler, scale):
    """Resize-then-conv upsampling (one kernel for every output pixel) maps a flat image to a
    flat image away from the zero-padded borders; pixel shuffle with the same random init
    gives its sub-pixel positions different values (the grid the demo's GAN phase grew).
    Same output shape, same state-dict keys with the upsampling convs 4x narrower."""
    nets = {}
    for kind in (upsampler, "pixelshuffle"):
        paddle.seed(0)
        nets[kind] = MSRResNet(**TINY, scale=scale, upsampler=kind)
        nets[kind].eval()
    flat = paddle.full([1, 3, 24, 24], 0.5)
    margin = 8 * scale  # beyond the reach of the zero-padded borders (HR pixels)
    for kind, net in nets.items():
        out = net(flat).numpy()
        assert out.shape == (1, 3, 24 * scale, 24 * scale)
        inner = out[:, :, margin:-margin, margin:-margin]
        spread = float((inner.max(axis=(2, 3)) - inner.min(axis=(2, 3))).max())  # per channel
        assert (spread == 0) == (kind == upsampler), (kind, spread)
    resize, shuffle = (nets[k].state_dict() for k in (upsampler, "pixelshuffle"))
    assert resize.keys() == shuffle.keys()
    assert resize["upsample.0.conv.weight"].shape == [8, 8, 3, 3]
    assert shuffle["upsample.0.conv.weight"].shape == [32, 8, 3, 3]


@pytest.mark.parametrize("cls, kwargs, message", [
    (SRResNet, {"upsampler": "deconv"},
     r"SRResNet upsampler must be one of \['pixelshuffle', 'nearest', 'bilinear'\]"),
    (SRResNet, {"upsampler": "nearest", "body_kernel": 5},
     "SRResNet upsampler 'nearest' needs body_kernel 3, got 5"),
    (SRResNet, {"input_norm": "batch"},
     r"SRResNet input_norm must be one of \['none', 'imagenet'\], got 'batch'"),
    (MSRResNet, {"upsampler": "deconv"}, r"MSRResNet upsampler must be one of"),
    (MSRResNet, {"out_channels": 1},
     "MSRResNet input_skip 'bilinear' needs out_channels == in_channels, got 1 and 3"),
    (LeftthomasSRGAN, {"body_end": "none"},
     r"LeftthomasSRGAN body_end must be one of \['conv_norm', 'conv_act'\], got 'none'"),
    (OnnxSRResNet, {"scale": 3}, "OnnxSRResNet scale must be 2, 4 or 8, got 3"),
])
def test_generator_option_errors(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(num_feat=8, num_block=1, **kwargs)


# Network sections as the one SRResNet class with layout options spelt them (what
# tools/convert_weights.py wrote before each layout became a class) -> the class they are.
FORMER_SECTIONS = [
    ({"act": "prelu_channel", "conv_bias": False, "output_act": "none",
      "output_range": [-1.0, 1.0], "head_kernel": 9, "norm": "bn", "block_act": None,
      "negative_slope": 0.2, "upsampler": "pixelshuffle"}, OnnxSRResNet),
    ({"num_block": 5, "output_act": "tanh01", "body_end": "conv_act"}, LeftthomasSRGAN),
    ({"head_kernel": 3, "norm": "none", "act": "leakyrelu", "negative_slope": 0.1,
      "block_act": "relu", "body_end": "none", "global_skip": False, "hr_conv": True,
      "input_skip": "bilinear", "output_act": "none", "output_range": [0, 1],
      "upsampler": "bilinear"}, MSRResNet),
    ({"output_act": "tanh", "input_norm": "imagenet", "conv_bias": True}, SRResNet),
]


@pytest.mark.parametrize("former, cls", FORMER_SECTIONS)
def test_former_srresnet_sections_build_the_class_they_describe(former, cls):
    """Converted configs and the runs trained from them keep loading: the class a former
    section describes, with the options it still takes, and the same state-dict keys."""
    section = {"type": "SRResNet", "num_feat": 8, **former}
    g = build_model(section, scale=2, in_channels=3)
    assert type(g) is cls and g.scale == 2
    takes = inspect.signature(cls.__init__).parameters
    same = cls(num_feat=8, scale=2, **{k: v for k, v in former.items() if k in takes})
    assert g.state_dict().keys() == same.state_dict().keys()
    if cls is LeftthomasSRGAN:
        assert g.body_end == "conv_act" and len(g.body) == 5
    if cls is MSRResNet:
        assert g.upsample[0].upsampler == "bilinear"


def test_former_options_left_out_keep_their_former_defaults():
    # num_block meant 16 then, not LeftthomasSRGAN's 5
    g = build_model({"type": "SRResNet", "output_act": "tanh01"}, scale=2)
    assert type(g) is LeftthomasSRGAN and len(g.body) == 16


def test_former_options_that_describe_no_class_are_one_error():
    with pytest.raises(ConfigError, match=r"^cfg.yml: 'network_g': SRResNet no longer takes the "
                                          r"layout options norm='none', and together they "
                                          r"describe none of the types that replaced them "
                                          r"\(SRResNet, OnnxSRResNet, LeftthomasSRGAN, "
                                          r"MSRResNet\); set 'type' to one of those$"):
        build_model({"type": "SRResNet", "norm": "none"}, source="cfg.yml")
    with pytest.raises(ConfigError, match=r"unknown key 'network_g.nrom' for SRResNet"):
        build_model({"type": "SRResNet", "nrom": "none", "act": "prelu"})


def test_pixel_unshuffle_is_paddles_and_inverts_pixel_shuffle():
    x = paddle.to_tensor(np.random.default_rng(0).random((2, 3, 8, 12), dtype=np.float32))
    for factor in (2, 4):
        down = pixel_unshuffle(x, factor)
        assert down.shape == [2, 3 * factor * factor, 8 // factor, 12 // factor]
        np.testing.assert_array_equal(down.numpy(),
                                      paddle.nn.functional.pixel_unshuffle(x, factor).numpy())
        np.testing.assert_array_equal(paddle.nn.PixelShuffle(factor)(down).numpy(), x.numpy())


def test_a_generator_that_breaks_the_contract_fails_when_built(monkeypatch):
    """models.GENERATOR_CONTRACT is checked by build_model, so a new generator type without
    output_range (which the evaluator used to default to (-1, 1)) fails at build time."""
    from paddle_srgan import models
    own = list(GENERATORS)

    class NoRange(paddle.nn.Layer):
        def __init__(self, scale=4, in_channels=3):
            super().__init__()
            self.scale, self.in_channels, self.out_channels = scale, in_channels, in_channels

    class BadLevels(NoRange):
        output_range = (0.0, 1.0)
        level_scales = (4, 2)

    for cls, message in [(NoRange, "'output_range' must be .* got None"),
                         (BadLevels, "'level_scales' must be increasing .* got \\(4, 2\\)")]:
        monkeypatch.setitem(models.MODELS, cls.__name__, cls)
        monkeypatch.setitem(models.GENERATORS, cls.__name__, cls)
        with pytest.raises(models.ConfigError, match=f"generator {cls.__name__} breaks the "
                                                     f"generator contract: {message}"):
            models.build_model({"type": cls.__name__}, scale=4, in_channels=3)
    for name in own:  # the table's own types fit it
        assert models.check_generator(models.build_model({"type": name}, scale=4, in_channels=3))
