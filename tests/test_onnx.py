"""ONNX deployment: paddle2onnx export of SRResNet and LapSRN, onnxruntime against the Paddle
predictor (dynamic sizes), and tools/infer.py --model X.onnx with Paddle unavailable."""

import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan.compat import paddle_version
from paddle_srgan.deploy import export, predictor
from paddle_srgan.deploy.onnx_runner import ORT_MISSING, OnnxRunner
from paddle_srgan.models import LapSRN, SRResNet

from conftest import ROOT, require, run_tool

P2O_INSTALL = ('pip install -e ".[onnx]"' if paddle_version() >= (3, 0)
               else 'pip install "paddle2onnx<2" onnxruntime')
MAX_DIFF = 1e-4  # onnxruntime vs paddle.inference, outputs of [0, 1] inputs
# Two sizes and batch sizes per model: the graph's N, h and w must be dynamic.
SHAPES = [(1, 17, 23), (2, 32, 24)]
MODELS = {  # the papers' classes with tiny widths
    "srresnet": lambda: SRResNet(num_feat=8, num_block=2),
    "lapsrn": lambda: LapSRN(in_channels=3, num_feat=8, depth=2),
}
TINY_YML = "network_g: {type: SRResNet, num_feat: 8, num_block: 2}\ndevice: cpu\n"


@pytest.fixture(scope="module")
def onnx_exports(tmp_path_factory):
    """{name: export prefix} with <prefix>.onnx, written by export_onnx."""
    require("paddle2onnx", P2O_INSTALL)
    require("onnxruntime", P2O_INSTALL)
    folder = tmp_path_factory.mktemp("onnx")
    prefixes = {}
    for name, make in MODELS.items():
        paddle.seed(0)
        generator = make()
        prefix = folder / name
        export.export_generator(generator, prefix)
        assert export.export_onnx(prefix) == str(prefix) + ".onnx"
        prefixes[name] = prefix
    return prefixes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnxruntime_matches_the_paddle_predictor(onnx_exports, name):
    prefix = onnx_exports[name]
    ort_runner = OnnxRunner(str(prefix) + ".onnx", threads=2)
    paddle_runner = predictor.create_predictor(prefix, "cpu", 2)
    assert ort_runner.info == paddle_runner.info
    rng = np.random.default_rng(0)
    for n, h, w in SHAPES:
        lr = rng.random((n, paddle_runner.info.in_channels, h, w), dtype=np.float32)
        got, expected = ort_runner.run(lr), paddle_runner.run(lr)
        assert got.shape == expected.shape == (n, paddle_runner.info.out_channels, 4 * h, 4 * w)
        diff = float(np.abs(got - expected).max())
        print(f"{name} paddle {paddle.__version__} {list(lr.shape)}: max |ort - paddle| = "
              f"{diff:.2e}")
        assert diff <= MAX_DIFF


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory):
    """A tiny SRResNet exported with tools/export.py --onnx, and LR images in three layouts."""
    require("paddle2onnx", P2O_INSTALL)
    require("onnxruntime", P2O_INSTALL)
    folder = tmp_path_factory.mktemp("cli")
    paddle.seed(0)
    weights = folder / "w.pdparams"
    paddle.save(SRResNet(num_feat=8, num_block=2).state_dict(), str(weights))
    (folder / "tiny.yml").write_text(TINY_YML)
    prefix = folder / "exported" / "tiny_x4"
    run_tool("export", "-c", folder / "tiny.yml", "--weights", weights, "--out", prefix, "--onnx")
    images = folder / "images"
    images.mkdir()
    rgb = cv2.imread(str(ROOT / "data" / "benchmarks" / "Set5" / "LR_bicubic" / "X4" /
                         "woman.png"))
    cv2.imwrite(str(images / "rgb.png"), rgb)
    cv2.imwrite(str(images / "gray16.png"),
                cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(images / "rgba.png"), np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    return {"prefix": prefix, "images": images, "folder": folder}


# what tools/infer.py writes for the three inputs of cli_export (woman.png, 57x86 LR)
LAYOUTS = {"rgb": ((344, 228, 3), np.uint8), "gray16": ((344, 228), np.uint16),
           "rgba": ((344, 228, 4), np.uint8)}


def test_infer_runs_onnx_without_paddle_like_the_predictor(cli_export, tmp_path):
    prefix, images = cli_export["prefix"], cli_export["images"]
    common = ["--input", images, "--tile", 32, "--threads", 2]
    proc = run_tool("infer", "--model", f"{prefix}.onnx", "--output", tmp_path / "onnx",
                    *common, without=["paddle"], check=False)
    assert proc.returncode == 0, proc.stderr
    run_tool("infer", "--model", prefix, "--output", tmp_path / "paddle", *common)
    for name in ("rgb", "gray16", "rgba"):
        got = cv2.imread(str(tmp_path / "onnx" / f"{name}_x4.png"), cv2.IMREAD_UNCHANGED)
        expected = cv2.imread(str(tmp_path / "paddle" / f"{name}_x4.png"), cv2.IMREAD_UNCHANGED)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert (got.shape, got.dtype) == LAYOUTS[name]  # the input's layout and depth kept
        # float rounding of two backends may flip a pixel across a quantisation step
        assert np.abs(got.astype(np.int64) - expected).max() <= (257 if name == "gray16" else 1)


def test_onnx_problems_are_one_line_errors(cli_export, tmp_path):
    prefix = cli_export["prefix"]
    lone = tmp_path / "lone.onnx"  # copied without its .yml
    lone.write_bytes(open(f"{prefix}.onnx", "rb").read())
    args = ["--input", cli_export["images"] / "rgb.png", "--output", tmp_path / "out"]
    proc = run_tool("infer", "--model", lone, *args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {tmp_path / 'lone.yml'}: export metadata missing "
                                   f"(tools/export.py writes it beside the model; re-export)")
    proc = run_tool("infer", "--model", f"{prefix}.onnx", *args, without=["onnxruntime"],
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {ORT_MISSING}"
