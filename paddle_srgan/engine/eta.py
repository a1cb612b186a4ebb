"""What an iteration of each phase costs, so the progress bar and its ETA count work, not
iterations.

Why: an iteration of a phase that trains a discriminator (or runs the VGG loss) costs several
times a pixel-loss one; a bar over iterations took the pixel phase's rate for the whole run,
and its ETA jumped when the GAN phase began (the demo: 2:40, then 11:17). The cost is
estimated from the multiply-adds of the networks a phase runs, counted once on one sample of
the training crop (convolutions and linear layers; backward = 2 x forward):

    every phase        G forward + backward                     3 G
    perceptual > 0     VGG on SR and HR, backward through SR    4 VGG
    adversarial > 0    G step: D on fake (+ backward) and real  4 D
                       D step: D on real and fake (+ backward)  6 D

The unit is one pixel-loss iteration (3 G); once a phase runs, tqdm's measured rate takes over.
"""
import math

from tqdm import tqdm

from ..compat import import_paddle
from ..models import final_level

paddle = import_paddle()


def multiply_adds(layer, *inputs):
    """Multiply-adds of the Conv2D, Conv2DTranspose and Linear layers inside `layer` in one
    call `layer(*inputs)` (no gradients; the caller sets train / eval mode). Returns
    (count, the call's output)."""
    nn = paddle.nn
    total = [0]

    def count(sub, args, out):
        w = sub.weight.shape
        if isinstance(sub, nn.Conv2DTranspose):  # each input pixel scatters a kernel
            total[0] += math.prod(args[0].shape) * math.prod(w[1:])
        elif isinstance(sub, nn.Conv2D):  # each output pixel gathers one
            total[0] += math.prod(out.shape) * math.prod(w[1:])
        else:  # Linear: weight [in, out]
            total[0] += math.prod(out.shape) * w[0]

    hooks = [sub.register_forward_post_hook(count) for sub in layer.sublayers(include_self=True)
             if isinstance(sub, (nn.Conv2D, nn.Conv2DTranspose, nn.Linear))]
    try:
        with paddle.no_grad():
            out = layer(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return total[0], out


def phase_costs(nets, phases, hr_crop, scale):
    """[cost of one iteration of each phase of `phases` (resolved train.phases)], in pixel-loss
    iterations, for `nets` (engine.step.Networks) on HR crops of `hr_crop` pixels at `scale`.
    The networks run once each in eval mode (no BatchNorm statistics or spectral-norm vectors
    change) and get their modes back."""
    modes = [(net, net.training) for net in (nets.G, nets.D, nets.perceptual) if net is not None]
    for net, _ in modes:
        net.eval()
    try:
        side = hr_crop // scale
        lr = paddle.zeros([1, nets.G.in_channels, side, side], "float32")
        g, out = multiply_adds(nets.G, lr)
        sr = final_level(out)
        d = multiply_adds(nets.D, sr)[0] if nets.D is not None else 0
        vgg_both = multiply_adds(nets.perceptual, sr, sr)[0] if nets.perceptual is not None else 0
    finally:
        for net, training in modes:
            if training:
                net.train()
    costs = []
    for phase in phases:
        weights = phase["losses"]
        cost = 3 * g + (2 * vgg_both if weights["perceptual"] else 0) \
            + (10 * d if weights["adversarial"] else 0)
        costs.append(cost / (3 * g) if g else 1.0)
    return costs


class RunProgress:
    """The run's progress bar: it fills by work (phase_costs), so its ETA covers the phases
    still to come; its label counts iterations. A context manager (the bar closes on errors
    too, so an error's message starts a line of its own).

    Args:
        phases: resolved train.phases; costs: phase_costs of them (or 1 each).
        iteration: iterations done (a resumed run); enabled: False on ranks other than 0.
    """

    BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"

    def __init__(self, phases, costs, iteration, enabled=True):
        self.costs = costs
        self.total = sum(p["iters"] for p in phases)
        done, left = 0.0, iteration
        for phase, cost in zip(phases, costs):
            done += min(left, phase["iters"]) * cost
            left -= min(left, phase["iters"])
        self.bar = tqdm(total=sum(p["iters"] * c for p, c in zip(phases, costs)), initial=done,
                        disable=not enabled, dynamic_ncols=True, bar_format=self.BAR_FORMAT,
                        desc=self._label(iteration))

    def _label(self, iteration):
        return f"train {iteration}/{self.total} it"

    def advance(self, phase, iteration):
        """Iteration `iteration` (1-based, global) of phase index `phase` is done."""
        self.bar.set_description_str(self._label(iteration), refresh=False)
        self.bar.update(self.costs[phase])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
