"""The metrics table (metrics/table.py): what evaluation, validation, results, the verdict and
best-checkpoint selection read, and what the config will read (names, directions, switches)."""
import subprocess
import sys

from paddle_srgan.evaluation.results import COLUMNS
from paddle_srgan.metrics import table

from conftest import ROOT


def test_the_table_is_cheap_to_import():
    """The config reads it: no Paddle and no OpenCV come with it."""
    code = ("import sys; import paddle_srgan.metrics.table; "
            "print(sorted(m for m in ('paddle', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_names_directions_and_switches():
    assert table.metric_names(selectable=True) == ("psnr", "ssim", "msssim", "niqe", "lpips")
    assert [c[0] for c in COLUMNS] == list(table.metric_names())
    assert [n for n in table.metric_names() if table.lower_is_better(n)] == \
        ["niqe", "grid", "lpips"]
    assert table.switch_defaults() == {"val_msssim": False, "val_niqe": True, "val_lpips": None}
    assert table.eval_switches() == {"msssim": True, "niqe": True, "lpips": False}
    # the config's train defaults come from the table: the demo's validation is unchanged
    from paddle_srgan.config import load_config
    assert table.train_switches(load_config(None, ["train.val_niqe=false"])["train"]) == \
        {"msssim": False, "niqe": False, "lpips": None}
    assert [m.name for m in table.scored({"niqe": True})] == ["psnr", "ssim"]
    assert [m.name for m in table.scored({"msssim": True}, channels=("luma", "rgb"))] == \
        ["psnr", "ssim", "msssim", "psnr_rgb", "ssim_rgb"]
    assert [m.name for m in table.scored({"niqe": True}, reference=False)] == ["niqe", "grid"]


def test_direction_decides_better():
    assert table.metric("psnr").better(30.0, 29.0) and not table.metric("psnr").better(29, 30)
    assert table.metric("niqe").better(4.0, 5.0) and not table.metric("niqe").better(5, 4)
    assert table.metric("ssim").better(0.1, None)  # anything beats no value


def test_protocol_tags_read_the_table():
    assert table.metric("grid").tags(4) == {"grid": "periodic_artifacts, period = scale, dB "
                                                     "(crop_border 4); flat images have none"}
    assert table.metric("psnr").tags(4) == {"psnr": "10*log10(255^2/mse)"}


def test_validation_switches_reach_training_validation():
    """train.val_msssim (from the table's switch) adds MS-SSIM to validation, off by default;
    best_metric msssim on images too small for it is refused naming why."""
    import pytest

    from paddle_srgan.config import load_config
    from paddle_srgan.data.datasets import build_val_set
    from paddle_srgan.engine.best import check_chosen_metric
    from paddle_srgan.engine.validation import reference_scores, validation_switches
    from paddle_srgan.errors import InputError
    cfg = load_config(ROOT / "configs" / "demo.yml", ["datasets.val.max_images=1"])
    val_set = build_val_set(cfg)
    switches = validation_switches(cfg)
    assert switches == {"msssim": False, "niqe": True, "lpips": None}
    bicubic, hr = reference_scores(val_set, 4, (4,), switches)
    assert "msssim" not in bicubic and "niqe" in bicubic and "niqe" in hr
    cfg["train"]["val_msssim"] = True  # the config's key once it reads the table's switches
    bicubic, _ = reference_scores(val_set, 4, (4,), validation_switches(cfg))
    assert 0 < bicubic["msssim"] < 1
    with pytest.raises(InputError, match=r"^train.best_metric is 'msssim' but no validation "
                                         r"image of 'datasets.val.hr_dir' \(x\) is at least "
                                         r"161x161 pixels after the border crop"):
        check_chosen_metric({"metric": "msssim"}, {"psnr": 30.0}, "x")
    cfg["train"]["val_lpips"] = "lpips.pdparams"
    cfg["datasets"]["val"]["channel"] = 0
    with pytest.raises(InputError, match="'train.val_lpips' needs RGB validation images"):
        validation_switches(cfg)
