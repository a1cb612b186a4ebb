"""The ESRGAN and Real-ESRGAN presets against their published training files.

ROWS is the table of keys: each resolves (load_config, what `--print-config` prints) to the
published value, or to ours with the reason it differs; the manual's "ESRGAN and Real-ESRGAN"
(docs/training.md) shows the same rows. The published values were read in:

  BasicSR (XPixelGroup/BasicSR)
    options/train/ESRGAN/train_RRDBNet_PSNR_x4.yml        ("psnr yml")
    options/train/ESRGAN/train_ESRGAN_x4.yml              ("esrgan yml"; its later versions
                                                           add train.ema_decay 0.999)
    basicsr/utils/img_process_util.py                      (USMSharp / usm_sharp defaults)
  Real-ESRGAN (xinntao/Real-ESRGAN)
    options/train_realesrnet_x4plus.yml                    ("realesrnet yml", phase 0)
    options/train_realesrgan_x4plus.yml                    ("realesrgan yml", phase 1)
  Wang et al., ESRGAN, ECCV Workshops 2018: 3.2 RaGAN, 3.3 perceptual loss before activation,
    3.4 network interpolation, 4.1 training details (Adam beta2 0.999 there, lr halved every
    2e5 in the PSNR stage), 4.2 data (DIV2K + Flickr2K + OST); the ESRGAN repository's
    README runs net_interp.py with alpha 0.8.
  Wang et al., Real-ESRGAN, ICCV Workshops 2021: 3.4 U-Net discriminator with spectral norm,
    4.1 training details (RealESRNet fine-tuned from ESRGAN, EMA, loss weights {1, 1, 0.1},
    VGG19 conv1..conv5 before activation with {0.1, 0.1, 1, 1, 1}, USM-sharpened GT).

realesrgan_x4plus.yml needs `vgg.layer` as a mapping and `losses.usm` (the multi-layer
perceptual loss and USM targets): without them the file does not resolve.
"""
import os
import re
from typing import Any, NamedTuple

import pytest
import yaml

from paddle_srgan.checkpoint import phase_weights_path
from paddle_srgan.config import DEFAULTS, load_config
from paddle_srgan.models import build_discriminator, build_generator, count_parameters

from conftest import ROOT, manual_text

SAME = object()  # ours is the published value


class Text(str):
    """A published setting our config cannot state as a value (a schedule, a dataset)."""


class Row(NamedTuple):
    key: str          # our config key
    published: Any    # the published value in our key's terms, or a Text
    source: str       # where it is published
    ours: Any = SAME
    why: str = ""


PSNR_YML, ESRGAN_YML = "psnr yml", "esrgan yml"
NET_YML, GAN_YML = "realesrnet yml", "realesrgan yml"
USM = "BasicSR USMSharp"

ROWS = {
    "esrgan_psnr.yml": [
        Row("scale", 4, f"{PSNR_YML} scale"),
        Row("network_g.type", "RRDBNet", f"{PSNR_YML} network_g.type"),
        Row("network_g.num_block", 23, f"{PSNR_YML} network_g.num_block"),
        Row("network_g.num_feat", 64, f"{PSNR_YML} network_g.num_feat"),
        Row("network_g.num_grow_ch", 32, f"{PSNR_YML} network_g.num_grow_ch"),
        Row("losses.pixel.criterion", "l1", f"{PSNR_YML} train.pixel_opt.type"),
        Row("train.phases.0.losses.pixel", 1.0, f"{PSNR_YML} train.pixel_opt.loss_weight"),
        Row("train.phases.0.iters", 1000000, f"{PSNR_YML} train.total_iter"),
        Row("train.phases.0.lr", 2e-4, f"{PSNR_YML} train.optim_g.lr"),
        Row("train.phases.0.lr_milestones",
            Text("cosine annealing, restarts every 250000, eta_min 1e-7"),
            f"{PSNR_YML} train.scheduler", [200000, 400000, 600000, 800000],
            "our phases decay in steps only: the paper's schedule (4.1, halved every 2e5)"),
        Row("train.phases.0.lr_gamma", Text("cosine"), f"{PSNR_YML} train.scheduler", 0.5,
            "as above"),
        Row("train.beta1", 0.9, f"{PSNR_YML} train.optim_g.betas"),
        Row("train.beta2", 0.99, f"{PSNR_YML} train.optim_g.betas; paper 4.1: 0.999"),
        Row("train.batch_size", 16, f"{PSNR_YML} batch_size_per_gpu, 1 GPU"),
        Row("datasets.train.hr_crop", 128, f"{PSNR_YML} gt_size"),
        Row("datasets.train.flip", True, f"{PSNR_YML} use_flip"),
        Row("datasets.train.rot90", True, f"{PSNR_YML} use_rot"),
        Row("datasets.train.hr_dir", Text("DIV2K_train_HR_sub"), f"{PSNR_YML} dataroot_gt",
            "DIV2K/DIV2K_train_HR",
            "the same 800 images, not cut into sub-images; the paper adds Flickr2K and OST "
            "(4.2)"),
    ],
    "esrgan.yml": [
        Row("train.pretrained_g", Text("net_g_1000000.pth of 051_RRDBNet_PSNR_x4"),
            f"{ESRGAN_YML} path.pretrain_network_g",
            "output/esrgan_psnr_x4/checkpoints/mse_G.pdparams", "esrgan_psnr.yml's result"),
        Row("network_d.type", "VGGStyleDiscriminator", f"{ESRGAN_YML} network_d.type"),
        Row("network_d.num_feat", 64, f"{ESRGAN_YML} network_d.num_feat"),
        Row("network_d.input_size", 128, f"{ESRGAN_YML} gt_size"),
        Row("train.phases.0.iters", 400000, f"{ESRGAN_YML} train.total_iter"),
        Row("train.phases.0.lr", 1e-4, f"{ESRGAN_YML} train.optim_g.lr, optim_d.lr"),
        Row("train.phases.0.lr_milestones", [50000, 100000, 200000, 300000],
            f"{ESRGAN_YML} train.scheduler.milestones"),
        Row("train.phases.0.lr_gamma", 0.5, f"{ESRGAN_YML} train.scheduler.gamma"),
        Row("train.beta2", 0.99, f"{ESRGAN_YML} train.optim_g.betas, optim_d.betas"),
        Row("train.phases.0.losses.pixel", 1e-2, f"{ESRGAN_YML} train.pixel_opt.loss_weight"),
        Row("losses.pixel.criterion", "l1", f"{ESRGAN_YML} train.pixel_opt.type"),
        Row("train.phases.0.losses.perceptual", 1.0,
            f"{ESRGAN_YML} train.perceptual_opt.perceptual_weight"),
        Row("vgg.layer", "conv5_4", f"{ESRGAN_YML} train.perceptual_opt.layer_weights"),
        Row("vgg.feature_scale", 1.0, f"{ESRGAN_YML} train.perceptual_opt, unscaled"),
        Row("losses.perceptual.criterion", "l1", f"{ESRGAN_YML} train.perceptual_opt.criterion"),
        Row("train.phases.0.losses.adversarial", 5e-3,
            f"{ESRGAN_YML} train.gan_opt.loss_weight"),
        Row("losses.adversarial.form", "relativistic", f"{ESRGAN_YML} model_type ESRGANModel"),
        Row("train.phases.0.network_interpolation", 0.8, "paper 3.4; ESRGAN net_interp.py 0.8"),
        Row("train.ema_decay", 0.999, f"{ESRGAN_YML} train.ema_decay, later versions", None,
            "network interpolation instead, as the paper: our config takes one of the two"),
        Row("datasets.val.hr_dir", Text("Set14"), f"{ESRGAN_YML} datasets.val",
            "benchmarks/Set5/HR", "Set5 ships with the repository"),
    ],
    "realesrgan_x4plus.yml": [
        Row("network_g.type", "RRDBNet", f"{NET_YML}, {GAN_YML} network_g.type"),
        Row("network_g.num_block", 23, f"{GAN_YML} network_g.num_block"),
        Row("network_g.num_feat", 64, f"{GAN_YML} network_g.num_feat"),
        Row("network_g.num_grow_ch", 32, f"{GAN_YML} network_g.num_grow_ch"),
        Row("network_d.type", "UNetDiscriminatorSN", f"{GAN_YML} network_d.type"),
        Row("network_d.num_feat", 64, f"{GAN_YML} network_d.num_feat"),
        Row("network_d.skip_connection", True, f"{GAN_YML} network_d.skip_connection"),
        Row("datasets.train.type", Text("RealESRGANDataset"), f"{GAN_YML} datasets.train.type",
            "realworld", "our name for the same second-order degradations"),
        Row("datasets.train.hr_crop", 256, f"{GAN_YML} gt_size"),
        Row("train.batch_size", 12, f"{GAN_YML} batch_size_per_gpu, 4 GPUs"),
        Row("datasets.train.flip", Text("horizontal only"), f"{GAN_YML} use_hflip", True,
            "our flip is horizontal and vertical"),
        Row("datasets.train.rot90", False, f"{GAN_YML} use_rot"),
        Row("datasets.train.hr_dir", Text("DF2K + OST, multi-scale sub-images"),
            f"{GAN_YML} dataroot_gt, meta_info", "DIV2K/DIV2K_train_HR",
            "gather the images into one folder and point hr_dir at it"),
        Row("train.pretrained_g", Text("ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"),
            f"{NET_YML} path.pretrain_network_g", None,
            "converted ESRGAN weights are the user's to give"),
        Row("train.ema_decay", 0.999, f"{NET_YML}, {GAN_YML} train.ema_decay"),
        Row("train.beta1", 0.9, f"{GAN_YML} train.optim_g.betas"),
        Row("train.beta2", 0.99, f"{GAN_YML} train.optim_g.betas, optim_d.betas"),
        Row("losses.pixel.criterion", "l1", f"{NET_YML}, {GAN_YML} train.pixel_opt.type"),
        Row("train.phases.0.losses.pixel", 1.0, f"{NET_YML} train.pixel_opt.loss_weight"),
        Row("train.phases.0.iters", 1000000, f"{NET_YML} train.total_iter"),
        Row("train.phases.0.lr", 2e-4, f"{NET_YML} train.optim_g.lr"),
        Row("train.phases.0.lr_milestones", [1000000], f"{NET_YML} train.scheduler.milestones"),
        Row("train.phases.0.lr_gamma", 0.5, f"{NET_YML} train.scheduler.gamma"),
        Row("train.phases.1.iters", 400000, f"{GAN_YML} train.total_iter"),
        Row("train.phases.1.lr", 1e-4, f"{GAN_YML} train.optim_g.lr, optim_d.lr"),
        Row("train.phases.1.lr_milestones", [400000], f"{GAN_YML} train.scheduler.milestones"),
        Row("train.phases.1.lr_gamma", 0.5, f"{GAN_YML} train.scheduler.gamma"),
        Row("train.phases.1.losses.pixel", 1.0, f"{GAN_YML} train.pixel_opt.loss_weight"),
        Row("train.phases.1.losses.perceptual", 1.0,
            f"{GAN_YML} train.perceptual_opt.perceptual_weight"),
        Row("train.phases.1.losses.adversarial", 0.1, f"{GAN_YML} train.gan_opt.loss_weight"),
        Row("losses.adversarial.form", "vanilla", f"{GAN_YML} train.gan_opt.gan_type"),
        Row("vgg.layer", {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1,
                          "conv5_4": 1}, f"{GAN_YML} train.perceptual_opt.layer_weights"),
        Row("vgg.feature_scale", 1.0, f"{GAN_YML} train.perceptual_opt, unscaled"),
        Row("losses.perceptual.criterion", "l1", f"{GAN_YML} train.perceptual_opt.criterion"),
        Row("losses.usm.targets", ["pixel", "perceptual"],
            f"{GAN_YML} l1_gt_usm, percep_gt_usm true, gan_gt_usm false; {NET_YML} gt_usm"),
        Row("losses.usm.weight", 0.5, f"{USM} weight"),
        Row("losses.usm.radius", 50, f"{USM} radius"),
        Row("losses.usm.threshold", 10, f"{USM} threshold"),
    ],
}

# realesrgan yml's degradation keys in our names (blur_kernel_size 21: sides 7..21)
DEGRADATION = {
    "kernel_range": [7, 21], "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
                    "plateau_aniso"],
    "sinc_prob": 0.1, "blur_sigma": [0.2, 3], "betag_range": [0.5, 4], "betap_range": [1, 2],
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95], "second_blur_prob": 0.8, "sinc_prob2": 0.1,
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "blur_sigma2": [0.2, 1.5],
    "betag_range2": [0.5, 4], "betap_range2": [1, 2], "resize_prob2": [0.3, 0.4, 0.3],
    "resize_range2": [0.3, 1.2], "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25],
    "poisson_scale_range2": [0.05, 2.5], "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95],
    "final_sinc_prob": 0.8,
}


def value_at(cfg, key):
    for part in key.split("."):
        cfg = cfg[int(part)] if isinstance(cfg, list) else cfg[part]
    return cfg


def expected(row):
    return row.published if row.ours is SAME else row.ours


def preset(name, overrides=()):
    return load_config(ROOT / "configs" / name, list(overrides))


@pytest.mark.parametrize("name", sorted(ROWS))
def test_preset_resolves_to_the_published_values_or_says_why_not(name):
    cfg = preset(name)
    for row in ROWS[name]:
        assert value_at(cfg, row.key) == expected(row), (name, row.key)
        # a difference has a reason, and a reason marks a difference
        assert bool(row.why) == (row.ours is not SAME), (name, row.key)
        assert not isinstance(row.published, Text) or row.ours is not SAME, (name, row.key)


def test_realesrgan_degradations_are_the_published_ones():
    cfg = preset("realesrgan_x4plus.yml")
    degradation = cfg["datasets"]["train"]["degradation"]
    assert {k: degradation[k] for k in DEGRADATION} == DEGRADATION
    assert degradation == DEFAULTS["datasets"]["train"]["degradation"]


def test_esrgan_starts_from_the_model_esrgan_psnr_ends_with():
    """esrgan.yml is stage 2 of esrgan_psnr.yml: the same network, data, batch and Adam betas,
    started from the file the PSNR run writes at the end of its (only) phase."""
    psnr, gan = preset("esrgan_psnr.yml"), preset("esrgan.yml")
    last = psnr["train"]["phases"][-1]["name"]
    assert gan["train"]["pretrained_g"] == phase_weights_path(
        os.path.join(psnr["output_dir"], psnr["experiment"]), last)
    assert psnr["experiment"] != gan["experiment"]  # two run folders
    for key in ("network_g", "scale", "datasets", "train.batch_size", "train.beta1",
                "train.beta2"):
        assert value_at(gan, key) == value_at(psnr, key), key
    assert [p["name"] for p in gan["train"]["phases"]] == ["gan"]
    assert psnr["train"]["phases"][0]["losses"]["adversarial"] == 0  # no D in stage 1


@pytest.mark.parametrize("name", ["esrgan.yml", "realesrgan_x4plus.yml"])
def test_preset_networks_have_the_published_sizes(name):
    """RRDBNet 23 / 64 / 32 is ESRGAN's 16.7 M-parameter generator; each discriminator builds
    for the preset's crops."""
    cfg = preset(name)
    assert round(count_parameters(build_generator(cfg)) / 1e5) == 167
    D = build_discriminator(cfg)
    assert type(D).__name__ == cfg["network_d"]["type"]


def manual_tables():
    """{preset file: {key: (published cell, ours cell, why cell)}} from the tables of the
    manual's 'ESRGAN and Real-ESRGAN' section (docs/training.md) headed 'key | published value
    (file) | ours | ...'; a table belongs to the configs/*.yml its lead-in line names."""
    text = manual_text()
    section = text.split("\n## ESRGAN and Real-ESRGAN\n", 1)[1].split("\n## ", 1)[0]
    tables, named, table = {}, None, None
    for line in section.splitlines():
        if not line.startswith("|"):
            table = None
            named = (re.findall(r"configs/(\w+\.yml)", line) or [named])[0]
        elif line.startswith("| key | published value (file) | ours | why different |"):
            table = tables.setdefault(named, {})
        elif table is not None and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            key = cells[0].strip("`")
            assert key not in table, (named, key)
            table[key] = tuple(cells[1:4])
    return tables


def first_code(cell):
    """The YAML value of the first `code` span of a manual table cell."""
    return yaml.safe_load(re.search(r"`([^`]*)`", cell).group(1))


def test_the_manuals_table_shows_the_rows():
    tables = manual_tables()
    assert set(tables) == set(ROWS)
    for name, rows in ROWS.items():
        assert list(tables[name]) == [row.key for row in rows], name
        for row in rows:
            published, ours, why = tables[name][row.key]
            if isinstance(row.published, Text):
                assert row.published in published, (name, row.key)
            else:
                assert first_code(published) == row.published, (name, row.key)
            assert f"({row.source})" in published, (name, row.key)
            if row.ours is SAME:
                assert ours == "same" and not why, (name, row.key)
            else:
                assert first_code(ours) == row.ours and why, (name, row.key)
