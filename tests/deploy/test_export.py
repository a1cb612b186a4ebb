"""Export, loading across backends, tiled inference, image layouts and the two deployment CLIs."""
import copy
import dataclasses
import hashlib
import inspect
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import paddle
import pytest
import skimage.data
import yaml

from paddle_srgan.compat import paddle_version
from paddle_srgan.config import load_config
from paddle_srgan.data.colour import to_image
from paddle_srgan.deploy import export, introspect, predictor, tiling
from paddle_srgan.deploy.metadata import NOT_RECORDED, ExportError, ModelInfo, trained_for
from paddle_srgan.deploy.runners import load_runner
from paddle_srgan.errors import InputError
from paddle_srgan.models import (
    GENERATORS,
    LapSRN,
    MSRResNet,
    SRResNet,
    count_parameters,
    final_level,
)
from paddle_srgan.models.srresnet import UPSAMPLERS
from paddle_srgan.published_weights import convert
from paddle_srgan.storage import LinkedFileError

from conftest import (
    REAL_ESRGAN,
    ROOT,
    TINY_MAX_PARAMETERS,
    child_env,
    require,
    run_tool,
    tiny_kwargs,
    tiny_table_generator,
)

TINY_YML = "network_g: {type: SRResNet, num_feat: 8, num_block: 2}\ndevice: cpu\n"
PROGRAM_SUFFIX = ".json" if paddle_version() >= (3, 0) else ".pdmodel"


def tiny_generator(**kwargs):
    paddle.seed(0)
    generator = SRResNet(num_feat=8, num_block=2, **kwargs)
    generator.eval()  # returns None on Paddle 2.6
    return generator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny generator, its weights and config files, exported through tools/export.py."""
    folder = tmp_path_factory.mktemp("tiny")
    generator = tiny_generator()
    weights = folder / "w.pdparams"
    paddle.save(generator.state_dict(), str(weights))
    (folder / "tiny.yml").write_text(TINY_YML)
    out = run_tool("export", "-c", folder / "tiny.yml", "--weights", weights,
                   "--out", folder / "exported" / "tiny_x4").stdout
    return {"generator": generator, "weights": weights, "config": folder / "tiny.yml",
            "prefix": folder / "exported" / "tiny_x4", "stdout": out}


@pytest.fixture(scope="module")
def full(parity_npz, tmp_path_factory):
    """The paper-size SRResNet with the PyTorch fixture's calibrated weights (random paper-size
    weights are chaotic: 1e-6 input noise moves outputs by 0.02), exported in-process."""
    generator = SRResNet()
    convert.load_into(generator, convert.convert_state(convert.read_state(str(parity_npz)),
                                                       "srresnet"))
    generator.train()  # export must switch to eval for the trace and restore this
    prefix = tmp_path_factory.mktemp("full") / "srresnet_x4"
    meta = export.export_generator(generator, prefix)
    return {"generator": generator, "prefix": prefix, "meta": meta}


def astronaut_crop(top, left, h, w):
    """uint8 [h, w, 3] crop of skimage's astronaut (a real photo, shipped with scikit-image)."""
    return np.ascontiguousarray(skimage.data.astronaut()[top:top + h, left:left + w])


def as_lr(image):
    return image.transpose(2, 0, 1).astype(np.float32) / 255.0


def table_cases():
    """(type, upsampler) for every generator type of the model table and every upsampler it
    takes (None: the type has no choice of upsampler)."""
    for name in sorted(GENERATORS):
        takes = "upsampler" in inspect.signature(GENERATORS[name].__init__).parameters
        for upsampler in (UPSAMPLERS if takes else (None,)):
            yield name, upsampler


def tiny_case(name, upsampler):
    """The tiny seeded generator of a table_cases() case (default initialisation)."""
    return tiny_table_generator(name, **({} if upsampler is None else {"upsampler": upsampler}))


# The impulse of impulse_reach: huge, because in RRDBNet (0.1-scaled dense convs inside two
# levels of 0.2-scaled residuals) the change at the farthest HR pixel is ~1e-27 of the impulse,
# below float64's resolution of the features it is added to for any moderate impulse (tiny
# RRDBNet, radius 19: an impulse of 0.1 reached 14 LR pixels, 1e6 reached 18). Every table
# generator is piecewise linear or saturates only near the impulse, so the size is harmless.
IMPULSE = 1e12


def impulse_reach(generator, size):
    """LR pixels from a perturbed LR pixel to the farthest HR output pixel that changes, in
    float64 on a size x size random LR image (a float64 copy: float32 rounds the far-field
    influence away)."""
    generator = copy.deepcopy(generator)
    generator.to(dtype="float64")
    scale, centre = generator.scale, size // 2
    x = np.random.default_rng(0).random((1, generator.in_channels, size, size))
    base = final_level(generator(paddle.to_tensor(x))).numpy()
    x[0, :, centre, centre] += IMPULSE
    out = final_level(generator(paddle.to_tensor(x))).numpy()
    rows, cols = np.nonzero(np.abs(out - base).max(axis=(0, 1)) > 0)
    return max(np.abs(rows // scale - centre).max(), np.abs(cols // scale - centre).max())


@pytest.mark.parametrize("name, upsampler", list(table_cases()))
def test_receptive_field_radius_against_the_impulse_response(name, upsampler):
    """The measured radius is the reach of an impulse on an image large enough that borders
    cannot clip it: exact for every type and upsampler (the convolution hooks this replaced
    missed the resize convolutions, 8 for SRResNet's 10 with 'bilinear', and over-counted
    LapSRN's two branches, 7 for 4)."""
    generator = tiny_case(name, upsampler)
    generator.train()
    state = {k: v.numpy() for k, v in generator.state_dict().items()}
    radius = introspect.receptive_field_radius(generator)
    # measured on copies: the generator keeps its weights, dtype and mode
    assert generator.training
    for key, value in generator.state_dict().items():
        assert value.dtype == paddle.float32 and np.array_equal(value.numpy(), state[key]), key
    generator.eval()
    assert impulse_reach(generator, 4 * radius + 9) == radius, (name, upsampler)


def test_receptive_field_radius_of_the_paper_srresnet():
    # 9x9 head (4) + 33 3x3 convs and the first upsampling conv at LR (34), one 3x3 conv at
    # x2 (1/2) and the 9x9 tail at x4 (4/4): 39.5 -> 40 at x2, x4 and x8. Random paper-size
    # weights saturate the output tanh (zero gradient everywhere): the positive-weight probe
    # still measures the architecture.
    paddle.seed(0)
    assert introspect.receptive_field_radius(SRResNet()) == 40
    assert introspect.receptive_field_radius(SRResNet(scale=2, upsampler="bilinear")) == 40


def assert_seamless(tiled, whole):
    """8-bit tiles padded by the measured radius equal the untiled image up to float rounding:
    a tile's convolutions may sum in another order (oneDNN picks kernels by input size), which
    can flip a value sitting on a .5 boundary by one level, in a handful of values (one of
    ~20,000 seen on one CPU). A radius too small differs in 10-14% of the values by up to 43
    levels."""
    differ = tiled != whole
    assert differ.mean() < 1e-3 and np.abs(tiled.astype(int) - whole).max() <= 1, (
        differ.sum(), np.abs(tiled.astype(int) - whole).max())


@pytest.mark.parametrize("name, upsampler", list(table_cases()))
def test_tiled_equals_untiled_for_every_generator_type_and_upsampler(name, upsampler):
    """8-px tiles padded by the measured radius give the untiled 8-bit image (assert_seamless),
    on a photo crop wide enough for several windows per axis (with the former, too small
    radius, SRResNet's 'nearest' and 'bilinear' outputs differed in 10% and 14% of their 8-bit
    values, by up to 43 levels)."""
    generator = tiny_case(name, upsampler)
    runner = predictor.LayerRunner(generator, ModelInfo.of(generator))
    image = astronaut_crop(60, 150, 50, 56)  # tiny RRDBNet's radius is 19
    assert 8 + 2 * runner.info.receptive_field_radius < 50  # windows smaller than the image
    whole = tiling.super_resolve_image(runner, image)
    tiled = tiling.super_resolve_image(runner, image, tile=8)
    assert_seamless(tiled, whole)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_rrdbnet_tiled_equals_untiled_at_every_scale(scale):
    """RRDBNet x2 / x1 pixel-unshuffle their input into 2x2 / 4x4 cells: windows start at
    multiples of the measured shift period, so 29-px tiles (a multiple of neither) give the
    untiled image; windows started anywhere (period 1, as before) differed in 26% / 43% of
    the 8-bit values, by up to 255 levels."""
    generator = tiny_table_generator("RRDBNet", scale=scale)
    runner = predictor.LayerRunner(generator, ModelInfo.of(generator))
    image = astronaut_crop(60, 150, 200, 210)
    assert 29 + 2 * runner.info.receptive_field_radius + 3 < 200  # x1: radius 76
    whole = tiling.super_resolve_image(runner, image)
    assert_seamless(tiling.super_resolve_image(runner, image, tile=29), whole)
    unaligned = predictor.LayerRunner(generator, dataclasses.replace(runner.info, shift_period=1))
    differ = (tiling.super_resolve_image(unaligned, image, tile=29) != whole).mean()
    assert differ > 0.1 if scale < 4 else differ == 0


@pytest.mark.parametrize("name, upsampler", list(table_cases()))
def test_shift_period_is_measured(name, upsampler):
    """1 for every table generator at x4 (the SRResNet family, RRDBNet), and for RRDBNet x2 /
    x1 the cell side of its pixel-unshuffle: 2 / 4."""
    generator = tiny_case(name, upsampler)
    radius = introspect.receptive_field_radius(generator)
    assert introspect.shift_period(generator, radius) == 1
    if name == "RRDBNet":
        for scale, period in ((2, 2), (1, 4)):
            generator = tiny_table_generator(name, scale=scale)
            radius = introspect.receptive_field_radius(generator)
            assert introspect.shift_period(generator, radius) == period


class PlacedSRResNet(paddle.nn.Layer):
    """A tiny SRResNet whose output is mixed with its HR column index: no input shift shifts
    its output alike."""

    def __init__(self):
        super().__init__()
        self.body = tiny_generator()
        self.scale, self.in_channels, self.out_channels = 4, 3, 3
        self.output_range = (-1.0, 1.0)

    def forward(self, lr):
        sr = self.body(lr)
        return sr + 0.01 * paddle.arange(sr.shape[3], dtype=sr.dtype)


def test_a_model_without_a_shift_period_refuses_default_tiling():
    generator = PlacedSRResNet()
    generator.eval()
    info = ModelInfo.of(generator)
    assert info.receptive_field_radius == 12 and info.shift_period is None
    runner = predictor.LayerRunner(generator, info)
    image = astronaut_crop(60, 150, 20, 24)
    with pytest.raises(InputError) as refused:
        tiling.super_resolve_image(runner, image, tile=8)
    assert str(refused.value) == tiling.SHIFT_VARIANT.format("tile", "tile_pad")
    assert tiling.super_resolve_image(runner, image, tile=8, tile_pad=4).shape == (80, 96, 3)


def test_export_metadata_records_the_shift_period(tmp_path):
    """Written beside the receptive field, read back into ModelInfo; an export written before
    it was recorded reads as 1; a value that no period is refused like any other key."""
    generator = tiny_table_generator("RRDBNet", scale=2)
    meta = export.export_generator(generator, tmp_path / "rrdb_x2")
    assert meta["shift_period"] == 2
    assert yaml.safe_load((tmp_path / "rrdb_x2.yml").read_text())["shift_period"] == 2
    info = ModelInfo.from_meta(predictor.read_metadata(tmp_path / "rrdb_x2"), "meta")
    assert info == ModelInfo.of(generator) and info.shift_period == 2
    old = {k: v for k, v in meta.items() if k != "shift_period"}
    assert ModelInfo.from_meta(old, "meta") == dataclasses.replace(info, shift_period=1)
    assert ModelInfo.from_meta({**meta, "shift_period": None}, "meta").shift_period is None
    for wrong in (3, 0, 16, 2.0, True, "2"):
        with pytest.raises(ExportError) as refused:
            ModelInfo.from_meta({**meta, "shift_period": wrong}, "m.yml")
        assert str(refused.value) == (f"m.yml: 'shift_period' must be 1, 2, 4 or 8, or null "
                                      f"(none), got {wrong!r}; re-export with tools/export.py")


class PooledSRResNet(paddle.nn.Layer):
    """A tiny SRResNet whose output is mixed with a pooling of itself: layers the former
    convolution hooks refused (AvgPool2D: even export failed) or did not see
    (AdaptiveAvgPool2D, whose global mean makes every output pixel depend on the whole
    image)."""

    def __init__(self, pool):
        super().__init__()
        self.body, self.pool = tiny_generator(), pool
        self.scale, self.in_channels, self.out_channels = 4, 3, 3
        self.output_range = (-1.0, 1.0)

    def forward(self, lr):
        sr = self.body(lr)
        return sr + 0.5 * self.pool(sr)  # [N, 3, 1, 1] from the global pool: broadcast


def test_a_pooling_layer_is_measured_not_refused():
    generator = PooledSRResNet(paddle.nn.AvgPool2D(7, stride=1, padding=3))
    generator.eval()
    runner = predictor.LayerRunner(generator, ModelInfo.of(generator))
    # the SRResNet's 11.5 LR px (radius 12) + 3 HR px at x4
    assert runner.info.receptive_field_radius == impulse_reach(generator, 61) == 13
    image = astronaut_crop(60, 150, 40, 46)
    whole = tiling.super_resolve_image(runner, image)
    assert_seamless(tiling.super_resolve_image(runner, image, tile=8), whole)


def test_a_global_pooling_generator_exports_and_refuses_only_tiling(tmp_path):
    """Unbounded receptive field: the export records null, runs untiled, and a tiled run with
    the default padding is refused in one line (tools/infer.py: exit 2); an explicit padding
    is the user's choice of seams."""
    generator = PooledSRResNet(paddle.nn.AdaptiveAvgPool2D(1))
    generator.eval()
    assert ModelInfo.of(generator).receptive_field_radius is None
    prefix = tmp_path / "pooled_x4"
    meta = export.export_generator(generator, prefix)
    assert meta["receptive_field_radius"] is None
    assert yaml.safe_load(prefix.with_suffix(".yml").read_text())["receptive_field_radius"] is None
    runner = predictor.create_predictor(prefix, "cpu", threads=1)
    assert runner.info.receptive_field_radius is None
    image = astronaut_crop(60, 150, 20, 24)
    whole = tiling.super_resolve_image(runner, image)
    assert np.array_equal(tiling.super_resolve_image(runner, image, tile=24), whole)
    with pytest.raises(InputError) as refused:
        tiling.super_resolve_image(runner, image, tile=8)
    assert str(refused.value) == tiling.UNBOUNDED.format("tile", "tile_pad")
    assert tiling.super_resolve_image(runner, image, tile=8, tile_pad=4).shape == whole.shape
    cv2.imwrite(str(tmp_path / "in.png"), image[:, :, ::-1])
    proc = run_tool("infer", "--model", prefix, "--input", tmp_path / "in.png",
                    "--output", tmp_path / "sr", "--tile", "8", "--device", "cpu", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: " + tiling.UNBOUNDED.format("--tile", "--tile-pad")
    assert not (tmp_path / "sr").exists()


def test_export_cli_writes_this_paddles_format_and_metadata(tiny):
    prefix = str(tiny["prefix"])
    other = ".pdmodel" if PROGRAM_SUFFIX == ".json" else ".json"
    assert os.path.isfile(prefix + PROGRAM_SUFFIX) and not os.path.exists(prefix + other)
    assert os.path.isfile(prefix + ".pdiparams")
    meta = yaml.safe_load(open(prefix + ".yml"))
    md5 = hashlib.md5(tiny["weights"].read_bytes()).hexdigest()
    assert meta == {**meta, "format": "paddle-srgan-export", "scale": 4, "in_channels": 3,
                    "out_channels": 3, "input_range": [0.0, 1.0], "output_range": [-1.0, 1.0],
                    "receptive_field_radius": 12, "input_name": "lr",
                    "model_file": "tiny_x4" + PROGRAM_SUFFIX, "params_file": "tiny_x4.pdiparams",
                    "paddle_version": paddle.__version__, "weights": str(tiny["weights"]),
                    "weights_md5": md5, "config": str(tiny["config"]), "use_ema": False,
                    "trained_for": "bicubic (clean)"}
    assert meta["model"] == {"type": "SRResNet", "num_feat": 8, "num_block": 2, "scale": 4}
    assert "trained for bicubic (clean)" in tiny["stdout"]
    assert introspect.receptive_field_radius(tiny["generator"]) == 12
    assert "receptive field 12 LR px" in tiny["stdout"]


def test_export_leaves_the_generator_as_it_was(full):
    generator = full["generator"]
    assert generator.training  # restored after the eval-mode trace
    assert not isinstance(generator.forward, paddle.jit.api.StaticFunction)
    assert full["meta"]["receptive_field_radius"] == 40


def test_multi_level_generator_exports_its_final_level(tmp_path):
    """LapSRN returns [x2, x4]: the export, jit.load and the predictor give the x4 level
    (conv + leaky_relu also once crashed Paddle 3.3's oneDNN predictor)."""
    paddle.seed(0)
    generator = LapSRN(num_feat=8, depth=2, scale=4)
    generator.eval()
    meta = export.export_generator(generator, tmp_path / "lapsrn")
    assert meta["output_range"] == [0.0, 1.0] and meta["in_channels"] == 1
    x = np.random.default_rng(0).random((1, 1, 20, 24), dtype=np.float32)
    ref = generator(paddle.to_tensor(x))[-1].numpy()
    info = ModelInfo.from_meta(meta, "meta")
    for runner in (predictor.LayerRunner(generator, info),
                   predictor.LayerRunner(predictor.load_exported(tmp_path / "lapsrn"), info),
                   predictor.create_predictor(tmp_path / "lapsrn", "cpu")):
        assert np.abs(runner.run(x) - ref).max() <= 1e-4


def test_dygraph_jit_load_and_predictor_agree(full):
    """Random and real inputs of two sizes, through the three backends, max abs <= 1e-4."""
    generator = full["generator"]
    generator.eval()
    info = ModelInfo.of(generator)
    runners = {"dygraph": predictor.LayerRunner(generator, info),
               "jit.load": predictor.LayerRunner(predictor.load_exported(full["prefix"]), info),
               "predictor": predictor.create_predictor(full["prefix"], "cpu", threads=2)}
    rng = np.random.default_rng(0)
    inputs = [rng.random((1, 3, 24, 32), dtype=np.float32),
              rng.random((2, 3, 19, 27), dtype=np.float32),
              as_lr(astronaut_crop(40, 200, 30, 36))[None],
              as_lr(astronaut_crop(150, 100, 21, 45))[None]]
    try:
        for x in inputs:
            ref = runners["dygraph"].run(x)
            assert ref.shape == (x.shape[0], 3, x.shape[2] * 4, x.shape[3] * 4)
            for name in ("jit.load", "predictor"):
                assert np.abs(runners[name].run(x) - ref).max() <= 1e-4, (name, x.shape)
    finally:
        generator.train()
    with pytest.raises(ValueError, match=r"expects \[N, 3, h, w\], got shape \[1, 1, 8, 8\]"):
        runners["predictor"].run(np.zeros((1, 1, 8, 8), np.float32))


# Every generator type of the model table (models.GENERATORS), exported: eager vs jit.load vs
# the Paddle predictor. Tolerance: float32 (eps 1.2e-7) sums in another order in each backend
# (Paddle's eager kernels, oneDNN in the predictor); tiny random nets amplify that to at most
# 6.5e-6 (SRResNet; MSRResNet 6e-8, LapSRN 6e-7; Paddle 2.6.2 and 3.3.1). 1e-4 is 15x that and
# 39x below one 8-bit level of a [0, 1] output, while a wrong op is far above it (a LeakyReLU
# slope lost put LapSRN off by 0.2, a missing bilinear skip puts MSRResNet off by ~0.5).
EXPORT_MAX_DIFF = 1e-4


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_tiny_table_generators_are_tiny(name):
    """A new generator whose width keywords are not in conftest.TINY_SIZES would make every
    deployment test slow: it must say how to be tiny."""
    assert tiny_kwargs(name), f"{name}: add its width keywords to conftest.TINY_SIZES"
    assert count_parameters(tiny_table_generator(name)) <= TINY_MAX_PARAMETERS


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_type_exports_and_runs_like_eager(generator_exports, name):
    """jit.load and the Paddle predictor give the eager output of each type of the table
    (MSRResNet's predictor failed on Paddle 3.3: float64 attribute of its bilinear skip)."""
    exported = generator_exports[name]
    generator = exported["generator"]
    info = ModelInfo.of(generator, trained_for(load_config(exported["config"])))
    assert ModelInfo.from_meta(predictor.read_metadata(exported["prefix"]), "meta") == info
    runners = {"jit.load": predictor.LayerRunner(predictor.load_exported(exported["prefix"]),
                                                 info),
               "predictor": predictor.create_predictor(exported["prefix"], "cpu", threads=2)}
    rng = np.random.default_rng(0)
    for x in (rng.random((1, 3, 17, 23), dtype=np.float32),
              rng.random((2, 3, 12, 9), dtype=np.float32),
              as_lr(astronaut_crop(40, 200, 14, 20))[None]):
        ref = final_level(generator(paddle.to_tensor(x))).numpy()
        assert ref.shape == (x.shape[0], 3, 4 * x.shape[2], 4 * x.shape[3])
        for backend, runner in runners.items():
            diff = float(np.abs(runner.run(x) - ref).max())
            print(f"{name} paddle {paddle.__version__} {list(x.shape)}: max |{backend} - eager| "
                  f"= {diff:.1e}")
            assert diff <= EXPORT_MAX_DIFF, (backend, x.shape)


DEMO_REALWORLD = ("realworld: JPEG q30-95, noise sigma 0-2 or Poisson x0-0.2, blur sigma "
                  "0.2-1.6, resize x0.5-1.2, two stages (realesrgan order)")


def test_trained_for_names_the_training_lr_of_each_kind_of_config():
    """Derived from datasets.train: the type, and for realworld the ranges of both stages
    (here the demo's, written out by hand from configs/demo_realworld.yml)."""
    assert trained_for(load_config(ROOT / "configs" / "demo.yml")) == "bicubic (clean)"
    assert trained_for(load_config(ROOT / "configs" / "demo_realworld.yml")) == DEMO_REALWORLD
    assert trained_for(load_config(ROOT / "configs" / "realworld.yml")) == REAL_ESRGAN
    paired = load_config(None, ["datasets.train.type=paired", "datasets.train.lr_dir=X4"])
    assert trained_for(paired) == "paired LR files (X4)"
    shuffled = load_config(ROOT / "configs" / "demo_realworld.yml",
                           ["datasets.train.degradation.order=shuffled",
                            "datasets.train.degradation.jpeg_range2=[20, 99]"])
    assert trained_for(shuffled).startswith("realworld: JPEG q20-99,")
    assert trained_for(shuffled).endswith("(shuffled order)")


@pytest.mark.parametrize("kind", ["demo.yml", "realworld.yml"])
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_type_records_and_reports_its_training(generator_exports, name, kind,
                                                               tmp_path):
    """What a model was trained for travels from its config into the export's metadata and
    every runner's info (export -> predictor; config + weights -> dygraph), for each
    generator type and both kinds of training; an export from before the field says so."""
    exported = generator_exports[name]
    config = tmp_path / "model.yml"
    preset = yaml.safe_load((ROOT / "configs" / kind).read_text())
    config.write_text(yaml.safe_dump({**yaml.safe_load(exported["config"].read_text()),
                                      "datasets": {"train": preset["datasets"]["train"]}}))
    cfg = load_config(config)
    expected = "bicubic (clean)" if kind == "demo.yml" else REAL_ESRGAN
    assert trained_for(cfg) == expected
    prefix = tmp_path / "exported" / name
    meta = export.export_generator(exported["generator"], prefix,
                                   export.provenance(cfg, str(exported["weights"])))
    assert meta["trained_for"] == expected
    assert predictor.create_predictor(prefix, "cpu", threads=1).info.trained_for == expected
    runner = load_runner(config=str(config), weights=str(exported["weights"]), device="cpu")
    assert runner.info.trained_for == expected
    meta_file = prefix.with_suffix(".yml")
    old = {k: v for k, v in yaml.safe_load(meta_file.read_text()).items() if k != "trained_for"}
    meta_file.write_text(yaml.safe_dump(old))
    assert predictor.create_predictor(prefix, "cpu", threads=1).info.trained_for == NOT_RECORDED


@pytest.mark.parametrize("upsampler", ["nearest", "bilinear"])
def test_resize_conv_upsamplers_export_and_run_like_eager(upsampler, tmp_path):
    """The resize-conv upsamplers (fixed transposed convolutions, not F.interpolate, whose
    float64 attribute the Paddle 3.3 predictor cannot read) export: jit.load and the
    predictor give the eager output."""
    paddle.seed(0)
    generator = MSRResNet(num_feat=8, num_block=2, upsampler=upsampler)
    generator.eval()
    meta = export.export_generator(generator, tmp_path / upsampler)
    info = ModelInfo.from_meta(meta, "meta")
    x = np.random.default_rng(0).random((2, 3, 13, 10), dtype=np.float32)
    ref = generator(paddle.to_tensor(x)).numpy()
    for runner in (predictor.LayerRunner(predictor.load_exported(tmp_path / upsampler), info),
                   predictor.create_predictor(tmp_path / upsampler, "cpu")):
        assert np.abs(runner.run(x) - ref).max() <= EXPORT_MAX_DIFF


def test_paddle_free_deployment_modules_import_without_paddle():
    """An ONNX deployment has no Paddle: metadata, tiling, the ONNX runner and the runner
    choice must import (and read/write images) with Paddle unimportable."""
    code = ("import sys; sys.modules['paddle'] = None  # import paddle raises ImportError\n"
            "from paddle_srgan.deploy import metadata, onnx_runner, runners, tiling\n"
            "from paddle_srgan.data import io\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr


def test_tiles_cover_the_image_with_same_shaped_windows():
    for size, tile, pad in [(45, 16, 12), (100, 32, 5), (10, 4, 20), (33, 33, 3)]:
        spans = list(tiling.tile_windows(size, tile, pad))
        assert {w1 - w0 for *_, w0, w1 in spans} == {min(size, tile + 2 * pad)}
    for size, tile, pad, period in [(45, 16, 12, 1), (100, 32, 5, 1), (10, 4, 20, 1),
                                    (33, 33, 3, 1), (200, 29, 76, 4), (61, 7, 5, 2),
                                    (10, 4, 20, 4), (37, 8, 3, 8), (203, 13, 6, 4)]:
        spans = list(tiling.tile_windows(size, tile, pad, period))
        assert [s for s, *_ in spans] == list(range(0, size, tile))
        assert spans[-1][1] == size
        assert len({w1 - w0 for *_, w0, w1 in spans}) == 1
        for start, end, w0, w1 in spans:  # full context, except against the image border
            assert w0 % period == 0  # the pixels grouped as in the whole image
            assert start - w0 >= pad or w0 == 0
            assert w1 - end >= pad or w1 == size


@pytest.mark.parametrize("backend", ["dygraph", "predictor"])
def test_tiled_equals_untiled(tiny, backend):
    generator = tiny["generator"]
    runner = (predictor.LayerRunner(generator, ModelInfo.of(generator))
              if backend == "dygraph" else predictor.create_predictor(tiny["prefix"], "cpu"))
    lr = as_lr(astronaut_crop(60, 150, 45, 61))
    radius = runner.info.receptive_field_radius
    whole = tiling.upscale(runner.run, lr, 4)
    for tile in (16, 30):
        tiled = tiling.upscale(runner.run, lr, 4, tile, radius)
        assert np.abs(tiled - whole).max() / 2 <= 1 / 255  # output range [-1, 1] -> [0, 1]
        assert (to_image(tiled) != to_image(whole)).sum() == 0
    short = tiling.upscale(runner.run, lr, 4, 16, radius - 1)  # the radius is tight
    assert np.abs(short - whole).max() > 1e-3
    with pytest.raises(ValueError, match="tile_pad"):
        tiling.upscale(runner.run, lr, 4, 16)


def test_image_layouts_come_back_in_kind(tiny):
    generator = tiny["generator"]
    runner = predictor.LayerRunner(generator, ModelInfo.of(generator))
    rgb = astronaut_crop(100, 200, 20, 26)
    sr = tiling.super_resolve_image(runner, rgb)
    assert sr.shape == (80, 104, 3) and sr.dtype == np.uint8
    assert np.array_equal(sr, to_image(runner.run(as_lr(rgb)[None])))

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sr_gray = tiling.super_resolve_image(runner, gray)
    via_rgb = tiling.super_resolve_image(runner, np.repeat(gray[:, :, None], 3, axis=2))
    assert sr_gray.shape == (80, 104) and sr_gray.dtype == np.uint8
    assert np.abs(sr_gray.astype(int) - cv2.cvtColor(via_rgb, cv2.COLOR_RGB2GRAY)).max() <= 1

    alpha = np.random.default_rng(0).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    sr_rgba = tiling.super_resolve_image(runner, np.dstack([rgb, alpha]))
    assert sr_rgba.shape == (80, 104, 4)
    assert np.array_equal(sr_rgba[:, :, :3], sr)
    assert np.array_equal(sr_rgba[:, :, 3], cv2.resize(alpha, (104, 80),
                                                       interpolation=cv2.INTER_CUBIC))

    sr16 = tiling.super_resolve_image(runner, rgb.astype(np.uint16) * 257)
    assert sr16.dtype == np.uint16 and np.abs(sr16 / 257.0 - sr).max() <= 1
    assert len(np.unique(sr16 % 257)) > 1  # real 16-bit values, not 8-bit ones scaled


def test_one_channel_model_runs_gray_directly_and_rgb_per_channel():
    generator = tiny_generator(in_channels=1)
    runner = predictor.LayerRunner(generator, ModelInfo.of(generator))
    rgb = astronaut_crop(100, 200, 16, 20)
    sr = tiling.super_resolve_image(runner, rgb)
    assert sr.shape == (64, 80, 3)
    for c in range(3):
        assert np.array_equal(sr[:, :, c], tiling.super_resolve_image(runner, rgb[:, :, c]))
    assert np.array_equal(tiling.super_resolve_image(runner, rgb[:, :, :1])[:, :, 0],
                          to_image(runner.run(as_lr(rgb[:, :, :1])[None]))[:, :, 0])


def write_inputs(folder):
    """rgb, gray, rgba, 16-bit and jpeg inputs plus a corrupt png; returns the rgb image."""
    rgb = astronaut_crop(200, 180, 18, 22)
    bgr = rgb[:, :, ::-1]
    folder.mkdir()
    cv2.imwrite(str(folder / "rgb.png"), bgr)
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    alpha = np.tile(np.linspace(0, 255, 22, dtype=np.uint8), (18, 1))
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([bgr, alpha]))
    cv2.imwrite(str(folder / "deep.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "photo.jpg"), bgr)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return rgb


def test_infer_cli_writes_every_layout_and_skips_a_corrupt_file(tiny, tmp_path):
    rgb = write_inputs(tmp_path / "in")
    proc = run_tool("infer", "--model", tiny["prefix"], "--input", tmp_path / "in",
                    "--output", tmp_path / "sr", "--tile", "8", "--device", "cpu", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "skipped" in proc.stderr and "broken.png: cannot read image" in proc.stderr
    assert "1 of 6 failed" in proc.stderr and "wrote 5 image(s)" in proc.stdout
    assert "model trained for: bicubic (clean)" in proc.stdout
    out = {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (tmp_path / "sr").iterdir()}
    assert sorted(out) == ["deep_x4.png", "gray_x4.png", "photo_x4.png", "rgb_x4.png",
                           "rgba_x4.png"]
    assert out["rgb_x4.png"].shape == (72, 88, 3) and out["rgb_x4.png"].dtype == np.uint8
    assert out["gray_x4.png"].shape == (72, 88)
    assert out["rgba_x4.png"].shape == (72, 88, 4)
    assert out["deep_x4.png"].dtype == np.uint16
    paddle_runner = predictor.create_predictor(tiny["prefix"], "cpu")
    expected = tiling.super_resolve_image(paddle_runner, rgb)  # untiled, in this process
    assert np.array_equal(out["rgb_x4.png"][:, :, ::-1], expected)
    assert np.array_equal(out["rgba_x4.png"][:, :, 2::-1], expected)


def test_tiling_values_follow_one_rule_wherever_they_come_from(tiny, tmp_path):
    """deploy.tiling.check_tiling is the rule: upscale, the page's Upscaler and both tools'
    flags (through cli.tiling_arguments) refuse the same values, in their own words; --tile 0
    means the whole image in both tools."""
    from paddle_srgan import cli
    from paddle_srgan.deploy.app import Upscaler
    from paddle_srgan.errors import InputError
    runner = predictor.LayerRunner(tiny["generator"], ModelInfo.of(tiny["generator"]))
    lr = as_lr(astronaut_crop(60, 150, 12, 12))
    for tile, pad in [(0, 4), (-3, 4), (8, -1)]:
        with pytest.raises(InputError, match="tile must be >= 1 and tile_pad >= 0"):
            tiling.upscale(runner.run, lr, 4, tile, pad)
        with pytest.raises(InputError, match="tile must be >= 1 and tile_pad >= 0"):
            Upscaler(runner, tile, pad, out_dir=tmp_path)
    parse = cli.model_parser("test", tile_default=512).parse_args
    assert cli.tiling_arguments(parse(["--tile", "0"])) == (None, None)
    assert cli.tiling_arguments(parse([])) == (512, None)
    with pytest.raises(InputError, match="--tile must be >= 1 and --tile-pad >= 0, got --tile 8 "
                                         "and --tile-pad -2"):
        cli.tiling_arguments(parse(["--tile", "8", "--tile-pad", "-2"]))
    proc = run_tool("infer", "--model", tiny["prefix"], "--input", tmp_path / "none.png",
                    "--output", tmp_path / "sr", "--tile", "-1", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --tile must be >= 1 and --tile-pad >= 0, got --tile -1 and --tile-pad None"]
    write_inputs(tmp_path / "in")
    run_tool("infer", "--model", tiny["prefix"], "--input", tmp_path / "in" / "rgb.png",
             "--output", tmp_path / "whole", "--tile", "0")
    assert (tmp_path / "whole" / "rgb_x4.png").is_file()


def test_a_bug_in_a_runner_keeps_its_traceback_in_infer(tiny, tmp_path, monkeypatch, capsys):
    """infer skips files it cannot read (a user's problem), not every file when the code
    fails: a plain ValueError from inside a runner is a bug and propagates."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("infer_tool", ROOT / "tools" / "infer.py")
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)

    class Broken:
        info = ModelInfo.of(tiny["generator"])
        backend = "test"

        def run(self, lr):
            raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(infer, "load_runner", lambda **kwargs: Broken())
    write_inputs(tmp_path / "in")
    with pytest.raises(ValueError, match="could not be broadcast"):
        infer.main(["--model", str(tiny["prefix"]), "--input", str(tmp_path / "in" / "rgb.png"),
                    "--output", str(tmp_path / "sr")])
    assert "skipped" not in capsys.readouterr().err


def test_infer_cli_runs_training_weights_directly(tiny, tmp_path):
    rgb = write_inputs(tmp_path / "in")
    run_tool("infer", "-c", tiny["config"], "--weights", tiny["weights"], "--input",
             tmp_path / "in" / "rgb.png", tmp_path / "in" / "*.jpg", "--output", tmp_path / "sr")
    assert sorted(p.name for p in (tmp_path / "sr").iterdir()) == ["photo_x4.png", "rgb_x4.png"]
    out = cv2.imread(str(tmp_path / "sr" / "rgb_x4.png"))[:, :, ::-1]
    paddle_runner = predictor.create_predictor(tiny["prefix"], "cpu")
    assert np.abs(out.astype(int) - tiling.super_resolve_image(paddle_runner, rgb)).max() <= 1


def test_use_ema_runs_the_ema_generator_of_a_checkpoint(tiny, tmp_path):
    """--use-ema (shared by infer and the page) picks the checkpoint's G_ema, not its G."""
    from paddle_srgan.checkpoint import CHECKPOINT_FORMAT
    ema = tiny_generator()
    for p in ema.parameters():
        p.set_value(p * 0.5)
    checkpoint = tmp_path / "iter_00000001.pdparams"
    paddle.save({"format": CHECKPOINT_FORMAT, "G": tiny["generator"].state_dict(),
                 "G_ema": ema.state_dict()}, str(checkpoint))
    rgb = write_inputs(tmp_path / "in")
    for flags, net in (([], tiny["generator"]), (["--use-ema"], ema)):
        out = tmp_path / ("sr_ema" if flags else "sr")
        run_tool("infer", "-c", tiny["config"], "--weights", checkpoint, *flags, "--input",
                 tmp_path / "in" / "rgb.png", "--output", out)
        got = cv2.imread(str(out / "rgb_x4.png"))[:, :, ::-1]
        runner = predictor.LayerRunner(net, ModelInfo.of(net))
        assert np.abs(got.astype(int) - tiling.super_resolve_image(runner, rgb)).max() <= 1
    proc = run_tool("infer", "-c", tiny["config"], "--weights", tiny["weights"], "--use-ema",
                    "--input", tmp_path / "in" / "rgb.png", "--output", tmp_path / "x",
                    check=False)
    assert proc.returncode == 2 and "holds no EMA generator" in proc.stderr


def test_missing_model_is_a_one_line_error(tiny, tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    proc = run_tool("infer", "--model", tmp_path / "nope", "--input", tmp_path / "a.png",
                    "--output", tmp_path / "sr", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: exported model not found: {tmp_path / 'nope'} (expected {tmp_path / 'nope'}.json "
        f"or {tmp_path / 'nope'}.pdmodel and {tmp_path / 'nope'}.pdiparams, as tools/export.py "
        f"writes)"]
    with pytest.raises(ExportError, match="a folder, give the prefix, e.g. .*tiny_x4"):
        predictor.read_metadata(tiny["prefix"].parent)


def damage_export(tiny, folder, damage):
    """A copy of the tiny export in `folder` with one file damaged; returns its prefix."""
    import shutil
    shutil.copytree(tiny["prefix"].parent, folder)
    prefix = folder / tiny["prefix"].name
    params, program = prefix.with_suffix(".pdiparams"), prefix.with_suffix(PROGRAM_SUFFIX)
    if damage == "truncated .pdiparams":
        params.write_bytes(params.read_bytes()[:1000])
    elif damage == "empty .pdiparams":
        params.write_bytes(b"")
    elif damage == "garbage program":
        program.write_bytes(b"garbage\n")
    elif damage == "truncated .pdmodel":  # Paddle 3.x reads a 2.6 program too
        program.unlink()
        prefix.with_suffix(".pdmodel").write_bytes(b"\n\x05\x08")
    return prefix


@pytest.mark.parametrize("damage", ["truncated .pdiparams", "empty .pdiparams",
                                    "garbage program", "truncated .pdmodel"])
def test_a_damaged_export_is_one_line_naming_its_files(tiny, tmp_path, damage):
    """Issue 25: RuntimeError tracebacks from the predictor (a garbage .pdmodel even
    segfaulted it, on 2.6.2 and 3.3.1); now one line naming the files, exit 2."""
    prefix = damage_export(tiny, tmp_path / "e", damage)
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", np.zeros([8, 8, 3], np.uint8))[1])
    proc = run_tool("infer", "--model", prefix, "--input", tmp_path / "a.png",
                    "--output", tmp_path / "sr", check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    damaged = "the files are damaged or not from tools/export.py: re-export"
    if PROGRAM_SUFFIX == ".pdmodel" and damage == "garbage program" or "pdmodel" in damage:
        assert lines[0] == f"error: {prefix}.pdmodel: not a Paddle program (ProgramDesc); {damaged}"
    else:
        assert lines[0].startswith(f"error: {prefix}{PROGRAM_SUFFIX} / {prefix}.pdiparams: Paddle "
                                   f"cannot load this export (")
        assert lines[0].endswith(f"); {damaged}")
    assert not (tmp_path / "sr" / "a_x4.png").exists()


def test_the_page_refuses_a_damaged_export_in_one_line(tiny, tmp_path):
    require("gradio", 'pip install -e ".[app]"')
    prefix = damage_export(tiny, tmp_path / "e", "truncated .pdiparams")
    proc = run_tool("app", "--model", prefix, check=False, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, \
        proc.stderr
    assert lines[0].startswith(f"error: {prefix}{PROGRAM_SUFFIX} / {prefix}.pdiparams: Paddle "
                               f"cannot load this export (")


def test_metadata_problems_name_the_file(tmp_path):
    prefix = str(tmp_path / "m")
    for suffix in (".json", ".pdiparams"):
        open(prefix + suffix, "w").close()
    with pytest.raises(ExportError, match=r"m\.yml: export metadata missing"):
        predictor.read_metadata(prefix)
    with open(prefix + ".yml", "w") as f:
        f.write("{[ not: yaml")
    with pytest.raises(ExportError) as damaged:  # one line, not PyYAML's four
        predictor.read_metadata(prefix)
    assert str(damaged.value) == (f"{prefix}.yml: not valid YAML (expected ',' or ']', but got "
                                  f"'<stream end>' at line 1, column 13)")
    with open(prefix + ".yml", "w") as f:
        f.write("format: paddle-srgan-export\nscale: 4\n")
    with pytest.raises(ExportError, match=r"m\.yml: missing key\(s\) in_channels"):
        ModelInfo.from_meta(predictor.read_metadata(prefix), prefix + ".yml")


def test_pir_program_is_refused_by_paddle_26_before_it_can_crash(tmp_path, monkeypatch):
    prefix = str(tmp_path / "m")
    for suffix in (".json", ".pdiparams"):
        open(prefix + suffix, "w").close()
    monkeypatch.setattr(predictor, "paddle_version", lambda: (3, 3))
    assert predictor.model_files(prefix) == (prefix + ".json", prefix + ".pdiparams")
    monkeypatch.setattr(predictor, "paddle_version", lambda: (2, 6))
    with pytest.raises(ExportError, match=r"m\.json: exported by Paddle 3\.x .* cannot"):
        predictor.model_files(prefix)


def test_onnx_export_writes_the_onnx_file(tiny, tmp_path):
    require("paddle2onnx", 'pip install -e ".[onnx]"')
    out = tmp_path / "onnx" / "tiny_x4"
    run_tool("export", "-c", tiny["config"], "--weights", tiny["weights"], "--out", out, "--onnx")
    assert (out.parent / "tiny_x4.onnx").stat().st_size > 0


def test_onnx_export_without_paddle2onnx_is_one_line_before_any_work(tiny, tmp_path):
    out = tmp_path / "onnx" / "tiny_x4"
    proc = run_tool("export", "-c", tiny["config"], "--weights", tiny["weights"], "--out", out,
                    "--onnx", without=["paddle2onnx"], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {export.ONNX_MISSING}"
    assert not out.parent.exists()


@pytest.mark.skipif(not os.environ.get("PADDLE_SRGAN_OTHER_PYTHON"),
                    reason="set PADDLE_SRGAN_OTHER_PYTHON to a python with the other Paddle")
def test_export_from_the_other_paddle_version(tiny, tmp_path):
    """3.x loads a 2.6 export (jit.load and predictor); 2.6 refuses a 3.x export clearly."""
    prefix = tmp_path / "other"
    subprocess.run([os.environ["PADDLE_SRGAN_OTHER_PYTHON"], str(ROOT / "tools" / "export.py"),
                    "-c", str(tiny["config"]), "--weights", str(tiny["weights"]),
                    "--out", str(prefix)], check=True, capture_output=True, cwd=ROOT,
                   env=child_env())
    meta = predictor.read_metadata(prefix)
    if meta["model_file"].endswith(".json") and paddle_version() < (3, 0):
        with pytest.raises(ExportError, match="exported by Paddle 3.x"):
            predictor.create_predictor(prefix, "cpu")
        return
    generator = tiny["generator"]
    info = ModelInfo.of(generator)
    x = np.random.default_rng(0).random((1, 3, 20, 28), dtype=np.float32)
    ref = predictor.LayerRunner(generator, info).run(x)
    loaded = predictor.LayerRunner(predictor.load_exported(prefix), info)
    assert np.abs(loaded.run(x) - ref).max() <= 1e-4
    assert np.abs(predictor.create_predictor(prefix, "cpu").run(x) - ref).max() <= 1e-4
    assert sys.executable != os.environ["PADDLE_SRGAN_OTHER_PYTHON"]


@pytest.mark.parametrize("suffix", [".yml", ".pdiparams"])
def test_a_linked_export_file_is_refused_before_tracing(tiny, tmp_path, monkeypatch, suffix):
    """A symbolic link at <out>.yml was refused only after the model was traced and saved
    (and Paddle's log line of the trace came first): now before any work, as eval refuses a
    linked results file, and the file it points at is untouched."""
    outside = tmp_path / "someone_elses.txt"
    outside.write_text("precious\n")
    prefix = tmp_path / "out" / "tiny_x4"
    prefix.parent.mkdir()
    Path(f"{prefix}{suffix}").symlink_to(outside)

    def traced(*args, **kwargs):
        raise AssertionError("the model was traced")
    monkeypatch.setattr(paddle.jit, "save", traced)
    with pytest.raises(LinkedFileError) as refused:
        export.export_generator(tiny["generator"], prefix)
    assert str(refused.value).startswith(f"{prefix}{suffix} is a symbolic link (to {outside})")
    assert outside.read_text() == "precious\n"
    assert sorted(p.name for p in prefix.parent.iterdir()) == [f"tiny_x4{suffix}"]


def test_an_interrupted_export_leaves_the_earlier_one_intact(tiny, tmp_path, monkeypatch):
    """The new export is written beside the old one and swapped in only when complete: a
    failure (or SIGTERM) inside jit.save used to leave neither."""
    prefix = tmp_path / "tiny_x4"
    export.export_generator(tiny["generator"], prefix)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    (tmp_path / "tiny_x4.onnx").write_bytes(b"stale")  # an earlier export's extra file
    before["tiny_x4.onnx"] = b"stale"

    def crash(layer, path, input_spec=None, **kwargs):
        with open(path + PROGRAM_SUFFIX, "wb") as f:
            f.write(b"half a progr")
        raise OSError("No space left on device")
    monkeypatch.setattr(paddle.jit, "save", crash)
    with pytest.raises(OSError, match="No space left"):
        export.export_generator(tiny_generator(scale=2), prefix)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp folder
    assert predictor.read_metadata(prefix)["scale"] == 4
    monkeypatch.undo()
    export.export_generator(tiny_generator(scale=2), prefix)  # a complete export replaces it
    assert predictor.read_metadata(prefix)["scale"] == 2
    names = {p.name for p in tmp_path.iterdir()}
    assert {"tiny_x4" + PROGRAM_SUFFIX, "tiny_x4.pdiparams", "tiny_x4.yml"} <= names
    assert "tiny_x4.onnx" not in names and not any(n.startswith(".") for n in names)


def test_export_into_a_path_under_a_file_is_a_one_line_error(tiny, tmp_path):
    (tmp_path / "a.yml").write_text("x")
    proc = run_tool("export", "-c", tiny["config"], "--weights", tiny["weights"],
                    "--out", tmp_path / "a.yml" / "x", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [  # checked before the weights are loaded
        f"error: --out {tmp_path / 'a.yml'}: {tmp_path / 'a.yml'} is a file, not a folder"]


SIGTERM_IN_SWAP = """
import os, signal
from paddle_srgan.deploy import export
from paddle_srgan.models import SRResNet
replace = os.replace
def replace_then_sigterm(src, dst):  # SIGTERM right after the first file of the swap
    replace(src, dst)
    os.kill(os.getpid(), signal.SIGTERM)
os.replace = replace_then_sigterm
export.export_generator(SRResNet(num_feat=8, num_block=2, scale=2), {prefix!r})
print("not reached: SIGTERM is raised again once the swap is done")
"""


def test_sigterm_during_the_swap_waits_for_the_whole_export(tiny, tmp_path):
    """A stop between two renames would leave the program of one export beside the weights
    of another; the signal is held until every file of the new export is in place."""
    prefix = tmp_path / "tiny_x4"
    export.export_generator(tiny["generator"], prefix)  # x4
    code = SIGTERM_IN_SWAP.format(prefix=str(prefix))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=child_env())
    assert proc.returncode == -signal.SIGTERM and "not reached" not in proc.stdout, proc.stderr
    assert predictor.read_metadata(prefix)["scale"] == 2
    x = np.random.default_rng(0).random((1, 3, 6, 6), dtype=np.float32)
    assert predictor.create_predictor(prefix, "cpu").run(x).shape == (1, 3, 12, 12)  # new weights


def test_an_export_removes_what_killed_exports_left_behind(tiny, tmp_path):
    """kill -9 skips the cleanup of an export's hidden staging folder (megabytes each); the
    next export to the same prefix removes those of dead processes, not a running one's."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".tiny_x4.tmp-export-{dead.pid}-abc123"
    running = tmp_path / f".tiny_x4.tmp-export-{os.getpid()}-def456"
    other = tmp_path / f".other.tmp-export-{dead.pid}-ghi789"  # another prefix's: not ours
    for folder in (stale, running, other):
        folder.mkdir()
        (folder / "tiny_x4.pdiparams").write_bytes(bytes(1000))
    export.export_generator(tiny["generator"], tmp_path / "tiny_x4")
    assert not stale.exists() and running.exists() and other.exists()
    assert predictor.read_metadata(tmp_path / "tiny_x4")["scale"] == 4


def test_infer_never_replaces_an_input(tiny, tmp_path):
    """Issue 25: --input D --output D with the user's own photo_x4.png beside photo.png. The
    result of photo.png would be written over photo_x4.png (and that one upscaled again into
    photo_x4_x4.png): refused before anything is written, the user's file byte-identical."""
    folder = tmp_path / "D"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.png"), astronaut_crop(10, 10, 12, 12))
    cv2.imwrite(str(folder / "photo_x4.png"), astronaut_crop(100, 100, 48, 48))
    mine = (folder / "photo_x4.png").read_bytes()
    proc = run_tool("infer", "--model", tiny["prefix"], "--input", folder, "--output", folder,
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: the result of {folder / 'photo.png'} would replace {folder / 'photo_x4.png'}, "
        f"an input of this run; nothing was written: give --output a folder that holds no "
        f"input"]
    assert (folder / "photo_x4.png").read_bytes() == mine
    assert sorted(p.name for p in folder.iterdir()) == ["photo.png", "photo_x4.png"]
    # the same file named another way (a relative path, from another working directory)
    proc = run_tool("infer", "--model", tiny["prefix"], "--input", "D/photo.png",
                    "D/photo_x4.png", "--output", folder, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "an input of this run" in proc.stderr
    assert (folder / "photo_x4.png").read_bytes() == mine


def test_export_never_replaces_its_config_or_weights(tiny, tmp_path):
    """The export replaces every file of its prefix: a prefix naming the -c config
    (<prefix>.yml) or the weights (<prefix>.pdiparams) is refused before any work, both
    files byte-identical."""
    import shutil
    shutil.copy(tiny["config"], tmp_path / "w.yml")
    shutil.copy(tiny["weights"], tmp_path / "w.pdiparams")
    kept = {name: (tmp_path / name).read_bytes() for name in ("w.yml", "w.pdiparams")}
    for config, weights, what, replaced in (
            (tmp_path / "w.yml", tiny["weights"], "config", tmp_path / "w.yml"),
            (tiny["config"], tmp_path / "w.pdiparams", "--weights", tmp_path / "w.pdiparams")):
        proc = run_tool("export", "-c", config, "--weights", weights, "--out", tmp_path / "w",
                        check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: {replaced} would be replaced, but it is {replaced}, the {what} of this "
            f"run; nothing was written: choose another output name"]
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pdiparams", "w.yml"]


def test_export_metadata_is_checked_when_read(tiny, tmp_path):
    """A .yml stating `scale: 0` used to be trusted (infer wrote *_x0.png, exit 0): each key
    is checked against the generator contract, one line naming the file and the key."""
    import shutil

    import yaml
    folder = tmp_path / "exported"
    shutil.copytree(tiny["prefix"].parent, folder)
    prefix = folder / tiny["prefix"].name
    meta_file = f"{prefix}.yml"
    original = yaml.safe_load(open(meta_file))
    write_inputs(tmp_path / "in")
    for key, value, rule in (("scale", 0, "an integer from 1 to 16"),
                             ("scale", 2.5, "an integer from 1 to 16"),
                             ("in_channels", 2, "1 or 3"),
                             ("output_range", [1, -1], "[lo, hi] with finite lo < hi"),
                             ("receptive_field_radius", -4,
                              "an integer from 0 to 10000 or null (unbounded)")):
        with open(meta_file, "w") as f:
            yaml.safe_dump({**original, key: value}, f)
        proc = run_tool("infer", "--model", prefix, "--input", tmp_path / "in" / "rgb.png",
                        "--output", tmp_path / "sr", check=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            f"error: {meta_file}: '{key}' must be {rule}, got {value!r}; re-export with "
            f"tools/export.py"]
        assert not (tmp_path / "sr").exists()
    # a valid scale that is not the network's: caught when the model runs, whole or tiled
    # (metadata.run_guarded, which every runner goes through; it wrote wrong-sized images)
    with open(meta_file, "w") as f:
        yaml.safe_dump({**original, "scale": 2}, f)
    for tile, code in (((), 2), (("--tile", "8"), 1)):  # 2: infer's first (probe) run; 1:
        # the image is skipped, the run fails
        proc = run_tool("infer", "--model", prefix, "--input", tmp_path / "in" / "rgb.png",
                        "--output", tmp_path / "sr", *tile, check=False)
        assert proc.returncode == code, proc.stderr
        assert "input, but its metadata (scale 2, 3 output channels) says [1, 3, " \
            in proc.stderr and "Traceback" not in proc.stderr
        assert not list((tmp_path / "sr").glob("*.png"))
