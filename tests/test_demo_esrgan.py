"""The ESRGAN demo (configs/demo_esrgan.yml): RRDBNet shrunk for a CPU, a pixel-L1 phase (the
PSNR-oriented model) then ESRGAN's GAN phase, feature matching on D standing in for VGG."""
import json
import os

import numpy as np

from paddle_srgan.checkpoint import load_generator_weights
from paddle_srgan.config import load_config
from paddle_srgan.engine.trainer import Trainer
from paddle_srgan.models import RRDBNet, build_generator

from conftest import ROOT

DEMO = ROOT / "configs" / "demo_esrgan.yml"


def test_demo_esrgan_is_rrdbnet_shrunk_with_the_esrgan_gan_phase():
    cfg = load_config(DEMO)
    net = build_generator(cfg)
    assert isinstance(net, RRDBNet) and net.scale == 4
    # the paper's RRDBNet (64 features, 23 RRDBs, growth 32) has 16.7 M parameters
    assert sum(int(p.numel()) for p in net.parameters()) < 400_000
    assert cfg["losses"]["pixel"]["criterion"] == "l1"          # ESRGAN: L1 in both phases
    assert cfg["losses"]["adversarial"]["form"] == "relativistic"
    pixel, gan = cfg["train"]["phases"]
    assert (pixel["name"], gan["name"]) == ("mse", "gan")
    assert pixel["losses"] == {"pixel": 1.0, "perceptual": 0.0, "adversarial": 0.0,
                               "feature_matching": 0.0}
    # ESRGAN section 3.3: L_percep + 5e-3 L_G^Ra + 1e-2 L1; feature matching on D stands in
    # for L_percep (no VGG19 download), so no VGG term and no VGG network
    assert gan["losses"] == {"pixel": 1.0e-2, "perceptual": 0.0, "adversarial": 5.0e-3,
                             "feature_matching": 1.0}
    assert 0 < gan["network_interpolation"] < 1                 # ESRGAN section 3.4


def test_demo_esrgan_resolves_and_runs_two_iterations_of_each_phase(tmp_path):
    overrides = [f"output_dir={tmp_path}", "datasets.train.num_workers=0",
                 "datasets.train.patches_per_image=2", "datasets.val.max_images=1",
                 "train.num_samples=1", "train.log_interval=1",
                 "train.phases.0.iters=2", "train.phases.0.lr_milestones=[]",
                 "train.phases.1.iters=2", "train.phases.1.lr_milestones=[]"]
    cfg = load_config(DEMO, overrides)
    summary = Trainer(cfg).run()
    assert summary["iteration"] == 4 and set(summary["phases"]) == {"mse", "gan"}
    run_dir = os.path.join(tmp_path, cfg["experiment"])

    with open(os.path.join(run_dir, "scalars.jsonl"), encoding="utf-8") as f:
        logged = {}
        for line in f:
            record = json.loads(line)
            logged.setdefault(record["tag"], {})[record["step"]] = record["value"]
    # the pixel phase trains G alone; the GAN phase adds RaGAN and feature matching through D
    assert set(logged["train/g_pixel"]) == {1, 2, 3, 4}
    for term in ("train/g_adversarial", "train/g_feature_matching"):
        assert set(logged[term]) == {3, 4}, term

    weights = {}
    for phase in ("mse", "gan"):
        net = load_generator_weights(build_generator(cfg),
                                     os.path.join(run_dir, "checkpoints", f"{phase}_G.pdparams"))
        weights[phase] = {k: v.numpy() for k, v in net.state_dict().items()}
    moved = [k for k in weights["mse"] if not np.array_equal(weights["mse"][k],
                                                             weights["gan"][k])]
    assert moved  # the GAN phase trained G (then interpolated towards its start)
