"""Open the model that a command line names, as a runner (see `metadata`):

    X.onnx                   -> onnx_runner.OnnxRunner (onnxruntime; Paddle is not imported)
    export prefix            -> predictor.Predictor (paddle.inference)
    [config +] weights file  -> predictor.LayerRunner over the dygraph generator (config:
                                by default the run's config.yml beside checkpoints/)

Shared by tools/infer.py and tools/app.py so both run a given model the same way.
"""
from ..errors import InputError
from .metadata import ModelInfo, trained_for
from .onnx_runner import OnnxRunner, is_onnx_model

MODEL_CHOICE = ("give either --model PREFIX (or X.onnx) or --weights FILE [-c CONFIG] (-c may "
                "be left out for weights in a training run's checkpoints/ folder)")


def check_model_choice(model, config, weights):
    """InputError unless exactly one of `model` and `weights` (with or without `config`) is
    given, and `config` only with `weights`."""
    if bool(model) == bool(weights) or config and not weights:
        raise InputError(MODEL_CHOICE)


def load_runner(model=None, config=None, overrides=(), weights=None, use_ema=False,
                device="auto", threads=None):
    """A runner for `model` (an export prefix or an .onnx file) or for `config` + `weights`.

    Args:
        model: export prefix written by tools/export.py, or its `.onnx` file.
        config, overrides: model config file and `-o key=value` overrides (with weights);
            config None: the config.yml of the training run the weights lie in.
        weights: generator weights (best.pdparams, a checkpoint, converted weights).
        use_ema: with weights, the EMA generator of a training checkpoint.
        device: auto | cpu | gpu (ONNX runs on the CPU only).
        threads: CPU threads; None = the cores this process may use.
    Raises:
        InputError when both or neither of model and weights are given; ConfigError without
        config for weights outside a run folder; WeightsMisfitError when they do not fit.
    """
    check_model_choice(model, config, weights)
    if model and is_onnx_model(model):
        if device == "gpu":
            raise InputError(f"--model {model}: ONNX models run on the CPU here (onnxruntime); "
                             f"use --device cpu or auto, or the Paddle export for the GPU")
        return OnnxRunner(model, threads)
    from . import predictor  # imports Paddle
    if model:
        return predictor.create_predictor(model, device, threads)
    from ..checkpoint import load_generator
    from ..compat import use_device
    from ..config import load_config, weights_config
    cfg = load_config(weights_config(config, weights), list(overrides))
    use_device(device, threads or 0)
    generator = load_generator(cfg, weights, use_ema, overrides)
    generator.eval()
    return predictor.LayerRunner(generator, ModelInfo.of(generator, trained_for(cfg)))
