"""Property: for random small networks of every supported layer type, the SNN's output
firing rates approach the normalized ANN's activations as T grows (docs/design.md §3).

Normalization uses ``max`` over the very samples simulated, so no activation exceeds its
scale and the only error left is the rate quantization, which shrinks like 1/T.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import ann2snn
from ann2snn.ir import nodes as n

BLOCKS = ["conv", "conv_bn", "depthwise", "dilated", "maxpool", "avgpool", "residual", "concat",
          "bn_after_relu", "conv1x1_stride"]


class RandomNet(nn.Module):
    def __init__(self, blocks: list[str], width: int, head: str, softmax: bool):
        super().__init__()
        self.blocks, self.head_kind, self.softmax = blocks, head, softmax
        self.layers = nn.ModuleList()
        c = 2
        for b in blocks:
            if b in ("conv", "conv_bn"):
                mods = [nn.Conv2d(c, width, 3, padding=1)]
                if b == "conv_bn":
                    mods.append(nn.BatchNorm2d(width))
                self.layers.append(nn.Sequential(*mods, nn.ReLU()))
                c = width
            elif b == "depthwise":
                self.layers.append(nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c),
                                                 nn.ReLU()))
            elif b == "dilated":
                self.layers.append(nn.Sequential(nn.Conv2d(c, width, 3, padding=2, dilation=2),
                                                 nn.ReLU()))
                c = width
            elif b == "maxpool":
                self.layers.append(nn.MaxPool2d(2, ceil_mode=True))
            elif b == "avgpool":
                self.layers.append(nn.AvgPool2d(2, ceil_mode=True))
            elif b == "residual":
                self.layers.append(nn.Conv2d(c, c, 3, padding=1))
            elif b == "concat":
                self.layers.append(nn.Conv2d(c, width, 1))
                c = c + width
            elif b == "bn_after_relu":
                self.layers.append(nn.Sequential(nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
                                                 nn.BatchNorm2d(width),
                                                 nn.Conv2d(width, width, 1), nn.ReLU()))
                c = width
            elif b == "conv1x1_stride":
                self.layers.append(nn.Sequential(nn.Conv2d(c, width, 1, stride=2), nn.ReLU()))
                c = width
        self.c = c
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.LazyLinear(12) if head == "mlp" else nn.Identity()
        self.fc2 = nn.Linear(12 if head == "mlp" else c, 4)

    def forward(self, x):
        for b, layer in zip(self.blocks, self.layers):
            if b == "residual":
                x = torch.relu(layer(x) + x)
            elif b == "concat":
                x = torch.cat([x, torch.relu(layer(x))], 1)
            else:
                x = layer(x)
        if self.head_kind == "mlp":
            x = torch.relu(self.fc1(torch.flatten(x, 1)))
        else:
            x = torch.flatten(self.gap(x), 1)
        x = self.fc2(x)
        return torch.softmax(x, 1) if self.softmax else x


def rate_error(snn, x, T):
    res = snn.run_batch(torch.as_tensor(x), T)
    rates = res.readout.numpy() / T
    out = snn.graph.output
    ann_node = out.removesuffix(".neurons")
    _, acts = snn.ann_forward(x, record={ann_node})
    target = np.clip(acts[ann_node], 0, 1)
    return float(np.abs(rates - target).mean()), float(np.abs(rates - target).max())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=4),
       width=st.integers(2, 5), head=st.sampled_from(["mlp", "gap"]),
       seed=st.integers(0, 2**16))
def test_output_rates_converge_to_normalized_activations(blocks, width, head, seed):
    torch.manual_seed(seed)
    model = RandomNet(blocks, width, head, softmax=False)
    x = np.random.default_rng(seed).random((6, 2, 8, 8)).astype(np.float32)
    model(torch.as_tensor(x))  # materialize the lazy layer
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    model.eval()
    snn = ann2snn.convert(model, x, method="max")
    assert {type(p) for p in snn.graph} >= {n.IF}
    # a rate is exact to 1/T per population, and a layer multiplies that error by its
    # gain: the bound below holds where the normalized output stays within a few units
    # of its scale (a random net whose outputs reach -4000 for a maximum of 1 amplifies a
    # 1/1024 hidden rate error into a current error of several units, seed 243)
    out = snn.graph.output.removesuffix(".neurons")
    _, acts = snn.ann_forward(x, record={out})
    assume(np.abs(acts[out]).max() <= 20)
    e_short, _ = rate_error(snn, x, 32)
    e_long, m_long = rate_error(snn, x, 1024)
    # quantization error of a rate is at most 1/T per population; it compounds over layers
    depth = len(snn.graph.of_type(n.IF))
    assert e_long <= 0.005 * depth, (blocks, e_short, e_long)
    # the worst output holds the bound too, except behind a spiking max pool: where two
    # inputs of a window spike at nearly the same rate the count gate switches between
    # them and passes spikes of both, converging slowly and not monotonically (seed 334,
    # depthwise + maxpool + mlp: rate 0.629 / 0.704 / 0.605 at T = 256 / 1024 / 4096
    # against 0.567; the pure-torch code gives the same)
    if not snn.graph.of_type(n.SpikingMaxPool):
        assert m_long <= 0.03 * depth, (blocks, e_short, m_long)
    assert e_long <= e_short + 1e-3, (blocks, e_short, e_long)


def test_spiking_layer_types_are_all_exercised():
    torch.manual_seed(0)
    model = RandomNet(["conv_bn", "residual", "maxpool", "concat", "avgpool"], 3, "mlp", True)
    x = np.random.default_rng(0).random((4, 2, 8, 8)).astype(np.float32)
    model(torch.as_tensor(x))
    snn = ann2snn.convert(model.eval(), x, method="max")
    ops = {p.op for p in snn.graph}
    assert {"IF", "SpikingMaxPool", "AvgPool", "Scale", "Add", "Concat", "Conv", "Dense"} <= ops
    assert snn.readout_mode == "membrane"
