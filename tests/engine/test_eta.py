"""The progress bar counts work: each phase's iteration cost from the multiply-adds of the
networks it runs (engine/eta.py), checked against counts by hand."""
from types import SimpleNamespace

import paddle
import pytest

from paddle_srgan.engine.eta import RunProgress, multiply_adds, phase_costs


def test_multiply_adds_of_conv_transposed_conv_and_linear_by_hand():
    paddle.seed(0)
    x = paddle.zeros([2, 3, 8, 10])
    # a 3x3 conv, 3 -> 4 channels, stride 1, padding 1: each of 2*4*8*10 outputs takes 3*3*3
    assert multiply_adds(paddle.nn.Conv2D(3, 4, 3, padding=1), x)[0] == 2 * 4 * 8 * 10 * 27
    # grouped, stride 2: 2*6*4*5 outputs of (3 / 3 groups) * 3 * 3
    assert multiply_adds(paddle.nn.Conv2D(3, 6, 3, stride=2, padding=1, groups=3), x)[0] \
        == 2 * 6 * 4 * 5 * 9
    # transposed 4x4, 3 -> 5: each of the 2*3*8*10 inputs scatters 5 * 4 * 4
    assert multiply_adds(paddle.nn.Conv2DTranspose(3, 5, 4, stride=2, padding=1), x)[0] \
        == 2 * 3 * 8 * 10 * 5 * 16
    net = paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(240, 7))
    assert multiply_adds(net, x)[0] == 2 * 240 * 7


class TwoCalls(paddle.nn.Layer):
    """A perceptual loss's shape: its network on SR and on HR."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sr, hr):
        return self.net(sr) + self.net(hr)


def test_phase_costs_add_the_discriminator_and_vgg_where_a_phase_uses_them():
    paddle.seed(0)
    G = paddle.nn.Sequential(paddle.nn.Conv2D(3, 48, 3, padding=1), paddle.nn.PixelShuffle(4))
    G.in_channels = 3
    D = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 3, padding=1), paddle.nn.BatchNorm2D(8))
    vgg = paddle.nn.Conv2D(3, 2, 1)
    G.train()
    D.train()
    mean = D[1]._mean.numpy().copy()
    phases = [{"losses": {"perceptual": 0.0, "adversarial": 0.0}},
              {"losses": {"perceptual": 1.0, "adversarial": 0.0}},
              {"losses": {"perceptual": 0.0, "adversarial": 1e-3}}]
    costs = phase_costs(SimpleNamespace(G=G, D=D, perceptual=TwoCalls(vgg)),
                        phases, hr_crop=32, scale=4)
    g = 8 * 8 * 48 * 27  # LR 8x8, 27 taps per output
    d = 32 * 32 * 8 * 27
    v = 32 * 32 * 2 * 3  # per VGG call; the perceptual loss runs it on SR and HR
    assert costs == pytest.approx([1.0, (3 * g + 4 * v) / (3 * g), (3 * g + 10 * d) / (3 * g)])
    # counted in eval mode, modes given back, BatchNorm statistics untouched
    assert G.training and D.training and (D[1]._mean.numpy() == mean).all()


def test_the_bar_fills_by_work_and_starts_where_a_resumed_run_is():
    phases = [{"iters": 10}, {"iters": 5}]
    with RunProgress(phases, [1.0, 4.0], iteration=12) as progress:
        assert (progress.bar.total, progress.bar.n) == (30, 18)
        progress.advance(1, 13)
        assert progress.bar.n == 22 and progress.bar.desc == "train 13/15 it"
