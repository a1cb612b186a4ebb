"""Loading an export with Paddle (2.6 or 3.x) and running it: the export's files, `jit.load`,
the paddle.inference `Predictor`, and `LayerRunner` for dygraph or jit-loaded layers. Both
runners have `.info` (a `metadata.ModelInfo`) and `.run(lr [N,C,h,w] float32 in [0,1]) ->
np.ndarray [N,C,h*s,w*s] in info.output_range`.

An export is a prefix (`exported/srgan_x4`) naming up to four files:

    <prefix>.json       program, Paddle 3.x (PIR)          } one of the two, whatever the
    <prefix>.pdmodel    program, Paddle 2.6 (ProgramDesc)  } exporting Paddle writes
    <prefix>.pdiparams  weights
    <prefix>.yml        metadata (scale, channels, value ranges, receptive field, provenance)

Paddle version behaviour handled here (measured with 2.6.2 and 3.3.1; writing: `export`):
* 2.6 cannot read `.json` at all: jit.load says the file is missing, the predictor segfaults.
* 3.x reads a 2.6 `.pdmodel` in the predictor; its jit.load only inside DygraphOldIrGuard.
* 3.x's predictor plans memory itself (enable_memory_optim raises "Not find ...
  memory_optimize_pass"); 2.6 needs enable_memory_optim (510x339 LR: 10.4 GB -> 3.4 GB).
* 3.3's oneDNN conv + leaky_relu fuse pass segfaults (LapSRN); the predictor drops that pass.
"""
import contextlib
import os

from ..compat import default_cpu_threads, import_paddle, paddle_version, resolve_device
from ..errors import first_line
from ..models import final_level
from .metadata import (
    META_SUFFIX,
    ExportError,
    ModelInfo,
    check_batch,
    read_metadata_file,
    run_guarded,
)

paddle = import_paddle()

MODEL_SUFFIXES = (".json", ".pdmodel")  # preference order when both exist (3.x reads both)
PARAMS_SUFFIX = ".pdiparams"
# Every file an export may consist of (2.6 also writes `.pdiparams.info`).
EXPORT_SUFFIXES = MODEL_SUFFIXES + (PARAMS_SUFFIX, PARAMS_SUFFIX + ".info", META_SUFFIX, ".onnx")
ONEDNN_SHAPE_CACHE = 4  # input shapes whose oneDNN kernels the CPU predictor keeps


def present_files(prefix):
    """(program file, params file) at `prefix`, whichever program format is there."""
    params = prefix + PARAMS_SUFFIX
    found = [prefix + s for s in MODEL_SUFFIXES if os.path.isfile(prefix + s)]
    if not found or not os.path.isfile(params):
        hint = ""
        if os.path.isdir(prefix):
            stems = sorted({os.path.join(prefix, n[:-len(PARAMS_SUFFIX)])
                            for n in os.listdir(prefix) if n.endswith(PARAMS_SUFFIX)})
            hint = f"; that is a folder, give the prefix, e.g. {stems[0]}" if stems else ""
        raise ExportError(f"exported model not found: {prefix} (expected {prefix}.json or "
                          f"{prefix}.pdmodel and {params}, as tools/export.py writes){hint}")
    return found[0], params


def model_files(prefix):
    """(program file, params file) of the export at `prefix` that this Paddle can read."""
    prefix = os.fspath(prefix)
    model_file, params_file = present_files(prefix)
    if model_file.endswith(".json") and paddle_version() < (3, 0):
        # Paddle 2.6 cannot read 3.x PIR programs (its predictor segfaults on them).
        if os.path.isfile(prefix + ".pdmodel"):
            return prefix + ".pdmodel", params_file
        raise ExportError(f"{model_file}: exported by Paddle 3.x (PIR program), which Paddle "
                          f"{paddle.__version__} cannot read; re-export with this Paddle "
                          f"(tools/export.py) or run inference with Paddle 3.x")
    return model_file, params_file


def read_metadata(prefix):
    """The `<prefix>.yml` dict written by export_generator (the export must exist)."""
    prefix = os.fspath(prefix)
    present_files(prefix)
    return read_metadata_file(prefix + META_SUFFIX)


DAMAGED_EXPORT = "the files are damaged or not from tools/export.py: re-export"


def check_program_desc(path):
    """ExportError unless the `.pdmodel` at `path` parses as a ProgramDesc with a block:
    Paddle 2.6.2's and 3.3.1's predictors and jit.load segfault on a garbage or truncated
    one instead of raising (`.json` programs and `.pdiparams` raise; see reading_export)."""
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2  # the same module in 2.6.2 and 3.3.1
    program = framework_pb2.ProgramDesc()
    try:
        with open(path, "rb") as f:
            program.ParseFromString(f.read())
    except DecodeError:
        program.Clear()
    if not program.blocks:
        raise ExportError(f"{path}: not a Paddle program (ProgramDesc); {DAMAGED_EXPORT}")


@contextlib.contextmanager
def reading_export(files):
    """Loading the export `files` (program, params) with Paddle inside: a truncated or
    garbage `.pdiparams` / `.json` makes Paddle raise RuntimeError (or ValueError, OSError)
    with a C++ message of many lines, turned into one ExportError naming the files; a
    `.pdmodel` is parsed first (check_program_desc)."""
    if files[0].endswith(".pdmodel"):
        check_program_desc(files[0])
    try:
        yield
    except (RuntimeError, ValueError, OSError) as exc:
        reason = first_line(exc) or type(exc).__name__
        raise ExportError(f"{' / '.join(files)}: Paddle cannot load this export "
                          f"({reason:.200}); {DAMAGED_EXPORT}") from None


def load_exported(prefix):
    """paddle.jit.load of the export at `prefix`, in eval mode; call it like the generator."""
    prefix = os.fspath(prefix)
    files = model_files(prefix)
    with reading_export(files):
        if files[0].endswith(".pdmodel") and paddle_version() >= (3, 0):
            # Paddle 3.x's jit.load looks for a PIR .json only; with the old IR switched on
            # it loads a 2.6 program, and the loaded layer then runs in PIR mode too.
            with paddle.pir_utils.DygraphOldIrGuard():
                layer = paddle.jit.load(prefix)
        else:
            layer = paddle.jit.load(prefix)
    layer.eval()
    return layer


class LayerRunner:
    """A dygraph generator or a jit-loaded layer behind the runner interface.

    run(lr_batch float32 [N, C, h, w] in [0, 1]) -> np.ndarray [N, C_out, h*s, w*s] in
    info.output_range. The layer must be in eval mode.
    """

    backend = "Paddle dygraph"  # how pages and logs name it to people

    def __init__(self, layer, info):
        self.layer, self.info = layer, info

    def run(self, lr_batch):
        batch = check_batch(lr_batch, self.info.in_channels, "LayerRunner")
        def run(b):
            with paddle.no_grad():
                return final_level(self.layer(paddle.to_tensor(b))).numpy()
        return run_guarded(run, batch, self.backend, self.info)


class Predictor:
    """paddle.inference on an export: GPU, or CPU with oneDNN and `threads` threads.

    run(lr_batch float32 [N, C, h, w] in [0, 1]) -> np.ndarray [N, C_out, h*s, w*s] in
    info.output_range. Not thread-safe: one Predictor per thread.
    """

    backend = "Paddle inference predictor"

    def __init__(self, prefix, device="auto", threads=None):
        from paddle import inference

        self.meta = read_metadata(prefix)
        self.info = ModelInfo.from_meta(self.meta, os.fspath(prefix) + META_SUFFIX)
        files = model_files(prefix)
        config = inference.Config(*files)
        self.device = resolve_device(device)
        if self.device == "gpu":
            config.enable_use_gpu(256, 0)  # initial pool MB, device id; the pool grows
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or default_cpu_threads())
            # oneDNN kernels: ~1.6x faster than the default CPU kernels on SRResNet, outputs
            # within 1e-6. Paddle 3.x names it enable_onednn, 2.6 only enable_mkldnn.
            getattr(config, "enable_onednn", config.enable_mkldnn)()
            # oneDNN keeps kernels per input shape; unbounded, a folder of differently sized
            # photos grows memory by ~30 MB per size (3.3). Tiles share one shape per image.
            getattr(config, "set_onednn_cache_capacity", config.set_mkldnn_cache_capacity)(
                ONEDNN_SHAPE_CACHE)
            if paddle_version() >= (3, 0):
                # Paddle 3.x's PIR conv_activation_onednn_fuse_pass segfaults while building
                # the predictor when a conv feeds leaky_relu (LapSRN, MSRResNet); SRResNet's
                # PReLU is not fused by it, so dropping it costs nothing measurable.
                config.delete_pass("conv_activation_onednn_fuse_pass")
        if paddle_version() < (3, 0):
            config.enable_memory_optim()  # see the module docstring: 3.x rejects it
        config.disable_glog_info()
        with reading_export(files):  # the only place the predictor reads the files
            self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]

    def run(self, lr_batch):
        batch = check_batch(lr_batch, self.info.in_channels, "Predictor")
        def run(b):
            self._input.reshape(list(b.shape))
            self._input.copy_from_cpu(b)
            self._predictor.run()
            return self._predictor.get_output_handle(self._output_name).copy_to_cpu()
        return run_guarded(run, batch, self.backend, self.info)


def create_predictor(prefix, device="auto", threads=None):
    """A `Predictor` for the export at `prefix` (device: auto | cpu | gpu)."""
    return Predictor(prefix, device, threads)


__all__ = ["MODEL_SUFFIXES", "PARAMS_SUFFIX", "EXPORT_SUFFIXES", "present_files", "model_files",
           "read_metadata", "reading_export", "load_exported", "LayerRunner", "Predictor",
           "create_predictor"]
