"""Normalization divides each population by its scale and leaves the function intact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ann2snn.api import prepare_ann
from ann2snn.frontends.torch import from_module
from ann2snn.ir import nodes as n
from ann2snn.passes import normalize
from ann2snn.passes.normalize import layer_scale
from ann2snn.sim.ops import ann_forward


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(2, 4, 3, padding=1)
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4, 3)

    def forward(self, x):
        a = torch.relu(self.c0(x))
        b = torch.relu(self.c1(a))
        c = torch.relu(self.c2(b) + a)  # identity shortcut: needs a Scale synapse
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(c, 2), 1))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 1)
        self.fc = nn.Linear(5 * 36, 4)

    def forward(self, x):
        y = torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], 1)
        return torch.softmax(self.fc(torch.flatten(y, 1)), 1)


MODELS = {"residual": Residual, "concat": Concat,
          "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(72, 16), nn.ReLU(),
                                       nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))}


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("method", ["percentile", "max"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_population_is_the_original_divided_by_its_scale(name, method, per_channel, rng):
    torch.manual_seed(3)
    model = MODELS[name]().eval()
    x = rng.random((64, 2, 6, 6)).astype(np.float32)
    ann = prepare_ann(from_module(model, torch.as_tensor(x[:2])))
    norm, lam = normalize(ann, x, method=method, per_channel=per_channel)
    pops = list(lam)
    _, before = ann_forward(ann, x, record=set(pops))
    _, after = ann_forward(norm, x, record=set(pops))
    for p in pops:
        want = before[p] / lam[p][None]
        np.testing.assert_allclose(after[p], want, rtol=1e-4, atol=1e-5, err_msg=p)
    if name == "residual":
        assert norm.of_type(n.Scale), "the identity shortcut needs a Scale synapse"


def test_percentile_ignores_zeros_and_max_takes_max():
    acts = np.zeros((10, 1000))
    acts[:, :100] = np.linspace(0.01, 1, 1000).reshape(10, 100)
    assert layer_scale(acts, "max", 99.9, False).item() == pytest.approx(1.0)
    p50 = layer_scale(acts, "percentile", 50, False).item()
    assert p50 == pytest.approx(np.percentile(np.linspace(0.01, 1, 1000), 50))


def test_per_channel_scales_have_channel_shape(rng):
    acts = rng.random((20, 3, 4, 4)) * np.array([1, 2, 4]).reshape(1, 3, 1, 1)
    lam = layer_scale(acts, "max", 100, True)
    assert lam.shape == (3, 1, 1)
    np.testing.assert_allclose(lam.ravel(), acts.max(axis=(0, 2, 3)))


def test_scales_are_stored_in_the_converted_network(digits_snn):
    scales = digits_snn.graph.meta["normalization"]["scales"]
    pops = [p.name for p in digits_snn.graph.of_type(n.IF)]
    assert set(scales) == {p.removesuffix(".neurons") for p in pops}
    # per-channel scales (the default): a list per hidden layer, one scale for the output
    assert all(np.all(np.asarray(v) > 0) for v in scales.values())
    out = digits_snn.graph.output.removesuffix(".neurons")
    assert isinstance(scales[out], float)
    assert any(isinstance(v, list) and len(v) > 1 for v in scales.values())


def test_per_channel_keeps_one_scale_for_the_output(rng):
    torch.manual_seed(0)
    model = MODELS["mlp"]().eval()
    x = rng.random((64, 2, 6, 6)).astype(np.float32)
    ann = prepare_ann(from_module(model, torch.as_tensor(x[:2])))
    norm, lam = normalize(ann, x, per_channel=True)
    assert lam[norm.output].size == 1
    np.testing.assert_array_equal(ann_forward(ann, x).argmax(1), ann_forward(norm, x).argmax(1))
