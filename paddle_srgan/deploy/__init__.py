"""Deployment: everything a trained generator needs to run outside training. Imports nothing
from `engine/` (a deployed model needs no trainer); this file imports nothing, so the Paddle-free
modules stay Paddle-free.

    metadata.py     the export's `.yml`, ModelInfo, the runner interface    (no Paddle)
    tiling.py       upscale / super_resolve_image with any runner, tiled   (no Paddle)
    suitability.py  JPEG blocking in an input of a model for clean LR      (no Paddle)
    onnx_runner.py  onnxruntime behind the runner interface                (no Paddle)
    introspect.py   receptive field radius, the exported full-scale layer
    export.py       writing an export (paddle.jit, atomic swap) and its ONNX conversion
    predictor.py    reading an export on Paddle 2.6 / 3.x: jit.load, Predictor, LayerRunner
    runners.py      --model PREFIX | X.onnx | -c CONFIG --weights W -> a runner
    app.py          the Gradio page (Upscaler without Gradio; build_page, serve)
"""
