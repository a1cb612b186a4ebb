"""tools/eval.py end to end, and the evaluator's protocol."""
import csv
import json
import shutil

import cv2
import numpy as np
import paddle
import pytest

from paddle_srgan.data.benchmarks import canonical_name, find_benchmark
from paddle_srgan.data.colour import to_image
from paddle_srgan.evaluation.evaluator import score
from paddle_srgan.metrics import scores as metrics

from conftest import ROOT, SET5, not_blank, read_rgb, run_tool, y_by_hand

BENCH = ROOT / "data" / "benchmarks"


def test_bicubic_table_reproduces_the_published_protocol(tmp_path):
    out = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "set5",
                   "--out", tmp_path).stdout
    assert "Set5" in out and "28.43" in out and "0.8111" in out
    res = json.loads((tmp_path / "results.json").read_text())
    bic = res["results"]["Set5"]["bicubic"]
    assert bic["psnr"] == pytest.approx(28.4290, abs=0.005)
    assert bic["ssim"] == pytest.approx(0.81114, abs=0.0003)
    assert bic["psnr_rgb"] == pytest.approx(26.6921, abs=0.005)
    assert res["meta"]["y_channel"] and res["meta"]["crop_border"] == 4
    assert res["meta"]["ssim"] == "matlab-gaussian-11-1.5"
    assert res["meta"]["lr_from"] == "matlab-bicubic"
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    baby = next(r for r in rows if r["image"] == "baby")
    assert float(baby["psnr"]) == pytest.approx(31.7842, abs=0.005)
    assert "| Set5 | bicubic | 5 | 28.43 |" in (tmp_path / "results.md").read_text()


def test_lr_from_folder_gives_the_same_numbers(tmp_path):
    """The shipped LR_bicubic/X4 files are MATLAB-made; ours are MATLAB-exact: same table."""
    run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set5",
             "--lr-from", "folder", "--out", tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())["results"]["Set5"]["bicubic"]
    assert res["psnr"] == pytest.approx(28.4290, abs=0.005)


def test_model_eval_with_images_and_figures(tmp_path):
    from paddle_srgan.models import SRResNet
    paddle.seed(0)
    g = SRResNet(num_feat=8, num_block=1)
    weights = tmp_path / "run" / "checkpoints" / "best.pdparams"
    weights.parent.mkdir(parents=True)
    paddle.save(g.state_dict(), str(weights))
    cfg = tmp_path / "tiny.yml"
    cfg.write_text("network_g: {type: SRResNet, num_feat: 8, num_block: 1}\ndevice: cpu\n")
    out = run_tool("eval", "-c", cfg, "--weights", weights, "--data-root", BENCH,
                   "--datasets", "Set5", "--save-images", "--figures").stdout
    eval_dir = tmp_path / "run" / "eval" / "best"  # default: next to the run's checkpoints/
    res = json.loads((eval_dir / "results.json").read_text())
    # the row is named after the weights file (best), not the network's class
    assert set(res["results"]["Set5"]) == {"bicubic", "best", "HR"}
    assert [len(md5) for md5 in res["meta"]["weights_md5"].values()] == [32]
    assert "NIQE" in out and "grid dB" in out
    assert "Set5     best " in out and "SRResNet" not in out
    assert out.rstrip().splitlines()[-1] == (
        f"wrote {eval_dir}/: results.json, per_image.csv, results.md, images/, figures/, "
        f"perception_distortion.png")
    fig = list((eval_dir / "figures" / "Set5").glob("*.png"))
    assert len(fig) == 5
    # the saved SR images are what was scored: Y-PSNR by hand against the mod-cropped HR
    rows = {r["image"]: r for r in csv.DictReader(open(eval_dir / "per_image.csv"))
            if r["method"] == "best"}
    saved = sorted((eval_dir / "images" / "Set5" / "best").glob("*.png"))
    assert len(saved) == len(rows) == 5
    by_hand = []
    for path in saved:
        sr = cv2.imread(str(path))[:, :, ::-1].astype(np.float64)
        hr = cv2.imread(str(SET5 / "HR" / path.name))[:, :, ::-1].astype(np.float64)
        hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
        by_hand.append(psnr_by_hand(y_by_hand(sr), y_by_hand(hr), 4))
        assert float(rows[path.stem]["psnr"]) == pytest.approx(by_hand[-1], abs=1e-3), path.stem
        # NIQE and the grid score are those of the saved image (border 4), where NIQE fits
        expected = metrics.niqe(sr, 4) if metrics.niqe_fits(sr.shape, 4) else None
        assert (float(rows[path.stem]["niqe"]) if rows[path.stem]["niqe"] else None) == \
            pytest.approx(expected, abs=1e-5)
        assert float(rows[path.stem]["grid"]) == pytest.approx(
            metrics.periodic_artifacts(sr, 4), abs=1e-5)
    assert res["results"]["Set5"]["best"]["psnr"] == pytest.approx(np.mean(by_hand), abs=1e-3)
    hr_rows = res["results"]["Set5"]["HR"]["per_image"]
    baby = read_rgb(SET5 / "HR" / "baby.png")
    assert next(r for r in hr_rows if r["name"] == "baby")["niqe"] == \
        pytest.approx(metrics.niqe(baby, 4), abs=1e-9)
    assert "psnr" not in res["results"]["Set5"]["HR"]  # no reference for the reference
    assert "| Set5 | HR | 5 | - | - | - | - |" in (eval_dir / "results.md").read_text()


def test_several_weights_a_folder_of_photos_and_the_perception_distortion_plane(tmp_path):
    from paddle_srgan.models import SRResNet
    cfg = tmp_path / "tiny.yml"
    cfg.write_text("network_g: {type: SRResNet, num_feat: 8, num_block: 1}\ndevice: cpu\n")
    weights = []
    for seed in (0, 1):
        paddle.seed(seed)
        weights.append(tmp_path / "run" / "checkpoints" / f"g{seed}.pdparams")
        weights[-1].parent.mkdir(parents=True, exist_ok=True)
        paddle.save(SRResNet(num_feat=8, num_block=1).state_dict(), str(weights[-1]))
    photos = tmp_path / "mine" / "HR"  # a user's own folder, named after its parent
    photos.mkdir(parents=True)
    for name in ("baby", "bird"):
        (photos / f"{name}.png").write_bytes((SET5 / "HR" / f"{name}.png").read_bytes())
    out = run_tool("eval", "-c", cfg, "--weights", *weights, "--datasets", "Set5", photos,
                   "--figures").stdout
    eval_dir = tmp_path / "run" / "eval" / "g0_vs_g1"
    res = json.loads((eval_dir / "results.json").read_text())
    assert list(res["results"]) == ["Set5", "mine"] and "perception_distortion.png" in out
    assert list(res["results"]["mine"]) == ["bicubic", "g0", "g1", "HR"]
    assert res["results"]["mine"]["g0"]["psnr"] != res["results"]["mine"]["g1"]["psnr"]
    assert sorted(res["meta"]["weights"]) == ["g0", "g1"]
    # the same images in both sets: the same scores
    set5_baby = next(r for r in res["results"]["Set5"]["g1"]["per_image"] if r["name"] == "baby")
    mine_baby = next(r for r in res["results"]["mine"]["g1"]["per_image"] if r["name"] == "baby")
    assert set5_baby == mine_baby
    assert not_blank(eval_dir / "perception_distortion.png")
    strip = read_rgb(eval_dir / "figures" / "mine" / "baby.png")  # LR | bicubic | g0 | g1 | HR
    assert strip.shape[1] == 5 * 160 + 4 * 2
    run_tool("eval", "--bicubic-only", "--datasets", photos, "--no-niqe", "--out",
             tmp_path / "plain")
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert "niqe" not in plain["results"]["mine"]["bicubic"] and plain["meta"]["niqe"] is None
    assert plain["results"]["mine"]["bicubic"]["grid"] == res["results"]["mine"]["bicubic"]["grid"]


def test_missing_dataset_is_a_clear_error(tmp_path):
    proc = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set14",
                    check=False)
    assert proc.returncode == 2
    assert "benchmark Set14: no images in" in proc.stderr and "holds: Set5" in proc.stderr
    proc = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set6",
                    check=False)
    assert proc.returncode == 2 and "unknown benchmark 'Set6'" in proc.stderr
    proc = run_tool("eval", "-c", ROOT / "configs" / "srgan.yml", check=False)
    assert proc.returncode == 2 and "give --weights FILE [FILE ...] (with -c CONFIG" in proc.stderr


def test_benchmark_lookup_and_aliases():
    assert canonical_name("bsd100") == "B100" and canonical_name("SET5") == "Set5"
    assert find_benchmark(BENCH, "Set5") == SET5 / "HR"


def test_to_image_rounds_like_matlab_and_clips():
    sr = np.array([-1.0, 1.0, 0.0, 2.0, -3.0], dtype=np.float32).reshape(1, 1, 5)
    assert to_image(sr, (-1, 1)).ravel().tolist() == [0, 255, 128, 255, 0]
    assert to_image(sr, (-1, 1), np.uint16).ravel().tolist() == [0, 65535, 32768, 65535, 0]


def test_score_16_bit_on_the_8_bit_scale():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-3, 4, hr.shape), 0, 255).astype(np.uint8)
    s8 = score(sr, hr, 4, rgb=True)
    s16 = score(sr.astype(np.uint16) * 257, hr.astype(np.uint16) * 257, 4, rgb=True)
    for k in s8:
        assert s16[k] == pytest.approx(s8[k], rel=1e-9)


def psnr_by_hand(a, b, border):
    """10 log10(255^2 / MSE) of two float [H, W] arrays after removing `border` pixels."""
    a, b = (np.asarray(x, np.float64)[border:-border, border:-border] for x in (a, b))
    return 10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))


def test_gray_image_is_scored_on_its_gray_values_like_matlab(tmp_path):
    """MATLAB's scripts apply rgb2ycbcr only to 3-channel images: a gray HR is scored on its
    own values. Scoring Y of the gray replicated to RGB adds 20 log10(255/219) = 1.32 dB."""
    import skimage.data

    from paddle_srgan.data.imresize import imresize
    hr = skimage.data.camera()  # uint8 [512, 512], a multiple of 4
    (tmp_path / "Set14" / "HR").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "Set14" / "HR" / "camera.png"), hr)
    run_tool("eval", "--bicubic-only", "--scale", "4", "--data-root", tmp_path, "--datasets",
             "Set14", "--out", tmp_path / "out")
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    bic = res["results"]["Set14"]["bicubic"]
    sr = imresize(imresize(hr[..., None], scale=1 / 4), scale=4)[..., 0]  # MATLAB bicubic
    expected = psnr_by_hand(sr, hr, 4)
    assert bic["psnr"] == pytest.approx(expected, abs=1e-6)
    assert bic["psnr_rgb"] == pytest.approx(expected, abs=1e-6)  # three equal channels
    assert "gray" in res["meta"]["gray_images"]


def strict_json_load(path):
    """json.loads that refuses Infinity / NaN, as strict JSON readers do."""
    def refuse(name):
        raise ValueError(f"{path} holds {name}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_flat_images_are_scored_without_errors_and_results_stay_json(tmp_path):
    """Constant images (all 0, all 128) beside a photo: bicubic reproduces them exactly
    (infinite PSNR, null in results.json), NIQE and the grid score are left out for them only,
    and nothing warns or fails."""
    import cv2
    import skimage.data
    hr = tmp_path / "flat" / "HR"
    hr.mkdir(parents=True)
    for level in (0, 128):
        cv2.imwrite(str(hr / f"flat{level}.png"), np.full((256, 256, 3), level, np.uint8))
    cv2.imwrite(str(hr / "camera.png"), skimage.data.camera()[:256, :256])
    proc = run_tool("eval", "--bicubic-only", "--scale", "4", "--datasets", hr,
                    "--out", tmp_path / "out")
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    res = strict_json_load(tmp_path / "out" / "results.json")
    bic, ref = res["results"]["flat"]["bicubic"], res["results"]["flat"]["HR"]
    rows = {r["name"]: r for r in bic["per_image"]}
    assert rows["flat0"]["psnr"] is None and rows["flat128"]["psnr"] is None  # infinite
    assert bic["psnr"] is None
    for name in ("flat0", "flat128"):
        assert "niqe" not in rows[name] and "grid" not in rows[name]
    assert bic["niqe"] == pytest.approx(rows["camera"]["niqe"])
    assert ref["niqe"] == pytest.approx(metrics.niqe(skimage.data.camera()[:256, :256], 4))
    assert "flat" in res["meta"]["niqe"]


def test_gray_hr_is_compared_with_the_luma_of_an_rgb_output():
    """The model's RGB output goes through BT.601 luma on the gray scale (0.299 R + 0.587 G +
    0.114 B), not through rgb2ycbcr's 16..235 Y, when the HR file is gray."""
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    hr = np.repeat(gray[..., None], 3, axis=2)
    sr = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    luma = sr.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    out = score(sr, hr, 4, rgb=True, gray=True)
    assert out["psnr"] == pytest.approx(psnr_by_hand(luma, gray, 4), abs=1e-9)
    assert out["psnr_rgb"] == score(sr, hr, 4, rgb=True)["psnr_rgb"]
    assert score(sr, hr, 4)["psnr"] != pytest.approx(out["psnr"], abs=0.1)  # RGB file: Y


def test_eval_under_a_degradation_spec_is_recorded_and_reproducible(tmp_path):
    """--degrade: spec -> parsed -> results.json meta and table labels; a re-run, and the LR
    files make-lr --degrade writes (read back with --lr-from folder), give the same pixels."""
    spec = "jpeg:50+noise:5+blur:1.2"  # any written order; applied blur -> noise -> jpeg
    runs = {}
    for name in ("a", "b"):
        out = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set5",
                       "--no-niqe", "--degrade", spec, "--out", tmp_path / name).stdout
        assert "Set5 [blur:1.2+noise:5+jpeg:50]" in out
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    meta = runs["a"]["meta"]
    assert meta["degrade"]["spec"] == "blur:1.2+noise:5+jpeg:50"
    assert meta["degrade"]["jpeg"] == 50 and meta["lr_from"] == "matlab-bicubic"
    assert "| Set5 [blur:1.2+noise:5+jpeg:50] | bicubic | 5 |" in \
        (tmp_path / "a" / "results.md").read_text()
    bic = runs["a"]["results"]["Set5"]["bicubic"]
    assert bic["psnr"] < 28.0  # below the clean 28.43
    assert runs["b"]["results"] == runs["a"]["results"]
    # the same LR files through prepare_data make-lr --degrade and --lr-from folder
    root = tmp_path / "root"
    shutil.copytree(SET5 / "HR", root / "Set5" / "HR")
    run_tool("prepare_data", "make-lr", "--hr", root / "Set5" / "HR", "--out",
             root / "Set5" / "LR_bicubic", "--scales", 4, "--degrade", meta["degrade"]["spec"],
             "--workers", 1)
    run_tool("eval", "--bicubic-only", "--data-root", root, "--datasets", "Set5", "--no-niqe",
             "--lr-from", "folder", "--out", tmp_path / "folder")
    folder = json.loads((tmp_path / "folder" / "results.json").read_text())
    assert folder["results"]["Set5"]["bicubic"]["per_image"] == bic["per_image"]
    assert folder["meta"]["degrade"] is None


@pytest.mark.parametrize("layout, side", [("folder", 3), ("benchmark", 19)])
def test_an_image_too_small_to_score_is_one_line_before_any_work(tmp_path, layout, side):
    """3x3 (nothing left after the mod-crop) and 19x19 (16x16 mod-cropped: 8x8 after the
    4-pixel border, smaller than SSIM's window) gave ValueError tracebacks after scoring the
    images before them. 20x20 is the least x4 can score."""
    hr = tmp_path / "Mine" / "HR"
    hr.mkdir(parents=True)
    shutil.copy(SET5 / "HR" / "bird.png", hr / "a_bird.png")
    small = (read_rgb(SET5 / "HR" / "baby.png")[:side, :side + 1]).copy()
    cv2.imwrite(str(hr / "small.png"), small[..., ::-1])
    where = ["--datasets", hr] if layout == "folder" else [
        "--data-root", tmp_path, "--datasets", "Set5"]
    if layout == "benchmark":
        (tmp_path / "Mine").rename(tmp_path / "Set5")
        hr = tmp_path / "Set5" / "HR"
    proc = run_tool("eval", "--bicubic-only", *where, "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"error: image {hr / 'small.png'} is {side + 1}x{side}; "
                                   f"scoring at x4 needs at least 20x20 pixels (a 4-pixel "
                                   f"border on each side, then SSIM's 11x11 window)")
    assert not (tmp_path / "out").exists()
    if side == 19:  # one pixel more is scored
        cv2.imwrite(str(hr / "small.png"), read_rgb(SET5 / "HR" / "baby.png")[:20, :20, ::-1])
        run_tool("eval", "--bicubic-only", *where, "--no-niqe", "--out", tmp_path / "out")


def test_degraded_results_go_beside_the_clean_ones(tmp_path):
    """--bicubic-only writes where an evaluation of weights does, an eval/ folder: the -c
    config's run directory's, or without -c the one in output_dir where runs go (it wrote
    results/ into the working directory)."""
    out = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set5",
                   "--no-niqe", "--no-msssim", "--degrade", "jpeg:90+noise:1",
                   cwd=tmp_path).stdout
    folder = tmp_path / "output" / "eval" / "bicubic_x4_noise1+jpeg90"
    res = json.loads((folder / "results.json").read_text())
    assert res["meta"]["degrade"]["spec"] == "noise:1+jpeg:90"
    assert f"wrote {folder.relative_to(tmp_path)}/: results.json" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output"]
    config = tmp_path / "run.yml"
    config.write_text(f"output_dir: {tmp_path / 'runs'}\nexperiment: mine\n")
    run_tool("eval", "-c", config, "--bicubic-only", "--data-root", BENCH, "--datasets",
             "Set5", "--no-niqe", "--no-msssim", cwd=tmp_path)
    assert (tmp_path / "runs" / "mine" / "eval" / "bicubic_x4" / "results.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--degrade", "jpeg:abc"], "error: --degrade jpeg:abc: 'jpeg' takes an integer quality"),
    (["--degrade", "noise:5", "--lr-from", "folder"], "error: --degrade noise:5: "),
    # ran without end (a 12001-pixel kernel) / asked for 2.6 TiB: bounded, refused at once
    (["--degrade", "blur:2000"], "error: --degrade blur:2000: 'blur' takes a Gaussian sigma "
                                 "in HR pixels 0.1..10, got '2000'"),
    (["--degrade", "blur:100000"], "error: --degrade blur:100000: 'blur' takes"),
])
def test_bad_degradation_spec_is_one_clear_line(tmp_path, args, message):
    proc = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set5",
                    "--out", tmp_path, *args, check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(message) and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results.json").exists()


def test_a_full_disk_when_results_are_written_is_one_line(tmp_path, monkeypatch, capsys):
    """The disk fills up after the metrics are computed: one line naming the file (it was an
    OSError traceback), and no half-written or temporary file left in the folder."""
    import builtins
    import errno
    import importlib.util

    from paddle_srgan import cli
    spec = importlib.util.spec_from_file_location("eval_tool", ROOT / "tools" / "eval.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "results"
    real_open = builtins.open

    def full_disk(file, mode="r", *args, **kwargs):
        if str(file).startswith(str(out)) and any(m in mode for m in "wax"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", full_disk)
    code = cli.run(tool.main, ["--bicubic-only", "--data-root", str(BENCH), "--datasets",
                               "Set5", "--no-niqe", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"error: cannot write {out / 'results.json'}: No space left on device"
    assert list(out.iterdir()) == []


def test_a_linked_results_file_is_refused_before_any_work(tmp_path):
    """A symbolic link at --out/results.json was refused only after every metric was
    computed: now before, in one line, and the file it points at is untouched."""
    outside = tmp_path / "someone_elses.json"
    outside.write_text("{}")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").symlink_to(outside)
    proc = run_tool("eval", "--bicubic-only", "--data-root", BENCH, "--datasets", "Set5",
                    "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'out' / 'results.json'} is a symbolic link (to {outside}); "
        f"paddle-srgan writes its files only as regular files, never through a link: remove "
        f"the link"]
    assert outside.read_text() == "{}"


def test_figures_of_a_gray_image_show_what_infer_returns(tmp_path):
    """A gray file's SR panel and saved image are the gray tools/infer.py returns for the same
    LR (the RGB output showed a tint: channel differences of up to 26 levels); its scores
    stay those of the luma of the RGB output."""
    import skimage.data

    from paddle_srgan.data.imresize import imresize
    from paddle_srgan.evaluation.figures import GAP, LABEL_HEIGHT, centre_box
    from paddle_srgan.models import SRResNet
    paddle.seed(3)
    weights = tmp_path / "run" / "checkpoints" / "g.pdparams"
    weights.parent.mkdir(parents=True)
    paddle.save(SRResNet(num_feat=8, num_block=1).state_dict(), str(weights))
    cfg = tmp_path / "tiny.yml"
    cfg.write_text("network_g: {type: SRResNet, num_feat: 8, num_block: 1}\ndevice: cpu\n")
    hr = skimage.data.camera()[:192, :200]  # gray, a multiple of 4
    (tmp_path / "gray" / "HR").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "gray" / "HR" / "camera.png"), hr)
    run_tool("eval", "-c", cfg, "--weights", weights, "--datasets", tmp_path / "gray" / "HR",
             "--figures", "--save-images", "--no-niqe", "--out", tmp_path / "eval")
    # the same LR (eval's MATLAB bicubic of the HR), as a gray file, through tools/infer.py
    (tmp_path / "lr").mkdir()
    cv2.imwrite(str(tmp_path / "lr" / "camera.png"), imresize(hr[..., None], scale=1 / 4))
    run_tool("infer", "-c", cfg, "--weights", weights, "--input", tmp_path / "lr",
             "--output", tmp_path / "infer")
    inferred = cv2.imread(str(tmp_path / "infer" / "camera_x4.png"), cv2.IMREAD_UNCHANGED)
    assert inferred.shape == hr.shape  # gray in, gray out
    saved = cv2.imread(str(tmp_path / "eval" / "images" / "gray" / "g" / "camera.png"),
                       cv2.IMREAD_UNCHANGED)
    assert np.array_equal(saved, inferred)
    top, left, side = centre_box(hr.shape, 160, 4)
    strip = read_rgb(tmp_path / "eval" / "figures" / "gray" / "camera.png")
    panel = strip[LABEL_HEIGHT:, 2 * (side + GAP):2 * (side + GAP) + side]  # LR | bic | SR
    assert np.array_equal(panel, np.repeat(inferred[top:top + side, left:left + side, None],
                                           3, axis=2))
