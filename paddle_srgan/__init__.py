"""paddle-srgan: a PaddlePaddle reproduction of SRGAN (Ledig et al., CVPR 2017).

Importing the package is cheap on purpose (no paddle, no cv2): tools import only the
submodules they need, so `tools/train.py --help` answers instantly.
"""

__version__ = "0.1.0"
