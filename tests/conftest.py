"""Shared fixtures: repo paths, the test data (all inside the repository), helpers."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data as skdata

from paddle_srgan.compat import import_paddle

import_paddle()  # before any test module's `import paddle`: cv2 first, MKL settings

ROOT = Path(__file__).resolve().parents[1]
SET5 = ROOT / "data" / "benchmarks" / "Set5"
FIXTURES = ROOT / "tests" / "fixtures"
# PyTorch SRResNet weights, input and outputs (tests/fixtures/srresnet_sgrvinod.md)
PARITY_NPZ = FIXTURES / "srresnet_sgrvinod.npz"
# The manual: the README (front page) and the pages it links in docs/.
MANUAL_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def manual_text():
    """The README and every docs/*.md page, one string (pages apart by a blank line, so a
    page's first heading starts a line): what tests that check the documentation read."""
    return "\n\n".join(p.read_text(encoding="utf-8") for p in MANUAL_PAGES)


def read_rgb(path):
    """uint8 [H, W, 3] RGB of an image file, read independently of paddle_srgan.data.io."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cannot read {path}"
    return img[:, :, ::-1].copy()


# Runs a tool with packages hidden: `import name` raises ImportError and find_spec finds
# nothing, as if they were not installed.
HIDE_AND_RUN = """
import runpy, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# A folder nobody can create files in, root included (CI runs as root, where a chmod-ed folder
# stays writable): sysfs refuses new files to everyone.
UNWRITABLE = "/sys"


def png_declaring(width, height, data=bytes(64)):
    """A well-formed PNG (8-bit RGB) whose header declares width x height pixels but whose
    image data is zlib(`data`): a tiny file a decoder would allocate in full for."""
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))


def radiance_hdr(width, height, rows=None):
    """A run-length Radiance .hdr declaring width x height (width 8..32767): `rows` scanlines
    (default all) of one grey, 4 x ceil(width / 127) runs each (~0.6 kB per row at width
    10000), which OpenCV decodes to float32 [height, width, 3]."""
    runs = []
    for left in range(width, 0, -127):
        runs.append(bytes([128 + min(127, left), 128]))
    row = bytes([2, 2, width >> 8, width & 255]) + b"".join(runs) * 4
    return (f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
            + row * (height if rows is None else rows))


def y_by_hand(rgb):
    """MATLAB rgb2ycbcr luma (BT.601, 16..235) of a float RGB image in [0, 255], written out
    here independently of data.colour.rgb_to_y."""
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def not_blank(png):
    """The PNG file holds a picture: readable and not one flat colour."""
    img = cv2.imread(str(png))
    return img is not None and img.std() > 10


def child_env(unset=(), **variables):
    """The environment of a Python subprocess of a test: this process's, less the names in
    `unset`, plus `variables`, with the repository first on PYTHONPATH. tools/ and
    benchmarks/ import the installed package (pip install -e .); this makes the child import
    the tree under test (this clone or worktree) even when another checkout is installed."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(variables)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_tool(tool, *args, cwd=None, check=True, timeout=600, without=(), env=None):
    """Run tools/<tool>.py as a user would, on the tree under test (child_env); returns the
    CompletedProcess (text output). `without`: names of packages to hide, as if they were not
    installed; `env`: variables added to the environment."""
    command = [str(ROOT / "tools" / f"{tool}.py"), *map(str, args)]
    if without:
        command = ["-c", HIDE_AND_RUN, ",".join(without), *command]
    proc = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout,
                          env=child_env(**{"PYTHONWARNINGS": "ignore", **(env or {})}))
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def parity_npz():
    if not PARITY_NPZ.is_file():
        pytest.fail(f"parity fixture missing: {PARITY_NPZ} (is this a complete checkout?)")
    return PARITY_NPZ


def require(module, install):
    """Import an optional dependency; skip the test when it is missing, except in CI
    (CI=true, set by the CI runner), where .ci/run installs it and its absence is a failure."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed ({install})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; .ci/run must install it")
        pytest.skip(message)


# The tiny training run of the trainer and GAN tests: iterations of its two phases
ITERS = (6, 6)  # mse, gan


@pytest.fixture(scope="session")
def train_images(tmp_path_factory):
    """Four small natural images (skimage's bundled data) as a training folder."""
    import skimage.data
    folder = tmp_path_factory.mktemp("train_hr")
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        img = getattr(skimage.data, name)()[:96, :128, :3]
        cv2.imwrite(str(folder / f"{name}.png"), img[..., ::-1])
    return folder


def tiny_config(tmp_path, train_images, **extra):
    cfg = {
        "experiment": "tiny", "output_dir": str(tmp_path / "runs"), "data_root": str(ROOT / "data"),
        "seed": 7, "device": "cpu",
        "network_g": {"type": "SRResNet", "num_feat": 8, "num_block": 2},
        "network_d": {"type": "Discriminator", "num_feat": 8, "fc_size": 16},
        "vgg": {"layer": "relu1_2", "weights": "none"},
        "datasets": {
            "train": {"type": "hr_only", "hr_dir": str(train_images), "hr_crop": 32,
                      "patches_per_image": 2, "num_workers": 0},
            "val": {"hr_dir": str(SET5 / "HR"), "max_images": 2},
        },
        "train": {"batch_size": 2, "log_interval": 2, "val_interval": 4, "save_interval": 3,
                  "keep_last": 2, "num_samples": 1, "sample_crop": 32,
                  "phases": [{"name": "mse", "iters": ITERS[0], "lr": 1e-3},
                             {"name": "gan", "iters": ITERS[1], "lr": 1e-3,
                              "lr_milestones": [3]}]},
    }
    for key, value in extra.items():
        section = cfg
        *parents, last = key.split(".")
        for p in parents:
            section = section.setdefault(p, {})
        section[last] = value
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# Tiny widths for the generators of the model table, by constructor keyword: a generator
# takes those it has (test_export checks that each then stays tiny).
TINY_SIZES = {"num_feat": 8, "num_block": 1, "depth": 1, "num_grow_ch": 4, "num_conv": 2}
TINY_MAX_PARAMETERS = 50_000


def tiny_kwargs(name):
    """The TINY_SIZES keywords that generator type `name` takes."""
    import inspect

    from paddle_srgan.models import GENERATORS
    params = inspect.signature(GENERATORS[name].__init__).parameters
    return {k: v for k, v in TINY_SIZES.items() if k in params}


def tiny_table_generator(name, seed=0, scale=4, in_channels=3, **options):
    """Generator type `name` of models.GENERATORS with tiny widths, seeded, in eval mode;
    `options`: more constructor keywords (e.g. upsampler)."""
    import paddle

    from paddle_srgan.models import build_model
    paddle.seed(seed)
    generator = build_model({"type": name, **tiny_kwargs(name), **options}, scale=scale,
                            in_channels=in_channels)
    generator.eval()
    return generator


# metadata.trained_for of a realworld config with Real-ESRGAN's ranges (the defaults), by hand
REAL_ESRGAN = ("realworld: JPEG q30-95, noise sigma 1-30 or Poisson x0.05-3, blur sigma 0.2-3, "
               "resize x0.15-1.5, two stages (realesrgan order)")


@pytest.fixture(scope="module")
def generator_exports(tmp_path_factory):
    """{type: {"generator", "weights", "config", "prefix", "onnx"}} for every generator of the
    model table (tiny, RGB, x4): weights and a config for tools/*.py -c/--weights, exported
    once per test module in-process as tools/export.py exports (its metadata: trained for
    the config's realworld degradations), with <prefix>.onnx when paddle2onnx works here
    (else "onnx" is None)."""
    import paddle

    from paddle_srgan.config import load_config
    from paddle_srgan.deploy import export
    from paddle_srgan.models import GENERATORS
    folder = tmp_path_factory.mktemp("generators")
    try:
        onnx = export.onnx_available() and bool(__import__("paddle2onnx"))
    except Exception:  # paddle2onnx 2.x beside Paddle 2.6 refuses to import
        onnx = False
    exports = {}
    for name in GENERATORS:
        generator = tiny_table_generator(name)
        weights = folder / f"{name}.pdparams"
        paddle.save(generator.state_dict(), str(weights))
        config = folder / f"{name}.yml"
        config.write_text(yaml.safe_dump({"network_g": {"type": name, **tiny_kwargs(name)},
                                          "device": "cpu",
                                          "datasets": {"train": {"type": "realworld"}}}))
        prefix = folder / "exported" / name
        export.export_generator(generator, prefix,
                                export.provenance(load_config(config), str(weights)),
                                onnx_opset=11 if onnx else None)
        exports[name] = {"generator": generator, "weights": weights, "config": config,
                         "prefix": prefix, "onnx": f"{prefix}.onnx" if onnx else None}
    return exports


# ------------------------------------------------------ one finished tiny training run
def generator_weights(run_dir):
    """The run's final generator (gan_G.pdparams) as numpy arrays."""
    state = import_paddle().load(str(run_dir / "checkpoints" / "gan_G.pdparams"))
    return {k: v.numpy() for k, v in state.items()}


def assert_same_weights(a, b):
    import numpy as np
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def vdl_steps(run_dir, tag):
    """The steps VisualDL recorded for scalar `tag` in the run's vdl/ files."""
    import glob

    from visualdl import LogReader
    steps = []
    for f in sorted(glob.glob(str(run_dir / "vdl" / "vdlrecords*"))):
        steps += [r.id for r in LogReader(file_path=f).get_data("scalar", tag)]
    return steps


@pytest.fixture(scope="session")
def straight_run(tmp_path_factory, train_images):
    """(run dir, tools/train.py output) of the tiny config trained without interruption: what
    the resume tests must end with."""
    tmp = tmp_path_factory.mktemp("straight")
    config = tiny_config(tmp, train_images)
    out = run_tool("train", "-c", config)
    return tmp / "runs" / "tiny", out


def best_record(run_dir):
    import json
    return json.loads((run_dir / "checkpoints" / "best.json").read_text())


def paddle_key(key):
    """Paddle's name of a PyTorch BatchNorm statistic; other names are the same."""
    return key.replace("running_mean", "_mean").replace("running_var", "_variance")


def load_torch_state(model, state):
    """`model` with the PyTorch `state` (name: numpy array) set strictly: BN statistics
    renamed, Linear weights transposed (Paddle: [in, out]), PReLU slopes as Paddle's
    `_weight`."""
    from paddle_srgan.models.state import load_state_strict
    own = model.state_dict()
    out = {}
    for key, value in state.items():
        key = paddle_key(key)
        if key not in own and key.endswith(".weight"):  # PReLU: body.N._weight
            key = key[:-len("weight")] + "_weight"
        if key.startswith("linear") and key.endswith(".weight"):
            value = value.T
        out[key] = value.astype(np.float32)
    return load_state_strict(model, out, "fixture")


def natural(name, h, w, y=0, x=0):
    """uint8 [h, w, 3] crop of a skimage sample photo (real image statistics, no download)."""
    img = getattr(skdata, name)()
    assert img.shape[0] >= y + h and img.shape[1] >= x + w
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def to_uint8(chw):
    """float32 [C, H, W] in [0, 1] -> uint8 [H, W, C] (inverse of to_chw_float)."""
    return np.round(chw.transpose(1, 2, 0) * 255).astype(np.uint8)


def nearest_pair(lr, scale):
    """(HR, LR) where HR = LR with every pixel repeated scale x scale times, so the two are
    aligned exactly: HR[y*s:(y+1)*s, x*s:(x+1)*s] == LR[y, x]."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1), lr
