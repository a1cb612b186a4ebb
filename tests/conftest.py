"""Shared fixtures: repo paths, the test data (all inside the repository), helpers."""
import os
import subprocess
import sys
import warnings
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

warnings.filterwarnings("ignore", message="No ccache found")


def read_rgb(path):
    """uint8 [H, W, 3] RGB of an image file, read independently of paddle_srgan.data.io."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cannot read {path}"
    return img[:, :, ::-1].copy()


def run_tool(tool, *args, cwd=None, check=True, timeout=600):
    """Run tools/<tool>.py as a user would; returns the CompletedProcess (text output)."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / f"{tool}.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout,
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


def blocked_modules_path(folder, *names):
    """A folder to put first on PYTHONPATH so that importing any of `names` fails, as if that
    package were not installed; returns it as a string."""
    for name in names:
        package = Path(folder) / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ImportError('{name} is blocked by the test (as if not installed)')\n")
    return str(folder)
