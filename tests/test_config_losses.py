"""The `vgg` and `losses` keys of issue 27 (loss_settings.py): vgg.layer as one VGG19 layer or a
mapping {layer: weight}, and losses.usm; each bad value is one line naming its key."""
import pytest

from paddle_srgan import loss_settings
from paddle_srgan.config import ConfigError, dump_config, load_config

from conftest import ROOT

SRGAN = ROOT / "configs" / "srgan.yml"
REAL_ESRGAN_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}


def test_defaults_are_the_papers_vgg54_and_no_sharpening():
    cfg = load_config()
    assert cfg["vgg"]["layer"] == "relu5_4"
    assert loss_settings.layer_weights(cfg["vgg"]["layer"]) == {"relu5_4": 1.0}
    assert cfg["losses"]["usm"] == {"targets": [], "weight": 0.5, "radius": 50,
                                    "threshold": 10}


def test_a_layer_mapping_replaces_what_it_overrides_whole(tmp_path):
    """A file's mapping is the whole set of layers: a config based on Real-ESRGAN's five
    layers that names one keeps that one, not six; a name replaces a mapping too."""
    base = tmp_path / "five.yml"
    base.write_text(f"base: {SRGAN}\nvgg: {{layer: {REAL_ESRGAN_LAYERS}, feature_scale: 1}}\n"
                    "losses: {usm: {targets: [pixel, perceptual]}}\n")
    cfg = load_config(base)
    assert cfg["vgg"]["layer"] == REAL_ESRGAN_LAYERS
    assert loss_settings.layer_weights(cfg["vgg"]["layer"]) == {
        k: float(v) for k, v in REAL_ESRGAN_LAYERS.items()}
    assert cfg["losses"]["usm"]["targets"] == ["pixel", "perceptual"]
    one = tmp_path / "one.yml"
    one.write_text(f"base: {base}\nvgg: {{layer: {{conv5_4: 2}}}}\n")
    assert load_config(one)["vgg"]["layer"] == {"conv5_4": 2}
    assert load_config(base, ["vgg.layer=conv5_4"])["vgg"]["layer"] == "conv5_4"
    path = tmp_path / "resolved.yml"
    path.write_text(dump_config(cfg))
    assert load_config(path)["vgg"] == cfg["vgg"]


VALID = ", ".join(loss_settings.vgg19_layer_names())


@pytest.mark.parametrize("override, message", [
    ("vgg.layer=relu6_1", f"'vgg.layer' 'relu6_1' is not a VGG19 layer; valid: {VALID}"),
    ("vgg.layer={conv5_4: 1, conv5_5: 1}",
     f"'vgg.layer' names 'conv5_5', not a VGG19 layer; valid: {VALID}"),
    ("vgg.layer={conv1_2: 0}", "'vgg.layer.conv1_2' must be a weight > 0, got 0"),
    ("vgg.layer={conv1_2: -0.1}", "'vgg.layer.conv1_2' must be a weight > 0, got -0.1"),
    ("vgg.layer={conv1_2: high}", "'vgg.layer.conv1_2' must be a weight > 0, got 'high'"),
    ("vgg.layer.conv1_2=.inf", "'vgg.layer.conv1_2' must be a weight > 0, got inf"),
    ("vgg.layer={}", "'vgg.layer' must be a VGG19 layer name or a mapping {layer name: "
                     "weight}, got {}"),
    ("vgg.layer=[conv5_4]", "'vgg.layer' must be a VGG19 layer name or a mapping {layer "
                            "name: weight}, got ['conv5_4']"),
    ("losses.usm.targets=[pixel, gan]", "'losses.usm.targets.1' must be one of 'pixel', "
                                        "'perceptual', 'adversarial', got 'gan'"),
    ("losses.usm.targets=[pixel, pixel]",
     "'losses.usm.targets' lists a term twice: ['pixel', 'pixel']"),
    ("losses.usm.radius=0", "'losses.usm.radius' must be an integer >= 1, got 0"),
    ("losses.usm.weight=-1", "'losses.usm.weight' must be a number >= 0, got -1"),
])
def test_bad_loss_values_are_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(SRGAN, [override])
    assert str(err.value) == f"-o {override}: {message}"


def test_usm_needs_crops_larger_than_half_its_kernel():
    """Reflection padding needs more pixels than the 51-tap kernel's half (25)."""
    fine = ["losses.usm.targets=[pixel]", "datasets.train.hr_crop=28", "scale=4"]
    assert load_config(SRGAN, fine)["losses"]["usm"]["radius"] == 50
    with pytest.raises(ConfigError, match=r"'losses.usm.radius' \(50\) needs HR crops larger "
                                          r"than half its kernel: 'datasets.train.hr_crop' "
                                          r"is 24$"):
        load_config(SRGAN, fine + ["datasets.train.hr_crop=24"])
    # without a sharpened term the radius asks for nothing
    assert load_config(SRGAN, ["datasets.train.hr_crop=24"])["losses"]["usm"]["targets"] == []
