#!/usr/bin/env python
"""Serve a web page (Gradio) to try a model: upload an image, get it super-resolved, compare
it with bicubic on a slider, see the time it took, download the PNG.

Examples:
    python tools/app.py --model exported/srgan_x4                 # http://127.0.0.1:7860
    python tools/app.py --model exported/srgan_x4.onnx            # onnxruntime, no Paddle
    python tools/app.py -c configs/srgan.yml --weights best.pdparams --port 8080
    python tools/app.py --weights output/demo_x4/checkpoints/gan_G.pdparams  # the run's config
    python tools/app.py --model exported/srgan_x4 --share         # public link (notebooks)
    python tools/app.py --model exported/srgan_x4 --host 0.0.0.0  # other machines (AI Studio)

Needs Gradio: pip install -e ".[app]". Images are handled as by tools/infer.py (gray, RGBA and
16-bit come back in kind; the PNG download is what tools/infer.py writes); uploads larger than
--tile are processed in tiles. Stop it with Ctrl-C.
"""
import sys
from pathlib import Path

from paddle_srgan import cli


def main(argv=None):
    from paddle_srgan.deploy import app
    ap = cli.model_parser(__doc__, tile_default=app.DEFAULT_TILE)
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to serve on (0.0.0.0: reachable from other machines)")
    ap.add_argument("--port", type=cli.PORT, default=7860, help="port to serve on (default 7860)")
    ap.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    ap.add_argument("--max-pixels", type=cli.bounded(float, 1), default=app.DEFAULT_MAX_PIXELS,
                    help=f"largest upload in LR pixels, width x height (default "
                         f"{app.DEFAULT_MAX_PIXELS:.0f})")
    ap.add_argument("--max-file-mb", type=cli.bounded(float, 0, low_open=True),
                    default=app.DEFAULT_MAX_FILE_MB,
                    help=f"largest upload in MB (default {app.DEFAULT_MAX_FILE_MB})")
    args = ap.parse_args(argv)
    tile, tile_pad = cli.tiling_arguments(args)
    app.import_gradio()  # before loading a model: a missing extra is a one-line error at once
    app.check_port(args.host, args.port)

    from paddle_srgan.deploy.runners import load_runner
    runner = load_runner(**cli.runner_arguments(args))
    label = Path(args.model).name if args.model else Path(args.weights).name
    upscaler = app.Upscaler(runner, tile, tile_pad, int(args.max_pixels),
                            label=f"{label}, {runner.backend}")
    try:
        app.serve(upscaler, args.host, args.port, args.share, args.max_file_mb)
    finally:
        upscaler.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
