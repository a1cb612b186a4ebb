"""ONNX deployment: paddle2onnx export of every generator type of the model table,
onnxruntime against the Paddle predictor and eager (dynamic sizes), an export that installs
nothing, and tools/infer.py --model X.onnx with Paddle unavailable."""
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan.compat import paddle_version
from paddle_srgan.deploy import export, predictor
from paddle_srgan.deploy.metadata import ExportError
from paddle_srgan.deploy.onnx_runner import ORT_MISSING, OnnxRunner
from paddle_srgan.models import GENERATORS, SRResNet, final_level

from conftest import ROOT, child_env, require, run_tool

P2O_INSTALL = ('pip install -e ".[onnx]"' if paddle_version() >= (3, 0)
               else 'pip install "paddle2onnx<2" onnxruntime')
# onnxruntime vs paddle.inference and vs eager, outputs of [0, 1] inputs: as test_export's
# EXPORT_MAX_DIFF (float32 sums in another order per backend; measured at most 6.1e-6, tiny
# random SRResNet; MSRResNet 6e-8, LapSRN 5e-7; both Paddle versions).
MAX_DIFF = 1e-4
# Two sizes and batch sizes per model: the graph's N, h and w must be dynamic.
SHAPES = [(1, 17, 23), (2, 32, 24)]
TINY_YML = "network_g: {type: SRResNet, num_feat: 8, num_block: 2}\ndevice: cpu\n"


@pytest.fixture(scope="module")
def onnx_exports(generator_exports):
    """conftest.generator_exports (every generator type of the model table, exported with
    .onnx), once paddle2onnx and onnxruntime are known to be here."""
    require("paddle2onnx", P2O_INSTALL)
    require("onnxruntime", P2O_INSTALL)
    assert all(e["onnx"] for e in generator_exports.values())
    return generator_exports


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_onnxruntime_matches_the_paddle_predictor_and_eager(onnx_exports, name):
    exported = onnx_exports[name]
    generator = exported["generator"]
    ort_runner = OnnxRunner(exported["onnx"], threads=2)
    paddle_runner = predictor.create_predictor(exported["prefix"], "cpu", 2)
    assert ort_runner.info == paddle_runner.info
    rng = np.random.default_rng(0)
    for n, h, w in SHAPES:
        lr = rng.random((n, paddle_runner.info.in_channels, h, w), dtype=np.float32)
        got, expected = ort_runner.run(lr), paddle_runner.run(lr)
        eager = final_level(generator(paddle.to_tensor(lr))).numpy()
        assert got.shape == expected.shape == (n, paddle_runner.info.out_channels, 4 * h, 4 * w)
        diffs = {"predictor": float(np.abs(got - expected).max()),
                 "eager": float(np.abs(got - eager).max())}
        print(f"{name} paddle {paddle.__version__} {list(lr.shape)}: max |ort - predictor| = "
              f"{diffs['predictor']:.1e}, max |ort - eager| = {diffs['eager']:.1e}")
        assert max(diffs.values()) <= MAX_DIFF, diffs


# Run in a fresh process (a module Polygraphy loaded earlier in the test process would not
# need installing): hides onnx_graphsurgeon, records every subprocess and os.system command
# (pip ones are replaced by a failing no-op, never run), exports a tiny MSRResNet with ONNX
# and prints what it saw as JSON.
EXPORT_WATCHING_INSTALLS = """
import importlib.metadata, json, os, subprocess, sys
sys.modules["onnx_graphsurgeon"] = None  # "not installed": Polygraphy would want it
os.environ.pop("POLYGRAPHY_AUTOINSTALL_DEPS", None)
commands = []
real_popen = subprocess.Popen
class RecordingPopen(real_popen):
    def __init__(self, args, *rest, **kwargs):
        commands.append(args if isinstance(args, str) else [str(a) for a in args])
        if "pip" in str(args):
            args = [sys.executable, "-c", "raise SystemExit(1)"]
        super().__init__(args, *rest, **kwargs)
subprocess.Popen = RecordingPopen
real_system = os.system
os.system = lambda command: commands.append(command) or 1
def distributions():
    return sorted([d.metadata["Name"], d.version] for d in importlib.metadata.distributions())
before = distributions()
from paddle_srgan.compat import import_paddle
paddle = import_paddle()
from paddle_srgan.deploy import export
from paddle_srgan.models import MSRResNet
paddle.seed(0)
export.export_generator(MSRResNet(num_feat=8, num_block=1), sys.argv[1], onnx_opset=11)
print(json.dumps({"commands": commands, "same_distributions": distributions() == before,
                  "polygraphy_env": os.environ.get("POLYGRAPHY_AUTOINSTALL_DEPS"),
                  "onnx_bytes": os.path.getsize(sys.argv[1] + ".onnx")}))
"""


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_loading_an_onnx_export_prints_nothing(onnx_exports, name, capfd):
    """onnxruntime logged a warning for each initializer paddle2onnx leaves unused (MSRResNet:
    four lines on stderr before every result or error line of infer and the page); loading
    prints nothing, and a model onnxruntime cannot load is still one ExportError."""
    capfd.readouterr()
    OnnxRunner(onnx_exports[name]["onnx"], threads=1)
    assert capfd.readouterr().err == ""


def test_onnx_export_installs_nothing(onnx_exports, tmp_path):
    """paddle2onnx 2.x's default Polygraphy pass set POLYGRAPHY_AUTOINSTALL_DEPS=1 and
    pip-installed onnx_graphsurgeon, sympy and onnxruntime from the internet during an export.
    With a package Polygraphy needs made unimportable (so that pass, if it ran, would start
    pip): no subprocess runs pip, the installed distributions (importlib.metadata) are the
    same after the export, and the environment variable is not left set."""
    proc = subprocess.run([sys.executable, "-c", EXPORT_WATCHING_INSTALLS,
                           str(tmp_path / "msrresnet")], capture_output=True, text=True,
                          timeout=600, env=child_env(PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [c for c in seen["commands"] if "pip" in str(c)], seen["commands"]
    assert seen["same_distributions"] and seen["polygraphy_env"] is None
    assert seen["onnx_bytes"] > 0


def test_a_paddle2onnx_failure_is_a_one_line_export_error(onnx_exports, tmp_path, monkeypatch):
    """paddle2onnx 2.x reports a conversion error by sys.exit(-1) (exit code 255, nothing
    written, the earlier export gone); it becomes an ExportError and no export is swapped in."""
    import paddle2onnx

    def failing_export(*args, **kwargs):
        raise SystemExit(-1)
    monkeypatch.setattr(paddle2onnx, "export", failing_export)
    prefix = tmp_path / "m"
    with pytest.raises(ExportError, match=r"paddle2onnx could not convert m\.(json|pdmodel) "
                                          r"to ONNX"):
        export.export_generator(onnx_exports["MSRResNet"]["generator"], prefix, onnx_opset=11)
    assert list(tmp_path.iterdir()) == []


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
    console = run_tool("export", "-c", folder / "tiny.yml", "--weights", weights, "--out",
                       prefix, "--onnx", env={"PYTHONWARNINGS": ""})  # as a user sees it
    images = folder / "images"
    images.mkdir()
    rgb = cv2.imread(str(ROOT / "data" / "benchmarks" / "Set5" / "LR_bicubic" / "X4" /
                         "woman.png"))
    cv2.imwrite(str(images / "rgb.png"), rgb)
    cv2.imwrite(str(images / "gray16.png"),
                cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(images / "rgba.png"), np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    return {"prefix": prefix, "images": images, "folder": folder, "console": console}


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


def test_export_and_onnx_inference_print_only_their_own_lines(cli_export, tmp_path):
    """No library chatter on a user's console: Paddle's glog lines from jit.save,
    paddle2onnx's progress and its hidden staging path, onnxruntime's one warning per unused
    constant (the graph has none left)."""
    prefix, console = cli_export["prefix"], cli_export["console"]
    assert console.stderr == ""
    (line,) = console.stdout.splitlines()
    assert line.startswith("wrote tiny_x4.") and f"tiny_x4.onnx to {prefix.parent} (" in line
    proc = run_tool("infer", "--model", f"{prefix}.onnx", "--input",
                    cli_export["images"] / "rgb.png", "--output", tmp_path,
                    env={"PYTHONWARNINGS": ""})
    assert [line for line in re.split(r"[\r\n]", proc.stderr)
            if line.strip() and not line.startswith("super-resolving")] == []
    assert proc.stdout.splitlines() == ["model trained for: bicubic (clean)",
                                        f"wrote 1 image(s) to {tmp_path}"]
    if paddle_version() >= (3, 0):  # paddle2onnx 2.x (which brings onnx) left dead constants
        import onnx
        graph = onnx.load(f"{prefix}.onnx").graph
        read = {name for node in graph.node for name in node.input}
        assert all(read.intersection(node.output) or graph.output[0].name in node.output
                   for node in graph.node)


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


# Loads a runner, then limits the process's address space to what it has mapped plus 300 MB
# and runs it on an 800x800 LR image (about 2 GB for the tiny model): a real allocation
# failure inside the runtime, on any machine, quickly.
OUT_OF_MEMORY_CHILD = """
import resource, sys
import numpy as np
from paddle_srgan.deploy.runners import load_runner
runner = load_runner(model=sys.argv[1], device="cpu")
batch = np.zeros((1, 3, 800, 800), np.float32)
mapped = next(int(line.split()[1]) for line in open("/proc/self/status")
              if line.startswith("VmSize"))
limit = mapped * 1024 + 300 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    runner.run(batch)
except Exception as exc:
    print(type(exc).__name__, "|", str(exc))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_running_out_of_memory_is_one_line_naming_tile(cli_export):
    """onnxruntime and the Paddle predictor fail to allocate with their own multi-line
    messages (a C++ trace, 'std::exception'): one line naming --tile."""
    for model, backend in ((f"{cli_export['prefix']}.onnx", "onnxruntime"),
                           (cli_export["prefix"], "Paddle inference predictor")):
        proc = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY_CHILD, str(model)],
                              capture_output=True, text=True, timeout=300, env=child_env())
        (line,) = proc.stdout.strip().splitlines()
        assert line.startswith(f"RunnerOutOfMemory | {backend} ran out of memory on a 800x800 "
                               f"input ("), line
        assert line.endswith("); run it in tiles: --tile 256 (or smaller)"), line


def limit_address_space(size):
    """A preexec_fn: the child may map at most `size` bytes (ulimit -v)."""
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (size, size))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_infer_tiles_by_itself_when_a_whole_image_would_not_fit(onnx_exports, cli_export,
                                                                tmp_path):
    """A 600x600 LR image at once needs over a GB with onnxruntime (tiny MSRResNet); under a
    1.5 GB address-space limit tools/infer.py failed. It now measures the model's memory per
    pixel on a small probe, says so and runs in tiles, which give the untiled result."""
    big = cv2.resize(cv2.imread(str(cli_export["images"] / "rgb.png")), (600, 600))
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "big.png"), big)
    onnx_model = onnx_exports["MSRResNet"]["onnx"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "infer.py"), "--model", onnx_model, "--input",
         tmp_path / "in", "--output", tmp_path / "sr"], capture_output=True, text=True,
        timeout=300, preexec_fn=limit_address_space(1500 * 2**20), env=child_env())
    assert proc.returncode == 0, proc.stderr
    note = next(line for line in proc.stderr.replace("\r", "\n").splitlines()
                if "at once needs about" in line)
    assert re.fullmatch(rf"{re.escape(str(tmp_path / 'in' / 'big.png'))}: 600x600 at once "
                        rf"needs about \d+\.\d GB, more than half of the memory available: "
                        rf"tiles of \d+ \(--tile sets them\)", note.strip()), note
    # tiles with the receptive field as context give the untiled output: test_export.py
    assert cv2.imread(str(tmp_path / "sr" / "big_x4.png")).shape == (2400, 2400, 3)
