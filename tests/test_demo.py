"""The quick-start demo (configs/demo.yml): the MSRResNet preset shrunk, both phases, the
end-of-run verdict, figure and curves."""
import os

import paddle

from paddle_srgan.checkpoint import load_generator_weights
from paddle_srgan.config import DEFAULTS, load_config
from paddle_srgan.data.imresize import imresize
from paddle_srgan.engine.trainer import Trainer
from paddle_srgan.models import MSRResNet, build_generator
from paddle_srgan.models.srresnet import MSRRESNET_OPTIONS
from paddle_srgan.published_weights.pytorch_networks import LAYOUTS

from conftest import ROOT, not_blank, read_rgb


def test_demo_config_is_the_msrresnet_preset_shrunk():
    full = load_config(ROOT / "configs" / "msrresnet.yml")
    demo = load_config(ROOT / "configs" / "demo.yml")
    assert full["network_g"] == {"type": "MSRResNet", "num_feat": 64, "num_block": 16}
    assert demo["network_g"]["type"] == "MSRResNet"
    assert demo["network_g"]["num_feat"] < 64 and demo["network_g"]["num_block"] < 16
    # same two-phase recipe shape: pixel phase, then a GAN phase with a discriminator
    assert [p["name"] for p in demo["train"]["phases"]] == ["mse", "gan"]
    assert demo["train"]["phases"][1]["losses"]["adversarial"] > 0
    net = build_generator(demo)
    assert isinstance(net, MSRResNet) and net.output_range == (0.0, 1.0)
    assert net.input_skip == "bilinear" and net.hr_conv is not None and not net.global_skip
    # the paper recipe stays the paper's network
    assert load_config(ROOT / "configs" / "srgan.yml")["network_g"]["type"] == "SRResNet"


def test_msrresnet_matches_basicsr_options_and_starts_at_bilinear():
    assert MSRRESNET_OPTIONS["norm"] == "none" and MSRRESNET_OPTIONS["head_kernel"] == 3
    for key, value in LAYOUTS["msrresnet"].options.items():  # the weight import's network
        assert MSRRESNET_OPTIONS[key] == (tuple(value) if isinstance(value, list) else value)
    paddle.seed(0)
    net = MSRResNet(num_feat=16, num_block=2)
    net.eval()
    lr = paddle.rand([1, 3, 12, 12])
    bilinear = paddle.nn.functional.interpolate(lr, scale_factor=4, mode="bilinear")
    gap = float((net(lr) - bilinear).abs().max())
    # BasicSR's 0.1-scaled init: the residual branch starts small, not at zero
    assert 0 < gap < 0.05


def test_demo_runs_both_phases_and_lowers_the_pixel_loss(tmp_path):
    overrides = [f"output_dir={tmp_path}", "datasets.train.num_workers=0",
                 "datasets.train.patches_per_image=4", "datasets.val.max_images=1",
                 "train.log_interval=5", "train.val_interval=100", "train.num_samples=1",
                 "train.phases.0.iters=60", "train.phases.0.lr_milestones=[]",
                 "train.phases.1.iters=2", "train.batch_size=4"]
    cfg = load_config(ROOT / "configs" / "demo.yml", overrides)
    paddle.seed(cfg["seed"])
    initial = build_generator(cfg)  # the trainer's generator before its first step
    summary = Trainer(cfg).run()
    run_dir = os.path.join(tmp_path, cfg["experiment"])
    assert summary["iteration"] == 62 and set(summary["phases"]) == {"mse", "gan"}

    hr = read_rgb(ROOT / "data" / "demo" / "astronaut.png")[:256, :256]
    lr = paddle.to_tensor(imresize(hr, scale=0.25).transpose(2, 0, 1)[None] / 255.0,
                          dtype="float32")
    target = paddle.to_tensor(hr.transpose(2, 0, 1)[None] / 255.0, dtype="float32")
    trained = load_generator_weights(build_generator(cfg),
                                     os.path.join(run_dir, "checkpoints", "mse_G.pdparams"))
    losses = []
    for net in (initial, trained):
        net.eval()
        losses.append(float(((net(lr) - target) ** 2).mean()))
    assert losses[1] < 0.9 * losses[0]

    for name in ("comparison.png", "curves.png"):
        assert not_blank(os.path.join(run_dir, name)), name
    assert os.path.getsize(os.path.join(run_dir, "scalars.jsonl")) > 0
    assert os.listdir(os.path.join(run_dir, "samples"))  # sample strips on disk too
    log = open(os.path.join(run_dir, "log.txt"), encoding="utf-8").read()
    assert "after phase 'mse'" in log and "after phase 'gan'" in log
    assert "tools/infer.py" in log and "mse_G.pdparams" in log


def test_realworld_presets_are_their_clean_presets_trained_on_degradations():
    """configs/realworld.yml is msrresnet.yml (network, phases, losses) and demo_realworld.yml
    is demo.yml (network but its upsampler, the two phases with a discriminator in the
    second) with datasets.train.type realworld; the full preset keeps Real-ESRGAN's published
    degradations, the demo its own milder ones and pixel shuffle (README, Results)."""
    for realworld, clean in (("realworld.yml", "msrresnet.yml"),
                             ("demo_realworld.yml", "demo.yml")):
        rw, base = (load_config(ROOT / "configs" / name) for name in (realworld, clean))
        assert rw["datasets"]["train"]["type"] == "realworld", realworld
        assert base["datasets"]["train"]["type"] == "hr_only"
        same_g = {k: v for k, v in rw["network_g"].items() if k != "upsampler"}
        assert same_g == {k: v for k, v in base["network_g"].items() if k != "upsampler"}
        assert rw["network_d"] == base["network_d"]
        assert [p["name"] for p in rw["train"]["phases"]] == ["mse", "gan"]
        assert rw["train"]["phases"][1]["losses"]["adversarial"] > 0
    assert load_config(ROOT / "configs" / "realworld.yml")["network_g"] == load_config(
        ROOT / "configs" / "msrresnet.yml")["network_g"]
    full = load_config(ROOT / "configs" / "realworld.yml")
    assert full["train"]["phases"] == load_config(ROOT / "configs" / "msrresnet.yml")["train"][
        "phases"]
    assert full["datasets"]["train"]["degradation"] == DEFAULTS["datasets"]["train"]["degradation"]
    assert full["datasets"]["train"]["hr_crop"] == 256  # Real-ESRGAN's crop
    assert full["train"]["phases"][1]["losses"]["perceptual"] == 1.0  # the paper's VGG54


def test_demo_realworld_resolves_and_runs_two_steps(tmp_path):
    overrides = [f"output_dir={tmp_path}", "datasets.train.num_workers=0",
                 "datasets.train.patches_per_image=2", "datasets.val.max_images=1",
                 "train.num_samples=1", "train.phases.0.iters=1", "train.phases.0.lr_milestones=[]",
                 "train.phases.1.iters=1", "train.phases.1.lr_milestones=[]"]
    cfg = load_config(ROOT / "configs" / "demo_realworld.yml", overrides)
    summary = Trainer(cfg).run()
    assert summary["iteration"] == 2 and set(summary["phases"]) == {"mse", "gan"}
    saved = load_config(os.path.join(tmp_path, cfg["experiment"], "config.yml"))
    assert saved["datasets"]["train"]["type"] == "realworld"
