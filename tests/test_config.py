import subprocess
import sys

import pytest
import yaml

from paddle_srgan import config, loss_settings
from paddle_srgan import train_settings as engine_settings
from paddle_srgan.config import DEFAULTS, ConfigError, dump_config, load_config
from paddle_srgan.data import settings as data_settings

from conftest import ROOT, run_tool

SRGAN = ROOT / "configs" / "srgan.yml"


def test_defaults_and_recipe_load():
    cfg = load_config(SRGAN)
    assert cfg["scale"] == 4 and cfg["network_g"]["num_block"] == 16
    mse, gan = cfg["train"]["phases"]
    assert (mse["name"], mse["lr"], mse["losses"]["pixel"]) == ("mse", 1e-4, 1.0)
    assert gan["losses"] == {"pixel": 0.0, "perceptual": 1.0, "adversarial": 1e-3,
                              "feature_matching": 0.0}
    assert gan["lr_milestones"] == [gan["iters"] // 2] and gan["lr_gamma"] == 0.1
    assert abs(cfg["vgg"]["feature_scale"] - 1 / 12.75) < 1e-12
    assert load_config()["train"]["batch_size"] == DEFAULTS["train"]["batch_size"]


def test_phase_losses_default_to_the_paper_presets(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("train:\n  phases:\n    - {name: gan, iters: 10}\n")
    (phase,) = load_config(path)["train"]["phases"]
    assert phase["losses"] == {"pixel": 0.0, "perceptual": 1.0, "adversarial": 1e-3,
                              "feature_matching": 0.0}


def test_overrides_are_typed():
    cfg = load_config(SRGAN, ["train.batch_size=8", "train.phases.1.lr=2e-5", "scale=2",
                              "train.phases.1.lr_milestones=[10, 20]", "vgg.weights=none"])
    assert cfg["train"]["batch_size"] == 8 and isinstance(cfg["train"]["batch_size"], int)
    assert cfg["train"]["phases"][1]["lr"] == 2e-5
    assert cfg["train"]["phases"][1]["lr_milestones"] == [10, 20]
    assert cfg["scale"] == 2 and cfg["vgg"]["weights"] == "none"


def test_unknown_key_names_key_file_and_closest(tmp_path):
    path = tmp_path / "typo.yml"
    path.write_text("train:\n  batch_sise: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "train.batch_sise" in msg and str(path) in msg and "train.batch_size" in msg


def test_unknown_override_and_wrong_type():
    with pytest.raises(ConfigError, match=r"unknown key 'vgg.layr'.*vgg.layer"):
        load_config(SRGAN, ["vgg.layr=relu2_2"])
    with pytest.raises(ConfigError, match=r"'train.batch_size' must be int, got str"):
        load_config(SRGAN, ["train.batch_size=many"])
    with pytest.raises(ConfigError, match="not one of the 2 phases"):
        load_config(SRGAN, ["train.phases.5.iters=1"])
    with pytest.raises(ConfigError, match="must look like"):
        load_config(SRGAN, ["scale"])
    with pytest.raises(ConfigError, match="'scale' must be one of 1, 2, 4, 8, got 3"):
        load_config(SRGAN, ["scale=3"])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError) as refused:
        load_config(bad)
    # PyYAML's own message is four lines (context, marks with the file name, the problem)
    assert str(refused.value) == (f"{bad}: not valid YAML: expected ',' or ']', but got "
                                  f"'<stream end>' at line 2, column 1")
    phase = tmp_path / "phase.yml"
    phase.write_text("train:\n  phases:\n    - {name: srgan, iters: 10}\n")
    with pytest.raises(ConfigError, match=r"train.phases.0.name' must be one of \['gan', 'mse'\]"):
        load_config(phase)


def test_base_inheritance_and_environment(tmp_path):
    child = tmp_path / "child.yml"
    child.write_text(f"base: {SRGAN}\nexperiment: child\ntrain: {{batch_size: 2}}\n")
    cfg = load_config(child, environ={"PADDLE_SRGAN_OUTPUT_DIR": "/kaggle/working/out"})
    assert cfg["experiment"] == "child" and cfg["train"]["batch_size"] == 2
    assert cfg["network_g"]["num_block"] == 16  # from the base
    assert cfg["output_dir"] == "/kaggle/working/out"
    # -o wins over the environment
    cfg = load_config(child, ["output_dir=here"], environ={"PADDLE_SRGAN_OUTPUT_DIR": "x"})
    assert cfg["output_dir"] == "here"


def test_dump_round_trips(tmp_path):
    cfg = load_config(SRGAN, ["train.batch_size=3"])
    path = tmp_path / "resolved.yml"
    path.write_text(dump_config(cfg))
    again = load_config(path)
    assert {k: v for k, v in again.items() if k != "_source"} == \
        {k: v for k, v in cfg.items() if k != "_source"}


def test_print_config_cli():
    out = run_tool("train", "-c", SRGAN, "-o", "train.batch_size=6", "--print-config").stdout
    assert yaml.safe_load(out)["train"]["batch_size"] == 6


def test_cli_reports_one_clear_line_for_a_typo():
    proc = run_tool("train", "-c", SRGAN, "-o", "train.bach_size=6", "--print-config", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: -o train.bach_size=6: unknown key 'train.bach_size' "
        "(did you mean 'train.batch_size'?)"]


def test_yaml11_float_strings_and_bad_loss_weights(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("train:\n  phases:\n"
                    "    - {name: mse, iters: 3, lr: 1e-4, losses: {pixel: 2e-1}}\n")
    (phase,) = load_config(path)["train"]["phases"]
    assert phase["lr"] == 1e-4 and phase["losses"]["pixel"] == 0.2
    path.write_text("train:\n  phases:\n    - {name: mse, iters: 3, losses: {pixel: lots}}\n")
    with pytest.raises(ConfigError, match="train.phases.0.losses.pixel' must be float"):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("train.log_interval=0", "'train.log_interval' must be an integer >= 1, got 0"),
    ("train.val_interval=0", "'train.val_interval' must be an integer >= 1, got 0"),
    ("train.save_interval=0", "'train.save_interval' must be an integer >= 1, got 0"),
    ("train.best_metric=grid",
     "'train.best_metric' must be one of 'psnr', 'ssim', 'msssim', 'niqe', 'lpips', got 'grid'"),
    ("train.amp=O2", "'train.amp' must be one of None, 'O1', got 'O2'"),
    ("train.val_every_epochs=0", "'train.val_every_epochs' must be an integer >= 1 (or null)"),
    ("train.ema_decay=1.5", "'train.ema_decay' must be a number > 0 and < 1 (or null), got 1.5"),
    ("train.phases.1.lr=0", "'train.phases.1.lr' must be a number > 0, got 0"),
    ("datasets.train.num_workers=-1", "'datasets.train.num_workers' must be an integer >= 0"),
    ("device=tpu", "'device' must be one of 'auto', 'gpu', 'cpu', got 'tpu'"),
    # the one check of the order (data/settings.py): the pipeline trusts it
    ("datasets.train.degradation.order=random", "'datasets.train.degradation.order' must be "
     "one of 'realesrgan', 'shuffled', got 'random'"),
    # keys that must fit together: the override is named even when the other key is the file's
    ("datasets.train.hr_crop=90",
     "'datasets.train.hr_crop' (90) must be a multiple of the scale (4), e.g. 4x96"),
    ("datasets.train.type=paired",
     "'datasets.train.type' is 'paired' but 'datasets.train.lr_dir' is not set"),
])
def test_values_are_checked_when_the_config_is_loaded(override, message):
    """Each of these used to pass loading and fail later (ZeroDivisionError at the first log
    line, KeyError at the first validation, O2 silently run without paddle.amp.decorate)."""
    with pytest.raises(ConfigError) as err:
        load_config(SRGAN, [override])
    assert str(err.value).startswith(f"-o {override}: {message}")  # names the override


def test_a_bad_value_names_the_file_it_came_from(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(f"base: {SRGAN}\ntrain: {{log_interval: 0}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["train.batch_size=4"])  # a good override is not blamed
    assert str(err.value) == (f"{path}: 'train.log_interval' must be an integer >= 1, got 0")
    with pytest.raises(ConfigError) as err:  # a parent key's override owns the value too
        load_config(path, ["train={log_interval: 5, save_interval: 0}"])
    assert str(err.value).startswith("-o train={log_interval: 5, save_interval: 0}: "
                                     "'train.save_interval' must be")


def test_a_bad_value_stops_train_py_with_one_line_before_any_work():
    proc = run_tool("train", "-c", SRGAN, "-o", "train.save_interval=0", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: -o train.save_interval=0: 'train.save_interval' must be an integer >= 1, got 0"]


def test_a_yaml_alias_bomb_is_shown_in_a_short_line(tmp_path):
    """Nested YAML aliases are a few bytes that repr() prints as gigabytes: the message
    shows a bounded excerpt (errors.shown) in well under a second."""
    import time
    levels = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (tmp_path / "bomb.yml").write_text("seed: [" + ", ".join(levels) + "]\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as error:
        load_config(str(tmp_path / "bomb.yml"))
    assert time.perf_counter() - start < 5
    assert len(str(error.value)) < 1000 and "..." in str(error.value)


# ---- the sections each subsystem owns (data/settings.py, train_settings.py,
# loss_settings.py), composed by config.py ----

def test_importing_the_config_and_its_sections_loads_no_numerics():
    """--help and --print-config answer instantly: the settings modules stay light."""
    code = ("import sys, paddle_srgan.config; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'paddle', 'cv2', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_each_section_has_one_owner_and_keeps_its_place():
    owners = [data_settings, engine_settings, loss_settings]
    owned = [key for module in owners for key in module.DEFAULTS]
    assert len(owned) == len(set(owned)) == 4
    # the order of a resolved config (--print-config, a run's config.yml)
    assert list(load_config()) == ["experiment", "output_dir", "data_root", "seed", "device",
                                   "cpu_threads", "scale", "network_g", "network_d", "vgg",
                                   "losses", "datasets", "train", "_source"]
    for module in owners:
        for section, values in module.DEFAULTS.items():
            assert DEFAULTS[section] is values


def test_lists_are_defined_once():
    from paddle_srgan.data import realworld
    assert realworld.KERNEL_TYPES is data_settings.KERNEL_TYPES
    degradation = DEFAULTS["datasets"]["train"]["degradation"]
    assert degradation["kernel_list"] == degradation["kernel_list2"] == \
        list(data_settings.KERNEL_TYPES)
    assert config.ALLOWED["scale"][0] == f"one of {', '.join(map(repr, config.SCALES))}"


def test_loss_names_are_the_ones_losses_implements():
    from paddle_srgan import losses
    assert tuple(losses.PIXEL_CRITERIA) == loss_settings.PIXEL_CRITERIA
    assert losses.ADVERSARIAL_FORMS is loss_settings.ADVERSARIAL_FORMS
