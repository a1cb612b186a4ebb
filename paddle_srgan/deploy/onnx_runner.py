"""Run an ONNX export (`tools/export.py --onnx`) with onnxruntime on the CPU, without Paddle.

An ONNX deployment is two files: `<prefix>.onnx` (the graph: input `lr` float32 [N, C, h, w]
in [0, 1], N, h and w dynamic) and `<prefix>.yml` (the export metadata: scale, channels, output
range, receptive field). `OnnxRunner` has the runner interface of `metadata`, so tiling and
image handling (`tiling`) are those of the Paddle runners.
"""
import os

from ..compat import default_cpu_threads
from ..errors import MissingPackageError, first_line
from .metadata import (
    META_SUFFIX,
    ExportError,
    ModelInfo,
    check_batch,
    read_metadata_file,
    run_guarded,
)

ORT_MISSING = ("running an ONNX model needs onnxruntime, which is not installed: "
               "pip install onnxruntime (or paddle-srgan[onnx])")


def is_onnx_model(path):
    """True when `path` names an ONNX file (by its suffix)."""
    return os.fspath(path).lower().endswith(".onnx")


class OnnxRunner:
    """onnxruntime session behind the runner interface.

    run(lr_batch float32 [N, C, h, w] in [0, 1]) -> np.ndarray [N, C_out, h*s, w*s] in
    info.output_range. Safe to call from one thread at a time.
    """

    backend = "onnxruntime"

    def __init__(self, onnx_file, threads=None):
        onnx_file = os.fspath(onnx_file)
        if not os.path.isfile(onnx_file):
            raise ExportError(f"ONNX model not found: {onnx_file} (tools/export.py --onnx "
                              f"writes <out>.onnx)")
        meta_file = onnx_file[:-len(".onnx")] + META_SUFFIX
        self.meta = read_metadata_file(meta_file)
        self.info = ModelInfo.from_meta(self.meta, meta_file)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingPackageError(ORT_MISSING) from exc
        options = ort.SessionOptions()
        # onnxruntime's default is one thread per core; a thread count shared with other
        # processes (default_cpu_threads) matches what the Paddle predictor gets.
        options.intra_op_num_threads = threads or default_cpu_threads()
        # onnxruntime's arena keeps the largest run's buffers for the session's life and
        # rounds them up: an untiled 1000x1000 LR image peaked at 4.4 GB with it, 2.8 GB
        # without, and a page's memory now returns after a large upload
        options.enable_cpu_mem_arena = False
        # errors only: onnxruntime warns about every initializer paddle2onnx leaves unused
        # (MSRResNet: four lines before each result or one-line error of infer and the page);
        # a load that fails still raises, and becomes the ExportError below
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(onnx_file, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph classes
            raise ExportError(f"{onnx_file}: onnxruntime cannot load it "
                              f"({first_line(exc)})") from None
        self._input_name = self._session.get_inputs()[0].name

    def run(self, lr_batch):
        batch = check_batch(lr_batch, self.info.in_channels, "OnnxRunner")
        return run_guarded(lambda b: self._session.run(None, {self._input_name: b})[0], batch,
                           self.backend, self.info)
