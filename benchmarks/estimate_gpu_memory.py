#!/usr/bin/env python
"""Estimate of the GPU memory an SRGAN (GAN-phase) and SRResNet (MSE-phase) training step needs,
per batch size; one JSON object. An estimate, not a measurement: on a GPU, measure with
`benchmarks/bench_train.py --device gpu`, which reports the allocator's peak.

How: the paper's networks run one forward pass in train mode on the CPU, and hooks add up the
outputs of every leaf layer that autograd keeps for the backward pass (outputs that need a
gradient). The generator step is the peak: G, VGG19 on SR and D on SR all hold their activations
until backward; VGG19 on HR runs without gradients and holds one layer at a time. To that come
the fp32 weights of G, D and VGG19, the gradients of G and D and Adam's two moments for G and D.
Not included: CUDA context and cuDNN workspaces (a few hundred MB, driver-dependent) and
allocator fragmentation. AMP O1 roughly halves the activation part (VGG stays fp32).

    python benchmarks/estimate_gpu_memory.py --lr-size 24 --batches 4 8 16 32
"""
import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MB = 2 ** 20


def kept_activation_bytes(run, *layers):
    """Bytes of the leaf-layer outputs that need a gradient, during `run()`."""
    total = [0]

    def hook(layer, inputs, output):
        if not output.stop_gradient:
            total[0] += output.numel().item() * output.element_size()

    handles = [sub.register_forward_post_hook(hook) for layer in layers
               for sub in layer.sublayers(include_self=True) if not sub.sublayers()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def param_bytes(layer, trainable_only=False):
    return sum(p.numel().item() * p.element_size() for p in layer.parameters()
               if not (trainable_only and p.stop_gradient))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lr-size", type=int, default=24, help="LR patch side (paper: 24, HR 96)")
    ap.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--smoke", action="store_true",
                    help="batch 1 of 8x8 LR patches: checks the script runs")
    args = ap.parse_args()
    if args.smoke:
        args.lr_size, args.batches = 8, [1]

    from paddle_srgan.compat import import_paddle
    from paddle_srgan.models import Discriminator, SRResNet, VGGFeatures
    paddle = import_paddle()
    paddle.set_device("cpu")
    G, D, vgg = SRResNet(), Discriminator(), VGGFeatures("relu5_4", weights="none")
    G.train()
    D.train()
    static = {"weights": param_bytes(G) + param_bytes(D) + param_bytes(vgg),
              "grads_and_adam": 3 * (param_bytes(G, True) + param_bytes(D, True))}
    result = {"lr_size": args.lr_size, "hr_size": 4 * args.lr_size,
              "static_mb": {k: round(v / MB, 1) for k, v in static.items()}, "per_batch": []}
    for batch in args.batches:
        lr = paddle.rand([batch, 3, args.lr_size, args.lr_size])

        def mse_step():
            G(lr)

        def gan_step():
            sr = G(lr)
            vgg((sr + 1) / 2)
            D(sr)

        mse = kept_activation_bytes(mse_step, G)
        gan = kept_activation_bytes(gan_step, G, vgg, D)
        # the MSE phase holds no D: G's weights, gradients and moments only
        mse_static = param_bytes(G) + 3 * param_bytes(G, True)
        result["per_batch"].append({
            "batch": batch,
            "srresnet_step_mb": round((mse + mse_static) / MB),
            "srgan_step_mb": round((gan + sum(static.values())) / MB),
            "srgan_activations_mb": round(gan / MB)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
