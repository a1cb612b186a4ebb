"""Shared fixtures: repo paths, the test data (all inside the repository), helpers."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from paddle_srgan.compat import import_paddle

import_paddle()  # before any test module's `import paddle`: cv2 first, MKL settings

ROOT = Path(__file__).resolve().parents[1]
SET5 = ROOT / "data" / "benchmarks" / "Set5"
FIXTURES = ROOT / "tests" / "fixtures"
# PyTorch SRResNet weights, input and outputs (tests/fixtures/srresnet_sgrvinod.md)
PARITY_NPZ = FIXTURES / "srresnet_sgrvinod.npz"


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


def y_by_hand(rgb):
    """MATLAB rgb2ycbcr luma (BT.601, 16..235) of a float RGB image in [0, 255], written out
    here independently of metrics.rgb_to_y."""
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def not_blank(png):
    """The PNG file holds a picture: readable and not one flat colour."""
    img = cv2.imread(str(png))
    return img is not None and img.std() > 10


def run_tool(tool, *args, cwd=None, check=True, timeout=600, without=()):
    """Run tools/<tool>.py as a user would; returns the CompletedProcess (text output).
    `without`: names of packages to hide, as if they were not installed."""
    command = [str(ROOT / "tools" / f"{tool}.py"), *map(str, args)]
    if without:
        command = ["-c", HIDE_AND_RUN, ",".join(without), *command]
    proc = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
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
