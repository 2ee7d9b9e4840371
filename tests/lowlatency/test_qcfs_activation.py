"""QCFS: the activation's values and gradient by hand, what qcfs() replaces and refuses,
and the conversion: λ become thresholds, v0 = θ/2, and at T = L one layer's spike counts
are the QCFS activation's levels exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ann2snn
from ann2snn.demo import DigitsCNN
from ann2snn.errors import ConfigError, UnsupportedLayerError
from ann2snn.frontends import import_model
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n
from ann2snn.lowlatency import QCFS, qcfs
from ann2snn.sim.ops import ann_forward

X = [-1.0, 0.0, 0.2, 0.25, 0.3, 0.75, 1.0, 1.9, 2.5]
# λ = 2, L = 4: x·L/λ = 2x -> floor(2x + 1/2) = -2 0 0 1 1 2 2 4 5 -> clip 0..4 -> ·λ/L
WANT = [0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 2.0, 2.0]


def test_forward_equals_the_formula_by_hand():
    act = QCFS(levels=4, lam=2.0)
    assert act(torch.tensor(X)[None]).squeeze(0).tolist() == WANT


def test_the_ir_node_computes_the_same_values():
    g = Graph([n.Input("x", shape=(9,)),
                          n.QCFS("q", ("x",), lam=np.array([2.0], np.float32), levels=4)], "q")
    out = ann_forward(g, np.array([X], np.float32))
    assert out[0].tolist() == WANT


def test_straight_through_gradient_by_hand():
    act = QCFS(levels=4, lam=2.0)
    x = torch.tensor([[-1.0, 0.3, 1.0, 2.5]], requires_grad=True)
    act(x).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 0.0]]  # passes inside [0, λ] only
    # ∂φ/∂λ: 0 below 0; q/L − x/λ inside (0.3: 1/4 − 0.15; 1.0: 2/4 − 0.5); 1 above λ
    assert act.lam.grad.item() == pytest.approx(0 + 0.1 + 0.0 + 1.0)


def test_per_channel_gradient_has_one_entry_per_channel():
    act = QCFS(levels=2, lam=1.0, channels=3)
    x = torch.tensor([[[0.5, 3.0], [0.1, 0.2], [-1.0, 5.0]]])  # (1, C=3, 2)
    act(x).sum().backward()
    # L=2, λ=1: 0.5 -> q=1/2 - 0.5 = 0, 3.0 -> 1; 0.1 -> 0 - 0.1, 0.2 -> 0 - 0.2; -1 -> 0, 5 -> 1
    assert act.lam.grad.tolist() == pytest.approx([1.0, -0.3, 1.0])


class Mixed(nn.Module):
    """nn.ReLU, nn.ReLU6 and a functional relu and clamp(min=0)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.act1 = nn.Linear(4, 6), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(6, 6), nn.ReLU6()
        self.fc3, self.fc4 = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        x = self.act2(self.fc2(self.act1(self.fc1(x))))
        return self.fc4(torch.clamp(F.relu(self.fc3(x)), min=0.0))


def test_qcfs_replaces_modules_and_functional_relus(rng):
    torch.manual_seed(0)
    model = Mixed()
    q = qcfs(model, levels=4, sample=rng.random((64, 4)).astype(np.float32))
    acts = [m for m in q.modules() if isinstance(m, QCFS)]
    assert len(acts) == 4  # act1, act2, relu(), clamp()
    assert all(m.levels == 4 and m.lam.numel() == 1 and m.lam.item() > 0 for m in acts)
    assert any(m.max_value == 6.0 for m in acts)  # the ReLU6's clip is remembered
    assert isinstance(model.act1, nn.ReLU)  # the user's model is left as it was
    x = torch.as_tensor(rng.random((5, 4)), dtype=torch.float32)
    assert not torch.equal(q(x), model(x))


def test_per_channel_lambda_from_the_sample(rng):
    q = qcfs(DigitsCNN(), levels=8, per_channel=True,
             sample=rng.random((32, 1, 8, 8)).astype(np.float32))
    assert sorted(m.lam.numel() for m in q.modules() if isinstance(m, QCFS)) == [16, 32]
    with pytest.raises(ConfigError, match="sample"):
        qcfs(DigitsCNN(), levels=8, per_channel=True)


class Bad(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.gelu = nn.Linear(4, 4), nn.GELU()
        self.block = nn.Sequential(nn.Linear(4, 4), nn.SiLU())

    def forward(self, x):
        return self.block(self.gelu(self.fc1(x)))


def test_unreplaceable_activations_are_named_in_one_error():
    with pytest.raises(UnsupportedLayerError) as e:
        qcfs(Bad(), levels=4)
    assert [name for name, _ in e.value.layers] == ["gelu", "block.1"]
    assert "GELU" in str(e.value) and "SiLU" in str(e.value)


def test_a_functional_gelu_is_refused_too():
    class Fn(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.sigmoid(F.gelu(self.fc(x)))

    with pytest.raises(UnsupportedLayerError) as e:
        qcfs(Fn(), levels=4)
    assert len(e.value.layers) == 2


def test_levels_must_be_positive():
    with pytest.raises(ConfigError, match="levels"):
        qcfs(DigitsCNN(), levels=0)


def _one_layer(lam: list[float]) -> nn.Module:
    """Linear(8 -> 6) -> QCFS(L = 4) -> Linear(6 -> 3); weights in quarters, biases in
    eighths, λ powers of two: every sum is exact in binary."""
    g = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(8, 6), QCFS(4, channels=len(lam)), nn.Linear(6, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.as_tensor(g.integers(-4, 7, (6, 8)) / 4))
        model[0].bias.copy_(torch.as_tensor(g.integers(-4, 4, 6) / 8))
        model[1].lam.copy_(torch.tensor(lam))
        model[2].weight.copy_(torch.as_tensor(g.normal(size=(3, 6))))
    return model.eval()


@pytest.mark.parametrize("lam", [[2.0], [1.0, 2.0, 4.0, 0.5, 2.0, 8.0]])
def test_spike_counts_at_T_equal_L_are_the_quantized_activations(lam):
    model = _one_layer(lam)
    x = np.random.default_rng(5).integers(0, 9, (200, 8)).astype(np.float32) / 8
    snn = ann2snn.convert(model, x)
    pop = next(p for p in snn.graph.of_type(n.IF) if not p.membrane_readout)
    assert pop.v0 == 0.5 and pop.threshold == 1.0
    with torch.no_grad():
        z = model[0](torch.as_tensor(x))
        levels = torch.round(model[1](z) * 4 / model[1].lam)  # integers 0..L
    out = snn.run_batch(torch.as_tensor(x), 4)
    counts = out.counts[pop.name]
    assert torch.equal(counts.to(levels.dtype), levels)
    assert set(levels.unique().tolist()) == {0, 1, 2, 3, 4}  # every level occurs


def test_conversion_takes_lambda_as_the_scale_and_says_so(rng):
    model = _one_layer([1.0, 2.0, 4.0, 0.5, 2.0, 8.0])
    x = rng.random((100, 8)).astype(np.float32)
    snn = ann2snn.convert(model, x, percentile=50)  # the percentile must not matter
    norm = snn.ann_graph.meta["normalization"]
    assert norm["scales"]["1"] == [1.0, 2.0, 4.0, 0.5, 2.0, 8.0]
    assert norm["qcfs"] == {"1": {"levels": 4}}
    assert snn.graph.meta["qcfs"]["layers"] == {"1": 4}
    assert snn.graph.meta["readout"] == "membrane"
    normalized = next(iter(snn.ann_graph.of_type(n.QCFS)))
    assert normalized.lam.tolist() == [1.0] * 6
    # the normalized ANN computes the QCFS model's function (up to the output's scale)
    ann = snn.ann_forward(x)
    with torch.no_grad():
        ref = model(torch.as_tensor(x)).numpy()
    assert np.array_equal(ann.argmax(1), ref.argmax(1))


@pytest.mark.parametrize("burst", [1, 2, 3])
def test_the_normalized_ann_stays_the_trained_one_with_burst(burst, rng):
    """Burst spikes make the scale λ/k; the normalized QCFS then has λ = k, so the ANN
    that the SNN is measured against is still the QCFS model (before: λ = 1, which clips
    at λ/k: another, worse network)."""
    lam = [1.0, 2.0, 4.0, 0.5, 2.0, 8.0]
    model = _one_layer(lam)
    x = rng.random((300, 8)).astype(np.float32) * 4
    snn = ann2snn.convert(model, x, burst=burst)
    normalized = next(iter(snn.ann_graph.of_type(n.QCFS)))
    assert normalized.lam.tolist() == [float(burst)] * 6
    with torch.no_grad():
        ref = model(torch.as_tensor(x)).numpy()
    ann = snn.ann_forward(x)
    scale = np.asarray(snn.ann_graph.meta["normalization"]["scales"]["2"], np.float64)
    assert np.allclose(ann * scale, ref, rtol=1e-5, atol=1e-5)


def test_a_saved_qcfs_program_converts(tmp_path, rng):
    """torch.export keeps ann2snn::qcfs as one op; a .pt2 with it reads back."""
    model = _one_layer([2.0])
    x = rng.random((50, 8)).astype(np.float32)
    path = tmp_path / "q.pt2"
    torch.export.save(torch.export.export(model, (torch.as_tensor(x[:2]),)), str(path))
    g = import_model(str(path))
    assert [type(v).__name__ for v in g] == ["Input", "Dense", "QCFS", "Dense"]
    assert g["1"].levels == 4 and g["1"].lam.tolist() == [2.0]


class Untraceable(nn.Module):
    """torch.fx cannot trace the branch on a shape (torch.export can); so the F.relu
    cannot be replaced."""

    def __init__(self):
        super().__init__()
        self.fc, self.act, self.out = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        h = self.act(self.fc(x))
        if h.shape[1] == 4:
            h = F.relu(h - 0.5)
        return self.out(h)


def test_untraceable_functional_relu_is_named(rng):
    with pytest.raises(UnsupportedLayerError) as e:
        qcfs(Untraceable(), levels=4, sample=rng.random((8, 4)).astype(np.float32))
    assert len(e.value.layers) == 1 and "relu" in e.value.layers[0][1]
    assert "nn.ReLU modules" in str(e.value)
