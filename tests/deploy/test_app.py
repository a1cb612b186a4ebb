"""tools/app.py as a person uses it: served on a loopback port, driven by gradio_client (the
results must be tools/infer.py's for the same model and tiling) and loaded in headless
Chromium, which uploads an image, clicks and saves a screenshot."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan.data.io import read_image
from paddle_srgan.deploy import app, predictor
from paddle_srgan.deploy.metadata import ModelInfo
from paddle_srgan.deploy.runners import load_runner
from paddle_srgan.deploy.tiling import super_resolve_image
from paddle_srgan.models import GENERATORS, SRResNet

from conftest import (
    REAL_ESRGAN,
    ROOT,
    child_env,
    not_blank,
    png_declaring,
    radiance_hdr,
    require,
    run_tool,
)

# A tiny SRResNet from the paper's class (the tool's -o overrides), weights saved by the test.
TINY = ["-c", ROOT / "configs" / "srgan.yml", "-o", "network_g.num_block=2",
        "network_g.num_feat=8", "device=cpu"]
LR_IMAGE = ROOT / "data" / "benchmarks" / "Set5" / "LR_bicubic" / "X4" / "woman.png"  # 57x86
TILE = 32  # smaller than the image: the uploads take the tiled path (3 x 2 tiles)
MAX_PIXELS = 100 * 100
MAX_FILE_MB = 0.1
STARTUP_S = 180  # importing Paddle and Gradio on a busy 2-core machine
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Headless Chromium on a machine without internet: no background connections, no sandbox
# (CI runs as root), a fresh profile.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,900"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The bundled LR image as RGB, plus 16-bit gray and RGBA versions of it."""
    folder = tmp_path_factory.mktemp("uploads")
    rgb = cv2.imread(str(LR_IMAGE), cv2.IMREAD_UNCHANGED)
    shutil.copy(LR_IMAGE, folder / "woman.png")
    gray16 = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(folder / "woman_gray16.png"), gray16)
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1], dtype=np.uint8), (rgb.shape[0], 1))
    cv2.imwrite(str(folder / "woman_rgba.png"), np.dstack([rgb, alpha]))
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    paddle.seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pdparams"
    paddle.save(SRResNet(num_feat=8, num_block=2).state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def served_app(weights, tmp_path_factory):
    """tools/app.py on a free loopback port; yields (its URL once it answers, the file its
    console output goes to)."""
    require("gradio", 'pip install -e ".[app]"')
    port = free_port()
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    # PYTHONWARNINGS unset: its console is what a user sees (test_the_console_...)
    env = child_env(PYTHONWARNINGS="", GRADIO_ANALYTICS_ENABLED="False")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "app.py"), *map(str, TINY), "--weights",
             str(weights), "--port", str(port), "--tile", str(TILE),
             "--max-pixels", str(MAX_PIXELS), "--max-file-mb", str(MAX_FILE_MB),
             "--threads", "2"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"tools/app.py exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tools/app.py did not answer at {url} within {STARTUP_S} s:\n"
                            f"{log_path.read_text()}")
            time.sleep(0.5)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(served_app):
    """The URL of tools/app.py served for this module."""
    return served_app[0]


@pytest.fixture(scope="module")
def client(server):
    gradio_client = require("gradio_client", 'pip install -e ".[app]"')
    return gradio_client.Client(server, verbose=False)


@pytest.fixture(scope="module")
def infer_outputs(inputs, weights, tmp_path_factory):
    """tools/infer.py's results for the same model, tile and inputs."""
    out = tmp_path_factory.mktemp("infer")
    run_tool("infer", *TINY, "--weights", weights, "--input", inputs, "--output", out,
             "--tile", TILE, "--threads", 2)
    return out


@pytest.mark.parametrize("name", ["woman.png", "woman_gray16.png", "woman_rgba.png"])
def test_page_returns_what_infer_writes(client, inputs, infer_outputs, name):
    from gradio_client import handle_file

    png, (bicubic, sr_preview), summary = client.predict(handle_file(str(inputs / name)),
                                                         api_name="/super_resolve")
    stem = Path(name).stem
    assert Path(png).name == f"{stem}_x4.png"
    got = cv2.imread(png, cv2.IMREAD_UNCHANGED)
    expected = cv2.imread(str(infer_outputs / f"{stem}_x4.png"), cv2.IMREAD_UNCHANGED)
    layout = {"woman": ((344, 228, 3), np.uint8), "woman_gray16": ((344, 228), np.uint16),
              "woman_rgba": ((344, 228, 4), np.uint8)}[stem]  # the upload's layout and depth
    assert (got.shape, got.dtype) == (expected.shape, expected.dtype) == layout
    assert np.array_equal(got, expected)
    for preview in (bicubic, sr_preview):  # the slider's two sides, 8-bit for the browser
        shown = cv2.imread(preview, cv2.IMREAD_UNCHANGED)
        assert shown.shape[:2] == (86 * 4, 57 * 4) and shown.dtype == np.uint8
    assert summary.startswith("**x4**: 57x86 -> 228x344") and "6 tiles of 32 px" in summary
    assert re.search(r" in \*\*\d+\.\d\d s\*\* ", summary), summary  # the time it took
    # words, not classes; and what the model is for (configs/srgan.yml: clean bicubic LR)
    assert summary.endswith("tiny.pdparams, Paddle dygraph; trained for bicubic (clean))"), \
        summary


def test_page_shows_upload_and_result_as_pictures(client, server):
    """The upload and the result are picture components (they were file chips: a name and a
    size); the slider compares two pictures; the result's download is the PNG file
    (test_page_returns_what_infer_writes)."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    endpoint = api["/super_resolve"]
    assert [p["component"] for p in endpoint["parameters"]] == ["Image"]
    assert [r["component"] for r in endpoint["returns"]] == ["Image", "Imageslider",
                                                            "Markdown"]
    with urllib.request.urlopen(server + "config", timeout=30) as response:
        page = response.read().decode()
    # configs/srgan.yml is trained on clean bicubic LR: the page names the realworld preset
    assert "This model is for clean, downscaled images" in page
    assert "configs/realworld.yml" in page


def test_page_warns_when_a_clean_model_meets_jpeg_blocks(client, inputs, tmp_path):
    from gradio_client import handle_file

    rgb = cv2.imread(str(inputs / "woman.png"))
    cv2.imwrite(str(tmp_path / "phone.jpg"), rgb, [cv2.IMWRITE_JPEG_QUALITY, 40])
    *_, summary = client.predict(handle_file(str(tmp_path / "phone.jpg")),
                                 api_name="/super_resolve")
    first, warning = summary.split("\n\n")
    assert first.startswith("**x4**: 57x86 -> 228x344")
    assert warning == ("**warning: JPEG blocking in the input (phone.jpg: JPEG quality 40); this "
                       "model was trained for bicubic (clean) input and sharpens the blocks: a "
                       "model trained with configs/realworld.yml (CPU demo: "
                       "configs/demo_realworld.yml) removes them**")
    *_, clean = client.predict(handle_file(str(inputs / "woman.png")), api_name="/super_resolve")
    assert "warning" not in clean


def test_a_realworld_model_is_not_told_to_be_a_realworld_model(tmp_path):
    """A model trained on real-world degradations: the page says what it is for, without
    the advice to use such a model, and a JPEG upload gets no warning."""
    assert "realworld.yml" not in app.choosing(REAL_ESRGAN)
    assert "real-world degradations" in app.choosing(REAL_ESRGAN)
    assert app.choosing("paired LR files (x)") == ""
    paddle.seed(0)
    generator = SRResNet(num_feat=8, num_block=1)
    generator.eval()
    upscaler = app.Upscaler(predictor.LayerRunner(generator, ModelInfo.of(generator,
                                                                         REAL_ESRGAN)),
                            out_dir=tmp_path / "results")
    cv2.imwrite(str(tmp_path / "phone.jpg"), cv2.imread(str(LR_IMAGE)),
                [cv2.IMWRITE_JPEG_QUALITY, 40])
    summary = upscaler.process(str(tmp_path / "phone.jpg")).summary
    assert "warning" not in summary and summary.endswith(f"trained for {REAL_ESRGAN})")


@pytest.mark.parametrize("backend", ["predictor", "onnx"])
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_page_serves_every_generator_export(generator_exports, inputs, name, backend, tmp_path):
    """Each generator type of the model table, exported (Paddle predictor or .onnx), served by
    the page as tools/app.py --model serves it (runners.load_runner, app.serve; in-process to
    keep one Paddle and Gradio import): the upload's PNG is the eager model's tiled output
    within one 8-bit level (backends differ by <= 1e-4, which may flip a rounding step).
    MSRResNet's --model page failed on every image with Paddle 3.3."""
    gradio_client = require("gradio_client", 'pip install -e ".[app]"')
    exported = generator_exports[name]
    if backend == "onnx":
        require("onnxruntime", 'pip install -e ".[onnx]"')
        require("paddle2onnx", 'pip install -e ".[onnx]"')
    model = exported["onnx"] if backend == "onnx" else exported["prefix"]
    runner = load_runner(model=str(model), device="cpu", threads=2)
    upscaler = app.Upscaler(runner, TILE, None, MAX_PIXELS, out_dir=tmp_path / "results",
                            label=f"{name}, {runner.backend}")
    port = free_port()
    page = app.serve(upscaler, port=port, max_file_mb=MAX_FILE_MB, block=False)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        png, _, summary = client.predict(gradio_client.handle_file(str(inputs / "woman.png")),
                                         api_name="/super_resolve")
        got = cv2.imread(png, cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    finally:
        page.close()
        upscaler.cleanup()
    generator = exported["generator"]
    eager = predictor.LayerRunner(generator, ModelInfo.of(generator))
    expected = super_resolve_image(eager, read_image(inputs / "woman.png"), TILE)
    assert got.shape == expected.shape == (344, 228, 3)
    assert np.abs(got.astype(int) - expected).max() <= 1, (name, backend)
    assert summary.startswith("**x4**: 57x86 -> 228x344") and f"{name}, " in summary
    # the export's record of its training (conftest: realworld, Real-ESRGAN's ranges)
    assert summary.endswith(f"; trained for {REAL_ESRGAN})"), summary


def test_bad_uploads_get_a_readable_message(client, served_app, tmp_path):
    from gradio_client import handle_file

    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture")
    with pytest.raises(Exception, match=r"holiday\.png is not an image this page can read"):
        client.predict(handle_file(str(fake)), api_name="/super_resolve")
    large = tmp_path / "large.png"
    cv2.imwrite(str(large), np.zeros((101, 100, 3), np.uint8))
    with pytest.raises(Exception, match=r"large\.png is 100x101 = 10,100 pixels; this page "
                                        r"accepts at most 10,000 \(--max-pixels\)"):
        client.predict(handle_file(str(large)), api_name="/super_resolve")
    # within --max-pixels, over --max-file-mb 0.1: bytes after the PNG's end (decoders
    # ignore them) make it heavy, so only the file-size limit can refuse it
    heavy = tmp_path / "heavy.png"
    cv2.imwrite(str(heavy), np.zeros((50, 50, 3), np.uint8))
    with open(heavy, "ab") as f:
        f.write(bytes(120_000))
    assert cv2.imread(str(heavy)).shape == (50, 50, 3)
    with pytest.raises(Exception, match=r"heavy\.png exceeds the maximum file size") as refused:
        client.predict(handle_file(str(heavy)), api_name="/super_resolve")
    assert "max-pixels" not in str(refused.value)
    # the server's console: one line per refusal (Gradio printed a traceback for each)
    console = served_app[1].read_text()
    assert "Traceback" not in console
    refusals = [line for line in console.splitlines() if line.startswith("refused upload: ")]
    assert [line.split(" is ")[0] for line in refusals] == ["refused upload: holiday.png",
                                                            "refused upload: large.png"]


def test_the_console_says_where_the_page_is_and_nothing_else(served_app):
    """One line naming the page's address and our --share flag (Gradio's own lines named its
    launch(share=True)); no library lines (httpx's requests, warnings); refused uploads add
    one line each (test_refused_uploads_...)."""
    url, log_path = served_app
    lines = log_path.read_text().splitlines()
    assert lines[0] == f"serving the page at {url} (Ctrl-C stops it; --share for a public link)"
    assert all(line.startswith("refused upload: ") for line in lines[1:]), lines


def test_page_works_in_headless_chromium(server, inputs, tmp_path):
    """A person's visit: the page loads, an upload and a click show the result; screenshot
    saved to $PADDLE_SRGAN_APP_SCREENSHOT (default: the test's temporary folder)."""
    if not (os.path.isfile(CHROMIUM) and os.path.isfile(CHROMEDRIVER)):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: .ci/run installs Debian's "
                        f"chromium and chromium-driver")
        pytest.skip(f"no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    webdriver = require("selenium.webdriver", "pip install selenium")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    shot = Path(os.environ.get("PADDLE_SRGAN_APP_SCREENSHOT", tmp_path / "app.png"))
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(server)

        def wait_for(condition, what, seconds=60):
            deadline = time.monotonic() + seconds
            while not condition():
                if time.monotonic() > deadline:
                    browser.save_screenshot(str(tmp_path / "timeout.png"))
                    pytest.fail(f"page: no {what} within {seconds} s; page text:\n"
                                f"{browser.find_element(By.TAG_NAME, 'body').text}")
                time.sleep(0.25)

        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "input[type=file]"),
                 "upload field")
        assert "paddle-srgan: super-resolution" in browser.title
        browser.find_elements(By.CSS_SELECTOR, "input[type=file]")[0].send_keys(
            str(inputs / "woman.png"))
        # the upload is shown as a picture (it was a file chip: its name and size)
        wait_for(lambda: any(img.get_attribute("src").endswith("woman.png") and
                             img.get_property("naturalWidth") == 57
                             for img in browser.find_elements(By.CSS_SELECTOR, "img")),
                 "uploaded picture")
        button = [b for b in browser.find_elements(By.TAG_NAME, "button")
                  if b.text.strip() == "Super-resolve"]
        assert button, "no Super-resolve button"
        button[0].click()
        wait_for(lambda: "57x86 -> 228x344" in browser.find_element(By.TAG_NAME, "body").text,
                 "result summary")
        # the result as a picture of its own (was a file chip), beside the slider's two
        wait_for(lambda: any(img.get_attribute("src").endswith("woman_x4.png") and
                             img.get_property("naturalWidth") == 228
                             for img in browser.find_elements(By.CSS_SELECTOR, "img")),
                 "result picture")
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "img")) >= 4,
                 "comparison images")
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert not_blank(shot) and cv2.imread(str(shot)).shape[0] > 100  # not a blank page


def test_uploads_are_sized_from_their_header_and_named_without_server_paths(tmp_path,
                                                                            monkeypatch):
    """A 100-byte PNG declaring 30000x30000 pixels is refused by its header, before anything
    would decode 2.7 GB; an unreadable upload is named, not shown with the server's path."""
    paddle.seed(0)
    generator = SRResNet(num_feat=8, num_block=1)
    generator.eval()
    upscaler = app.Upscaler(predictor.LayerRunner(generator, ModelInfo.of(generator)),
                            out_dir=tmp_path / "results", max_pixels=10_000)
    bomb = tmp_path / "uploads" / "bomb.png"
    bomb.parent.mkdir()
    bomb.write_bytes(png_declaring(30000, 30000))
    monkeypatch.setattr(app, "read_image", lambda *a, **k: pytest.fail("decoded the bomb"))
    with pytest.raises(app.UploadError) as err:
        upscaler.process(str(bomb))
    assert str(err.value).startswith("bomb.png is 30000x30000 = 900,000,000 pixels; this page "
                                     "accepts at most 10,000 (--max-pixels)")
    monkeypatch.undo()
    junk = tmp_path / "uploads" / "holiday.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    with pytest.raises(app.UploadError) as err:
        upscaler.process(str(junk))
    assert str(err.value).startswith("holiday.png is not an image this page can read (")
    assert str(tmp_path) not in str(err.value)
    for runner_class, words in ((predictor.LayerRunner, "Paddle dygraph"),
                                (predictor.Predictor, "Paddle inference predictor")):
        assert runner_class.backend == words


def test_an_upload_whose_size_no_header_gives_is_refused_undecoded(tmp_path, monkeypatch):
    """Pillow cannot size a Radiance .hdr, and the size check then decoded it: 6.4 MB of
    run-length data declaring 10000x10000 grew the server by 2.3 GB (3-4 GB under Gradio,
    1.8 GB kept). Only formats sized from their header are decoded now."""
    paddle.seed(0)
    generator = SRResNet(num_feat=8, num_block=1)
    generator.eval()
    upscaler = app.Upscaler(predictor.LayerRunner(generator, ModelInfo.of(generator)),
                            out_dir=tmp_path / "results")
    upload = tmp_path / "uploads" / "sky.hdr"
    upload.parent.mkdir()
    upload.write_bytes(radiance_hdr(10000, 10000))
    assert 6e6 < upload.stat().st_size < 7e6
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded the upload"))
    with pytest.raises(app.UploadError) as err:
        upscaler.process(str(upload))
    assert str(err.value).startswith("sky.hdr is not an image this page can read (not a PNG, "
                                     "JPEG, BMP, TIFF or WebP file (it starts with ")


def test_a_long_running_page_keeps_only_the_latest_results(tmp_path):
    paddle.seed(0)
    generator = SRResNet(num_feat=8, num_block=2)
    generator.eval()
    upscaler = app.Upscaler(predictor.LayerRunner(generator, ModelInfo.of(generator)),
                            out_dir=tmp_path / "results")
    pngs = [upscaler.process(str(LR_IMAGE)).png for _ in range(app.KEEP_RESULTS + 2)]
    assert [os.path.isfile(p) for p in pngs] == [False] * 2 + [True] * app.KEEP_RESULTS
    assert len(os.listdir(tmp_path / "results")) == app.KEEP_RESULTS
    upscaler.cleanup()
    assert not (tmp_path / "results").exists()


def test_without_gradio_the_tool_says_how_to_install_it():
    proc = run_tool("app", "--model", "x", without=["gradio"], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ('error: tools/app.py needs Gradio, which is not installed: '
                                   'pip install -e ".[app]" (or pip install gradio)')


def test_core_package_does_not_import_gradio():
    code = ("import sys; import paddle_srgan.deploy.export, paddle_srgan.deploy.predictor, "
            "paddle_srgan.deploy.runners, paddle_srgan.cli, paddle_srgan.engine.trainer, "
            "paddle_srgan.deploy.app; "
            "assert 'gradio' not in sys.modules, 'gradio imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120,
                   env=child_env(PYTHONWARNINGS="ignore"))


def test_a_port_in_use_or_out_of_range_is_one_line(weights):
    """Gradio said a busy port with a traceback, argparse passed 99999 on to it: both are
    one line now, before any model is loaded."""
    require("gradio", 'pip install -e ".[app]"')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_tool("app", *TINY, "--weights", weights, "--port", port, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot serve on --host 127.0.0.1 --port {port}: it is in use (another "
        f"server or page?): stop that one or choose another --port"]
    proc = run_tool("app", *TINY, "--weights", weights, "--port", 99999, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "app.py: error: argument --port: expected an integer >= 1 and <= 65535, got '99999'"
