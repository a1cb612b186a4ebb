"""paddle-srgan: SRGAN (Ledig et al., CVPR 2017) in PaddlePaddle.

Paddle is an extra, not a requirement: AI Studio images ship their own paddlepaddle-gpu and a
reinstall breaks them. Choose `pip install -e ".[cpu]"` or `".[gpu]"` elsewhere.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "paddle_srgan" / "__init__.py").read_text()).group(1)

setup(
    name="paddle-srgan",
    version=VERSION,
    description="Photo-realistic super-resolution (SRGAN, SRResNet) for PaddlePaddle 2.6 and 3.x",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["paddle_srgan", "paddle_srgan.*"]),
    # NIQE's pristine model (data, with its provenance)
    package_data={"paddle_srgan.metrics": ["niqe_pris_params.npz", "NOTICE.md"]},
    python_requires=">=3.8",
    # matplotlib draws the end-of-run curves.png
    install_requires=["numpy", "opencv-python", "pillow", "tqdm", "visualdl", "pyyaml",
                      "matplotlib"],
    extras_require={
        # paddlepaddle-gpu 2.6.2 (the only one on PyPI) is built against numpy 1.x
        "cpu": ["paddlepaddle>=2.6"],
        "gpu": ["paddlepaddle-gpu>=2.6"],
        # selenium drives Debian's chromium + chromedriver in tests/deploy/test_app.py
        "test": ["pytest", "scikit-image", "selenium", "ruff"],
        # tools/app.py (the web page); gradio brings gradio_client, which the tests drive it with
        "app": ["gradio>=6"],  # tested with 6.31
        # tools/export.py --onnx and tools/infer.py --model X.onnx (the latter needs no Paddle)
        "onnx": ["paddle2onnx", "onnxruntime"],
    },
    license="Apache-2.0",
)
