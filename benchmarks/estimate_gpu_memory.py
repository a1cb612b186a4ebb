#!/usr/bin/env python
"""Estimate of the GPU memory one training iteration of a config needs, per phase and batch
size; one JSON object. An estimate, not a measurement: on a GPU, measure with
`benchmarks/bench_train.py --device gpu`, which reports the allocator's peak.

How: the config's own training step (engine.step.PhaseStep: the generator step, then the
discriminator step in phases with an adversarial term) runs on the CPU, and Paddle's
saved-tensor hooks add up every tensor autograd keeps for a backward pass (each storage once,
parameters apart), for the generator step and the discriminator step separately: the larger
is the iteration's activation peak. Hooks on layer outputs would miss what no layer returns,
such as the concatenations that feed RRDBNet's dense convolutions (most of its activations).
The kept bytes are affine in the batch, so the step runs at batches 1 and 2 and the line
through them gives any batch. To them come the fp32 weights of every network the run builds
(G, its EMA copy, D, VGG19), the phase-start G that network interpolation keeps, and for the
networks the phase trains their gradients and Adam's two moments.
Not included: the gradients of activations during backward (transient, about the size of the
largest few activations), CUDA context and cuDNN workspaces (a few hundred MB, driver-
dependent), allocator fragmentation, validation. AMP O1 roughly halves the activation part.

    python benchmarks/estimate_gpu_memory.py -c configs/esrgan.yml --batches 8 16
    python benchmarks/estimate_gpu_memory.py -c configs/srgan.yml --lr-size 24 --batches 16 32
"""
import argparse
import json
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MB = 2 ** 20
MEASURED_BATCHES = (1, 2)  # two points of the (affine) kept-bytes line


def tensor_bytes(tensor):
    return tensor.numel().item() * tensor.element_size()


def param_bytes(layers, trainable_only=False):
    """Bytes of the parameters of `layers` (None skipped), each storage once."""
    seen = {}
    for layer in layers:
        for p in layer.parameters() if layer is not None else ():
            if not (trainable_only and p.stop_gradient):
                seen[p.data_ptr()] = tensor_bytes(p)
    return sum(seen.values())


class SavedTensors:
    """Bytes of the tensors autograd saves for backward while a bucket is open (`counting`),
    per bucket; each storage counted once, the storages in `excluded` (weights) not at all."""

    def __init__(self, excluded):
        self.excluded = set(excluded)
        self.bucket = None
        # address -> the tensor, held so that no later tensor of the bucket gets its address
        self.bytes, self._seen = {}, {}

    def pack(self, tensor):
        if self.bucket is not None:
            seen = self._seen.setdefault(self.bucket, {})
            key = tensor.data_ptr()
            if key not in self.excluded and key not in seen:
                seen[key] = tensor
                self.bytes[self.bucket] = self.bytes.get(self.bucket, 0) + tensor_bytes(tensor)
        # a copy: Paddle 2.6 crashes in backward (ReluGradNode's ResetHolder) when a ReLU
        # output that a convolution saves too comes back from the hooks as itself
        return tensor.detach().clone()

    @staticmethod
    def unpack(tensor):
        return tensor

    def counting(self, bucket, method):
        """`method` with the tensors it saves counted under `bucket`."""
        def run(*args, **kwargs):
            self.bucket = bucket
            try:
                return method(*args, **kwargs)
            finally:
                self.bucket = None
        return run


def random_batch(paddle, G, size, lr_size, levels, level_key):
    """`size` training samples of random images (values do not change what autograd keeps):
    'lr' [size, C, lr_size, lr_size] in [0, 1], 'hr' at G's scale, and the HR of each coarser
    level of a multi-level generator ('hr_x<s>')."""
    def images(channels, side):
        return paddle.rand([size, channels, side, side])
    batch = {"lr": images(G.in_channels, lr_size), "hr": images(G.out_channels, lr_size * G.scale)}
    for s in levels[:-1]:
        batch[level_key("hr", s)] = images(G.out_channels, lr_size * s)
    return batch


def kept_bytes(paddle, step, batch, excluded):
    """{'g_step': bytes, 'd_step': bytes} autograd keeps in one iteration of `step`."""
    saved = SavedTensors(excluded)
    parts = ("g_step", "d_step")
    for name in parts:  # the instance's method, counted; the class's is restored below
        setattr(step, name, saved.counting(name, getattr(step, name)))
    try:
        with paddle.autograd.saved_tensors_hooks(saved.pack, saved.unpack):
            step(batch)
    finally:
        for name in parts:
            delattr(step, name)
    return {k: saved.bytes.get(k, 0) for k in parts}


def estimate_phase(paddle, cfg, nets, phase, lr_size, batches):
    """One `train.phases` entry: its fixed memory, kept activations per image and the total
    per batch size (MB)."""
    from paddle_srgan.engine.step import NanGuard, PhaseStep
    from paddle_srgan.models import level_key, level_scales
    levels = level_scales(nets.G, cfg["scale"])
    step = PhaseStep(nets, phase, cfg["train"], cfg["losses"], levels, NanGuard(False, 1))
    trained = [nets.G] + ([nets.D] if step.opt_d is not None else [])
    built = [nets.G, nets.G_ema, nets.D, nets.perceptual]
    static = {"weights": param_bytes(built),
              "grads_and_adam": 3 * param_bytes(trained, trainable_only=True),
              "phase_start_g": 0 if step.g_start is None else
              sum(tensor_bytes(t) for t in step.g_start.values())}
    excluded = {p.data_ptr() for layer in built if layer is not None
                for p in layer.parameters()}
    points = [kept_bytes(paddle, step, random_batch(paddle, nets.G, b, lr_size, levels, level_key),
                         excluded) for b in MEASURED_BATCHES]
    (b1, b2), (k1, k2) = MEASURED_BATCHES, points
    slope = {k: (k2[k] - k1[k]) / (b2 - b1) for k in k1}
    line = {k: k1[k] - slope[k] * b1 for k in k1}
    per_batch = []
    for batch in batches:
        act = {k: line[k] + slope[k] * batch for k in line}
        peak = max(act, key=act.get)
        per_batch.append({"batch": batch,
                          "step_mb": round((act[peak] + sum(static.values())) / MB),
                          "activations_mb": round(act[peak] / MB), "peak_in": peak})
    return {"name": phase["name"], "trains": ["G", "D"][:len(trained)],
            "static_mb": {k: round(v / MB, 1) for k, v in static.items()},
            "activations_mb_per_image": {k: round(v / MB, 1) for k, v in slope.items()},
            "per_batch": per_batch}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--config", default=str(ROOT / "configs" / "srgan.yml"),
                    help="training config (default: configs/srgan.yml)")
    ap.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, as in tools/train.py")
    ap.add_argument("--lr-size", type=int, default=None,
                    help="LR patch side (default: the config's datasets.train.hr_crop / scale)")
    ap.add_argument("--batches", type=int, nargs="+", default=None,
                    help="batch sizes to report (default: the config's train.batch_size)")
    ap.add_argument("--smoke", action="store_true",
                    help="8x8 LR patches, batch 1: checks the script runs")
    args = ap.parse_args()

    from paddle_srgan.compat import import_paddle
    from paddle_srgan.config import load_config
    from paddle_srgan.engine.step import build_networks
    paddle = import_paddle()
    paddle.set_device("cpu")
    # random VGG weights keep the same activations and need no download
    cfg = load_config(args.config, ["vgg.weights=none", *args.override])
    if args.smoke:
        args.lr_size, args.batches = 8, [1]
    lr_size = args.lr_size or cfg["datasets"]["train"]["hr_crop"] // cfg["scale"]
    batches = args.batches or [cfg["train"]["batch_size"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random VGG's, BatchNorm's train-mode notice
        nets = build_networks(cfg)
        phases = [estimate_phase(paddle, cfg, nets, phase, lr_size, batches)
                  for phase in cfg["train"]["phases"]]
    print(json.dumps({"config": Path(args.config).name, "estimate": "autograd's saved tensors",
                      "lr_size": lr_size, "hr_size": lr_size * cfg["scale"], "phases": phases}))


if __name__ == "__main__":
    main()
