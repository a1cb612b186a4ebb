"""A web page to try a model (Gradio): upload an image, get its super-resolution, a slider
comparison with bicubic, the time it took and a PNG download. `tools/app.py` only parses its
arguments and calls `serve`.

    upload (file path) --Upscaler.process--> Result: SR PNG file (as tools/infer.py writes it),
                                             8-bit previews (bicubic, SR), seconds, summary
    build_page(upscaler) -> gradio.Blocks; serve(...) launches it on a port

`Upscaler` holds everything but the page and needs no Gradio, so its behaviour is testable
alone; Gradio is imported only by `build_page` / `serve` (an optional extra: paddle-srgan[app]).
"""
import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.colour import to_uint8
from ..data.imresize import imresize
from ..data.io import image_size, read_image, write_image
from ..errors import InputError, MissingPackageError
from .metadata import CLEAN
from .suitability import REALWORLD_PRESETS, advice, jpeg_blocking
from .tiling import check_tiling, super_resolve_image, tile_padding, tiled

GRADIO_MISSING = ("tools/app.py needs Gradio, which is not installed: "
                  "pip install -e \".[app]\" (or pip install gradio)")
DEFAULT_MAX_PIXELS = 4_000_000  # LR pixels: a 2000x2000 upload becomes 8000x8000 at x4
DEFAULT_MAX_FILE_MB = 50
DEFAULT_TILE = 256  # LR pixels: bounds memory on free GPUs and CPUs; smaller images run whole
# Result folders kept on disk: Gradio copies each result into its own cache once the request
# ends, so only the latest few are still needed, and a page left running must not fill /tmp.
KEEP_RESULTS = 4
CACHE_MAX_AGE_S = 3600  # Gradio's copies of uploads and results are deleted after an hour


# Shown under the page's title: which uploads the model suits (docs/results.md: a model
# trained on clean bicubic LR gains nothing on JPEG-50 LR and sharpens its blocks)
CHOOSING = {CLEAN: ("This model is for clean, downscaled images; for JPEG photos from phones "
                    f"or the web use a model trained with {REALWORLD_PRESETS}."),
            "realworld": ("This model was trained on real-world degradations (blur, noise, "
                          "JPEG): for photos from phones or the web.")}


def choosing(trained_for):
    """The page's line on which uploads suit a model trained for `trained_for`
    (ModelInfo.trained_for); '' when its training LR was neither (paired files, not
    recorded)."""
    return CHOOSING.get(trained_for.split(":")[0], "")


class UploadError(InputError):
    """The upload cannot be processed; the message is shown on the page as it is."""


@dataclass
class Result:
    """One processed upload.

    png: path of the super-resolved PNG (input dtype and layout kept, as tools/infer.py);
    bicubic, sr: uint8 previews [H*s, W*s(, C)] for the comparison slider (16-bit shown as
    8-bit); seconds: network time incl. tiling; summary: one Markdown line for the page,
    and a second one when a model for clean input met JPEG blocking (suitability.advice).
    """

    png: str
    bicubic: np.ndarray
    sr: np.ndarray
    seconds: float
    summary: str


def to_preview(image):
    """uint8 copy of an integer image for display: 16-bit scaled to 8-bit, [H, W, 1] -> [H, W]."""
    image = to_uint8(np.asarray(image))
    return image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image


class Upscaler:
    """What the page does with an upload, without the page.

    Args:
        runner: a runner (see paddle_srgan.deploy.metadata), e.g. from runners.load_runner.
        tile, tile_pad: as tools/infer.py's --tile / --tile-pad (tile None: whole image;
            tile_pad None: the model's receptive field, tiled output = untiled output).
        max_pixels: largest accepted upload in LR pixels (width * height).
        out_dir: where result PNGs go (one sub-folder per request); None: a temporary folder.
        label: how the summary names the model.
    """

    def __init__(self, runner, tile=DEFAULT_TILE, tile_pad=None, max_pixels=DEFAULT_MAX_PIXELS,
                 out_dir=None, label="model"):
        check_tiling(tile, tile_pad)
        if max_pixels < 1:
            raise InputError(f"max_pixels must be >= 1, got {max_pixels}")
        self.runner, self.tile, self.tile_pad = runner, tile, tile_pad
        self.max_pixels, self.label = max_pixels, label
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="paddle_srgan_app_"))
        self._results = deque()
        # Runners are not thread-safe (paddle.inference predictors); Gradio may call from
        # several worker threads.
        self._lock = threading.Lock()

    def process(self, path):
        """Super-resolve the image file at `path`; returns a Result.

        Raises UploadError (readable, one line) for no file, a file that is not a supported
        image, or one larger than max_pixels; MemoryError is reported the same way.
        """
        if not path:
            raise UploadError("no image uploaded: choose or drop an image file first")
        name = Path(path).name
        # the size from the header first: a small file can declare a huge image, which
        # decoding would allocate in full
        h, w = self._read(image_size, path)
        if h * w > self.max_pixels:
            raise UploadError(f"{name} is {w}x{h} = {h * w:,} pixels; this page accepts at "
                              f"most {self.max_pixels:,} (--max-pixels): crop or shrink it, "
                              f"or use tools/infer.py")
        image = self._read(read_image, path, keep_gray=True, keep_alpha=True)
        start = time.perf_counter()
        try:
            with self._lock:
                sr = super_resolve_image(self.runner, image, self.tile, self.tile_pad)
        except MemoryError:
            raise UploadError(f"{name} ({w}x{h}) ran out of memory; restart the page with a "
                              f"smaller --tile") from None
        seconds = time.perf_counter() - start
        scale = self.runner.info.scale
        folder = self.out_dir / uuid.uuid4().hex
        png = folder / f"{Path(name).stem}_x{scale}.png"  # tools/infer.py's output name
        write_image(png, sr)
        with self._lock:
            self._results.append(folder)
            while len(self._results) > KEEP_RESULTS:
                shutil.rmtree(self._results.popleft(), ignore_errors=True)
        bicubic = imresize(image, scale)  # MATLAB bicubic, the literature's baseline
        summary = self._summary(image, sr, seconds)
        trained_for = self.runner.info.trained_for
        if trained_for == CLEAN:
            finding = jpeg_blocking(path, image)
            warning = advice(trained_for, [(name, finding)] if finding else [])
            summary += f"\n\n**{warning}**" if warning else ""
        return Result(str(png), to_preview(bicubic), to_preview(sr), seconds, summary)

    @staticmethod
    def _read(reader, path, **kwargs):
        """reader(path) with a failure as an UploadError in the uploader's words: the file's
        name, not the server's temporary path."""
        name = Path(path).name
        try:
            return reader(path, **kwargs)
        except (ValueError, OSError) as exc:  # ImageReadError is a ValueError
            reason = str(exc).replace(f"cannot read image {path}: ", "").replace(str(path), name)
            raise UploadError(f"{name} is not an image this page can read ({reason}); "
                              f"use PNG, JPEG, BMP, TIFF or WebP") from None

    def _summary(self, image, sr, seconds):
        h, w = image.shape[:2]
        layout = {1: "gray", 3: "RGB", 4: "RGBA"}[1 if image.ndim == 2 else image.shape[2]]
        bits = 16 if image.dtype == np.uint16 else 8
        tiling = "whole image"
        if tiled(self.tile, h, w):
            pad = tile_padding(self.runner.info, self.tile_pad)
            tiles = -(-h // self.tile) * -(-w // self.tile)
            tiling = f"{tiles} tiles of {self.tile} px + {pad} px context"
        return (f"**x{self.runner.info.scale}**: {w}x{h} -> {sr.shape[1]}x{sr.shape[0]} "
                f"({layout}, {bits}-bit) in **{seconds:.2f} s** ({tiling}; {self.label}; "
                f"trained for {self.runner.info.trained_for})")

    def cleanup(self):
        """Remove the result files written so far."""
        shutil.rmtree(self.out_dir, ignore_errors=True)


def import_gradio():
    """The gradio module, or ImportError with the install hint (GRADIO_MISSING)."""
    # Gradio sends usage statistics to its developers unless told not to; a page serving
    # someone's images should not phone home (and closed networks make it time out).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        raise MissingPackageError(GRADIO_MISSING) from exc
    return gradio


def image_upload(gr, **kwargs):
    """A gr.Image for uploads whose handler gets the uploaded file as it came (its path).
    gr.Image opens an upload with Pillow before any handler runs, and answers a file that
    is no image, or one whose header declares a huge size, with Pillow's error and a
    traceback, before Upscaler.process could refuse it in one line (sized from its header);
    the handler reads gray, RGBA and 16-bit files in kind itself. The browser shows it as
    any gr.Image. (Not a subclass: Gradio writes a .pyi stub beside the module of every
    component class it meets.)"""
    upload = gr.Image(type="filepath", image_mode=None, sources=["upload"], **kwargs)
    upload.preprocess = lambda payload: None if payload is None else payload.path
    return upload


def build_page(upscaler, title="paddle-srgan: super-resolution"):
    """The Gradio Blocks page around `upscaler` (an Upscaler); API name /super_resolve.

    The endpoint takes an image file and returns (the x<s> PNG, (bicubic, SR) previews,
    summary). The upload and the result are shown as pictures; the result's download
    button gives the PNG file as tools/infer.py writes it (full resolution, the upload's
    depth and layout).
    """
    gr = import_gradio()
    scale = upscaler.runner.info.scale
    trained_for = upscaler.runner.info.trained_for

    def super_resolve(path):
        try:
            result = upscaler.process(path)
        except UploadError as exc:
            # shown on the page; the server's console gets one line, not Gradio's traceback
            print(f"refused upload: {exc}", file=sys.stderr, flush=True)
            raise gr.Error(str(exc), print_exception=False) from None
        return result.png, (result.bicubic, result.sr), result.summary

    with gr.Blocks(title=title, delete_cache=(CACHE_MAX_AGE_S, CACHE_MAX_AGE_S)) as page:
        gr.Markdown(f"## {title}\nUpload an image (PNG, JPEG, BMP, TIFF; gray, RGB, RGBA, "
                    f"8 or 16 bit) to get it x{scale}. Drag the slider to compare with bicubic."
                    f"\n\nTrained for: **{trained_for}**. {choosing(trained_for)}")
        with gr.Row():
            with gr.Column(scale=1):
                upload = image_upload(gr, label="image")
                run = gr.Button("Super-resolve", variant="primary")
                summary = gr.Markdown()
                download = gr.Image(label=f"x{scale} result (download: full-size PNG)",
                                    type="filepath", format="png", interactive=False,
                                    buttons=["download", "fullscreen"])
            with gr.Column(scale=2):
                compare = gr.ImageSlider(label=f"bicubic | x{scale} super-resolution",
                                         format="png", image_mode=None, interactive=False)
        # One request at a time: the runner is not thread-safe and a CPU has no room for two.
        run.click(super_resolve, inputs=upload, outputs=[download, compare, summary],
                  api_name="super_resolve", concurrency_limit=1)
    return page


def check_port(host, port):
    """InputError (one line naming the port) unless a server can listen on `host`:`port` now:
    the port is in use (another page, another server) or the host is no address of this
    machine. Checked before a model is loaded; Gradio would say it with a traceback."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # as the server itself binds: a port left in TIME_WAIT by a stopped page is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = ("it is in use (another server or page?): stop that one or choose another "
                  "--port" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc))
        raise InputError(f"cannot serve on --host {host} --port {port}: {reason}") from None


def serve(upscaler, host="127.0.0.1", port=7860, share=False,
          max_file_mb=DEFAULT_MAX_FILE_MB, block=True):
    """Build the page and serve it until interrupted (Ctrl-C).

    host 0.0.0.0 serves other machines too (AI Studio apps, containers); share=True asks
    Gradio for a temporary public link (needs internet). Uploads over max_file_mb are refused
    by Gradio before they reach the model. block=False returns the served page at once (a
    notebook cell, tests); stop it with page.close().
    """
    page = build_page(upscaler)
    page.queue(max_size=8)  # waiting requests beyond this are told the page is busy
    # Gradio's requests to its own server at start-up are logged at INFO by httpx, and Paddle
    # 3.x gives the root logger an INFO handler on import: two lines that concern nobody
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        # quiet: Gradio's start-up lines name its own launch(share=True), not --share
        page.launch(server_name=host, server_port=port, share=share,
                    max_file_size=int(max_file_mb * 1e6), allowed_paths=[str(upscaler.out_dir)],
                    show_error=True, prevent_thread_lock=True, quiet=True)
    except OSError:  # taken since check_port: say so in one line; else Gradio's own error
        check_port(host, port)
        raise
    if block:
        # share_url is None when Gradio could not make the link (it printed why)
        where = page.local_url + (f" and {page.share_url}" if page.share_url else "")
        hint = "" if share else "; --share for a public link"
        print(f"serving the page at {where} (Ctrl-C stops it{hint})", flush=True)
        page.block_thread()
    return page
