"""LPIPS: exact values against the authors' package, the conversion CLI, distance properties,
input checks. Weights are seeded random (tests/fixtures/README.md says how the fixture was
made); the published ImageNet backbones are not needed."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from skimage import data

from paddle_srgan.metrics import scores as metrics
from paddle_srgan.models import lpips as lpips_net
from paddle_srgan.published_weights import torch_files

from conftest import ROOT, child_env, run_tool

FIXTURES = ROOT / "tests" / "fixtures"
_spec = importlib.util.spec_from_file_location("lpips_random_weights",
                                               FIXTURES / "lpips_random_weights.py")
lpips_random_weights = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lpips_random_weights)


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURES / "lpips_random.npz") as z:
        return {k: z[k] for k in z.files}


def torch_states(fixture, backbone):
    """(torchvision-named backbone state, LPIPS-named lin state) of the fixture's weights."""
    shapes = [tuple(map(int, s.split(","))) for s in fixture[f"{backbone}_shapes"]]
    weights = lpips_random_weights.random_weights(list(fixture[f"{backbone}_names"]), shapes,
                                                  int(fixture["seed"]))
    lin = {k: v for k, v in weights.items() if k.startswith("lin")}
    return {k: v for k, v in weights.items() if k not in lin}, lin


@pytest.fixture(scope="module")
def nets(fixture):
    out = {}
    for backbone in ("alex", "vgg"):
        name, state = lpips_net.from_torch_state(*torch_states(fixture, backbone))
        assert name == backbone
        out[backbone] = lpips_net.LPIPS(backbone).set_weights(state)
    return out


@pytest.mark.parametrize("backbone", ["alex", "vgg"])
def test_matches_the_lpips_package(nets, fixture, backbone):
    """lpips 0.1.4 + torchvision 0.28 in float64 on the same weights and images."""
    got = [metrics.lpips(fixture["ref"], fixture[k], nets[backbone]) for k in ("noisy", "blurred")]
    np.testing.assert_allclose(got, fixture[f"{backbone}_f64"], rtol=0, atol=1e-5)


def test_conversion_cli_round_trip(fixture, tmp_path):
    """Lin weights from a legacy-format .pth (as published), backbone from a .npz."""
    backbone, _ = torch_states(fixture, "alex")
    # A full torchvision file also holds the classifier, which LPIPS does not use.
    backbone["classifier.1.weight"] = np.zeros([4, 9216], np.float32)
    np.savez(tmp_path / "alexnet.npz", **backbone)
    out = tmp_path / "lpips_alex.pdparams"
    log = run_tool("convert_lpips_weights", "--lin", FIXTURES / "lpips_lin_alex_legacy.pth",
                   "--backbone", tmp_path / "alexnet.npz", "--out", out).stdout
    assert "alex backbone, 15 tensors" in log
    net = lpips_net.load_lpips(out)
    assert metrics.lpips_protocol(net, 4) == {"lpips": "v0.1-alex", "lpips_input": "rgb/127.5-1",
                                              "lpips_crop_border": 4}
    got = [metrics.lpips(fixture["ref"], fixture[k], net) for k in ("noisy", "blurred")]
    np.testing.assert_allclose(got, fixture["alex_f64"], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"holds LPIPS-alex weights, not 'vgg'"):
        lpips_net.load_lpips(out, backbone="vgg")


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_lin_weights_read_from_pytorch_files(fixture, fmt):
    """The published weights/v0.1/*.pth are in the legacy format."""
    state = torch_files.read_torch_weights(str(FIXTURES / f"lpips_lin_alex_{fmt}.pth"))
    _, lin = torch_states(fixture, "alex")
    assert sorted(state) == sorted(lin)
    for key in lin:
        np.testing.assert_array_equal(state[key], lin[key])


def test_mismatched_files_are_named(fixture):
    alex, _ = torch_states(fixture, "alex")
    _, vgg_lin = torch_states(fixture, "vgg")
    with pytest.raises(ValueError, match=r"vgg.pth: lin layers with channels \(64, 128, 256, "
                                         r"512, 512\) are LPIPS-vgg lin weights, but alexnet.pth"):
        lpips_net.from_torch_state(alex, vgg_lin, "alexnet.pth", "vgg.pth")
    with pytest.raises(ValueError, match=r"x.pth: no features.0.weight"):
        lpips_net.from_torch_state({"conv1.weight": alex["features.0.weight"]}, vgg_lin, "x.pth")
    with pytest.raises(ValueError, match=r"missing 1: features.10.bias"):
        _, state = lpips_net.from_torch_state(alex, torch_states(fixture, "alex")[1])
        del state["features.10.bias"]
        lpips_net.LPIPS("alex").set_weights(state)


@pytest.mark.parametrize("backbone", ["alex", "vgg"])
def test_distance_properties(nets, backbone):
    net = nets[backbone]
    img = data.astronaut()[40:104, 170:234]  # the face, 64x64
    rng = np.random.RandomState(0)
    noise = rng.standard_normal(img.shape)
    mild, strong = (np.clip(img + s * noise, 0, 255).round().astype(np.uint8) for s in (5, 25))
    d_mild, d_strong = metrics.lpips(img, mild, net), metrics.lpips(img, strong, net)
    assert abs(metrics.lpips(img, img, net)) < 1e-7
    assert 0 < d_mild < d_strong
    assert metrics.lpips(mild, img, net) == pytest.approx(d_mild, abs=1e-7)
    assert metrics.lpips(img.astype(np.float32), mild.astype(np.float64), net) == d_mild


def test_input_errors(nets):
    net, img = nets["alex"], data.astronaut()[:40, :40]
    with pytest.raises(ValueError, match=r"image shapes differ"):
        metrics.lpips(img, img[:39], net)
    with pytest.raises(ValueError, match=r"needs \[H, W, 3\] RGB images, got shape \(40, 40\)"):
        metrics.lpips(img[..., 0], img[..., 0], net)
    with pytest.raises(ValueError, match=r"in \[0, 255\], got values in \[300.0, 300.0\]"):
        metrics.lpips(img, np.full(img.shape, 300.0), net)
    with pytest.raises(ValueError, match=r"in \[0, 255\]"):
        metrics.lpips(img, np.full(img.shape, np.nan), net)
    with pytest.raises(TypeError, match=r"uint8 or float"):
        metrics.lpips(img, img.astype(np.int16), net)
    with pytest.raises(TypeError, match=r"load_lpips\('w.pdparams'\), not a path"):
        metrics.lpips(img, img, "w.pdparams")
    assert metrics.lpips(img[:31, :31], img[:31, :31], net) < 1e-7  # the smallest AlexNet input
    with pytest.raises(ValueError, match=r"LPIPS-alex needs at least 31x31 pixels after "
                                         r"cropping, got 30x40"):
        metrics.lpips(img[:30], img[:30], net)
    with pytest.raises(ValueError, match=r"got 30x30"):
        metrics.lpips(img, img, net, crop_border=5)


def test_missing_weights_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        lpips_net.load_lpips(tmp_path / "lpips_vgg.pdparams", backbone="vgg")
    msg = str(err.value)
    assert f"LPIPS weights not found: {tmp_path / 'lpips_vgg.pdparams'}" in msg
    for part in ("tools/convert_lpips_weights.py", "--lin lpips/weights/v0.1/vgg.pth",
                 "https://download.pytorch.org/models/vgg16-397923af.pth"):
        assert part in msg
    (tmp_path / "junk.pdparams").write_bytes(b"not a paddle file")
    with pytest.raises(ValueError, match=r"junk.pdparams: unreadable LPIPS weights "
                                         r"\(make them with tools/convert_lpips_weights.py\)"):
        lpips_net.load_lpips(tmp_path / "junk.pdparams")


def test_cli_missing_input_is_one_line(tmp_path):
    proc = run_tool("convert_lpips_weights", "--lin", tmp_path / "alex.pth", "--backbone",
                    tmp_path / "alexnet.pth", "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--lin" in proc.stderr and "alex.pth: no such file" in proc.stderr


def test_metrics_import_stays_numpy_only():
    code = ("import sys, paddle_srgan.metrics; print(sorted(m for m in "
            "('paddle', 'cv2', 'paddle_srgan.models') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=child_env()).stdout
    assert out.strip() == "[]"


def test_lpips_is_one_more_column_of_the_evaluation(nets, tmp_path):
    """evaluate_sets with LPIPS switched on (metrics.table): each image's LPIPS of its SR
    output (here the bicubic baseline) against the mod-cropped HR, border cropped like PSNR,
    averaged over the set; 16-bit images are scored on the 8-bit scale."""
    from paddle_srgan.data.benchmarks import BenchmarkSet
    from paddle_srgan.data.imresize import imresize
    from paddle_srgan.data.io import write_image
    from paddle_srgan.evaluation.evaluator import evaluate_sets, score
    from paddle_srgan.metrics.table import eval_switches

    net = nets["alex"]
    for name in ("astronaut", "chelsea"):
        write_image(tmp_path / "HR" / f"{name}.png", getattr(data, name)()[:98, :99])
    sets = {"Tiny": BenchmarkSet(tmp_path / "HR", 4)}
    results = evaluate_sets(sets, 4, switches={**eval_switches(), "lpips": net})
    res = results["Tiny"]["bicubic"]
    expected = [metrics.lpips(imresize(item["lr_image"], scale=4), item["hr_image"], net,
                              crop_border=4) for item in sets["Tiny"]]
    assert [row["lpips"] for row in res["per_image"]] == pytest.approx(expected, abs=1e-6)
    assert res["lpips"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert list(results["Tiny"]) == ["bicubic", "HR"]  # no generator: the baseline alone
    item = sets["Tiny"][0]
    sr = imresize(item["lr_image"], scale=4)
    hr16 = item["hr_image"].astype(np.uint16) * 257
    deep = score(sr.astype(np.uint16) * 257, hr16, 4, rgb=True,
                 switches={**eval_switches(), "lpips": net})
    assert deep["lpips"] == pytest.approx(expected[0], abs=1e-5)


def test_eval_tool_scores_lpips_as_a_column(fixture, nets, tmp_path):
    """tools/eval.py --lpips: per image and mean in results.json, its protocol in the meta,
    a column of results.md; a one-channel config is refused."""
    import json

    import paddle

    from paddle_srgan.data.benchmarks import BenchmarkSet
    from paddle_srgan.data.imresize import imresize
    weights = tmp_path / "lpips_alex.pdparams"
    paddle.save(nets["alex"].state_dict(), str(weights))
    run_tool("eval", "--bicubic-only", "--lpips", weights, "--data-root", ROOT / "data" /
             "benchmarks", "--datasets", "Set5", "--out", tmp_path / "eval")
    out = json.loads((tmp_path / "eval" / "results.json").read_text())
    bicubic = out["results"]["Set5"]["bicubic"]
    expected = [metrics.lpips(imresize(item["lr_image"], scale=4), item["hr_image"], nets["alex"],
                              crop_border=4)
                for item in BenchmarkSet(ROOT / "data" / "benchmarks" / "Set5" / "HR", 4)]
    assert [row["lpips"] for row in bicubic["per_image"]] == pytest.approx(expected, abs=1e-5)
    assert bicubic["lpips"] == pytest.approx(np.mean(expected), abs=1e-5)
    assert out["meta"]["lpips"] == "v0.1-alex" and out["meta"]["lpips_weights"] == str(weights)
    assert "LPIPS" in (tmp_path / "eval" / "results.md").read_text()
    proc = run_tool("eval", "--bicubic-only", "-c", ROOT / "configs" /
                    "lapsrn_single_channel.yml", "--lpips", weights, "--data-root",
                    ROOT / "data" / "benchmarks", "--datasets", "Set5", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --lpips needs RGB evaluation; this config evaluates "
                                   "one channel")
