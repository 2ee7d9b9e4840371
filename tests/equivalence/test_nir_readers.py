"""NIR files read by other frameworks agree with ann2snn, spike count for spike count.

The independent reader is nirtorch 2.6's graph executor (``nir_to_torch``: its wiring,
edge sums, recurrent edges and its Conv/AvgPool/Flatten modules), with the neuron nodes
written below from NIR 1.0.8's own equations (``help(nir.I)`` etc.) in discrete time,
dt = 1 (forward Euler):

    I:          v(t) = v(t-1) + r·x(t)                       (output v)
    Threshold:  z(t) = [x(t) > threshold]
    Scale:      y(t) = s ⊙ x(t)
    IF:         v(t) = v(t-1) + r·x(t); z = [v > v_threshold]; v <- v_reset where z

The reader imports nothing of ann2snn. Samples run one at a time, unbatched, as NIR's
shapes (no batch axis) say; nirtorch reads a recurrent edge from the previous step.
Where a reader interprets a node differently (nirtorch's default Affine, snnTorch's IF),
the tests below measure it; docs/backends.md, "NIR", shows the figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
nirtorch = pytest.importorskip("nirtorch")


class I(torch.nn.Module):  # noqa: E742
    def __init__(self, node):
        super().__init__()
        self.r = torch.from_numpy(np.asarray(node.r, np.float32))

    def forward(self, x, state=None):
        v = (torch.zeros_like(self.r) if state is None else state) + self.r * x
        return v, v


class Threshold(torch.nn.Module):
    def __init__(self, node):
        super().__init__()
        self.t = torch.from_numpy(np.asarray(node.threshold, np.float32))

    def forward(self, x):
        return (x > self.t).to(x.dtype)


class Scale(torch.nn.Module):
    def __init__(self, node):
        super().__init__()
        self.s = torch.from_numpy(np.asarray(node.scale, np.float32))

    def forward(self, x):
        return x * self.s


class IF(torch.nn.Module):
    def __init__(self, node):
        super().__init__()
        self.r = torch.from_numpy(np.asarray(node.r, np.float32))
        self.t = torch.from_numpy(np.asarray(node.v_threshold, np.float32))
        self.v_reset = torch.from_numpy(np.asarray(node.v_reset, np.float32))

    def forward(self, x, state=None):
        v = (torch.zeros_like(self.r) if state is None else state) + self.r * x
        z = (v > self.t).to(v.dtype)
        return z, torch.where(z > 0, self.v_reset, v)


NEURONS = {nir.I: I, nir.Threshold: Threshold, nir.Scale: Scale, nir.IF: IF}


def affine_with_bias(node):
    """nir.Affine as torch.nn.Linear *with* its bias: nirtorch 2.6's default mapping
    assigns the bias to ``weight.bias`` and leaves Linear's random bias in place."""
    m = torch.nn.Linear(node.weight.shape[-1], node.weight.shape[-2])
    m.weight.data = torch.from_numpy(np.asarray(node.weight, np.float32))
    m.bias.data = torch.from_numpy(np.asarray(node.bias, np.float32))
    return m


def module(path, node_map=None):
    """The nirtorch module of the NIR file ``path`` (read without nir's type check, which
    rejects grouped convolutions in nir 1.0.8)."""
    graph = nir.read(str(path), type_check=False)
    return nirtorch.nir_to_torch(graph, {**NEURONS, **(node_map or {})})


@torch.no_grad()
def counts(mod, x: np.ndarray, timesteps: int) -> np.ndarray:
    """Output summed over ``timesteps`` steps (spike counts; the membrane of an I output
    is returned at the last step instead), per sample of ``x`` (N, ...), constant input."""
    out = []
    with one_thread():
        for xi in torch.from_numpy(np.asarray(x, np.float32)):
            state, total, y = None, 0, None
            for _ in range(timesteps):
                y, state = mod(xi, state)
                total = total + y
            out.append(total.numpy())
    return np.stack(out)


@contextlib.contextmanager
def one_thread():
    """Small tensors: on a shared machine, more threads only contend (15x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --- the tests ---------------------------------------------------------------------------
import ann2snn  # noqa: E402
from ann2snn.ir import Graph, ResetMode  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402
from ann2snn.network import SNN  # noqa: E402

f32 = np.float32
T = 32


def reader_counts(path, x, timesteps=T, node_map=None):
    return counts(module(path, {nir.Affine: affine_with_bias, **(node_map or {})}), x,
                  timesteps)


def small_net(reset, shortcut_scale=True) -> Graph:
    """Conv, average pool, a Scale shortcut summed with a conv, flatten, dense; a weight
    of 0.25 makes some membranes reach θ exactly (v ≥ θ vs v > θ matters)."""
    r = np.random.default_rng(3)
    w = lambda *s: (r.normal(0.2, 1.0, s) / np.sqrt(np.prod(s[1:]))).astype(f32)  # noqa: E731
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=np.full((2, 1, 2, 2), 0.25, f32), bias=None,
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=reset),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Conv("c2", ("ap",), weight=w(4, 2, 3, 3) * 2, bias=np.full(4, 0.1, f32),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.Conv("c3", ("ap",), weight=w(4, 2, 1, 1), bias=None, stride=(1, 1),
               padding=(0, 0), dilation=(1, 1)),
        *([n.Scale("sc", ("c3",), factor=np.full((1, 1, 1), 0.5, f32))]
          if shortcut_scale else []),
        n.Add("add", ("c2", "sc" if shortcut_scale else "c3")),
        n.IF("s2", ("add",), reset=reset),
        n.Flatten("fl", ("s2",)),
        n.Dense("fc", ("fl",), weight=w(5, 64) * 3, bias=np.full(5, 0.05, f32)),
        n.IF("out", ("fc",), reset=reset),
    ], "out", {"readout": "spike_count"})


@pytest.mark.parametrize("reset", [ResetMode.SUBTRACT, ResetMode.ZERO])
def test_small_network_agrees(reset, tmp_path):
    snn = SNN(small_net(reset))
    x = np.round(np.random.default_rng(0).random((12, 1, 8, 8)) * 4).astype(f32) / 4
    ann2snn.export(snn, "nir", tmp_path / "n.nir")
    ours = snn.run_batch(x, T).readout.numpy()
    assert ours.sum() > 0 and len(np.unique(ours)) > 3
    np.testing.assert_array_equal(reader_counts(tmp_path / "n.nir", x), ours)


def test_strict_threshold_would_differ(tmp_path):
    """The exported threshold (the float32 below θ) matters: with NIR's v > θ at θ = 1
    itself, the same reader loses spikes where v hits θ exactly."""
    snn = SNN(small_net(ResetMode.SUBTRACT))
    x = np.round(np.random.default_rng(0).random((12, 1, 8, 8)) * 4).astype(f32) / 4
    ann2snn.export(snn, "nir", tmp_path / "n.nir")

    class AtTheta(Threshold):
        def __init__(self, node):
            super().__init__(node)
            self.t = torch.nextafter(self.t, torch.tensor(np.inf))  # back to θ

    strict = reader_counts(tmp_path / "n.nir", x, node_map={nir.Threshold: AtTheta})
    assert not np.array_equal(strict, snn.run_batch(x, T).readout.numpy())


def test_digits_cnn_agrees(digits, digits_model, tmp_path):
    train, test = digits
    # v0 = 0: NIR neurons have no initial state (ann2snn's default is 0.5)
    snn = ann2snn.convert(digits_model, train.x[:500], max_to_avg_pool=True, v0=0.0)
    ann2snn.export(snn, "nir", tmp_path / "d.nir")
    x = test.x[:60]
    ours = snn.run_batch(x, T).readout.numpy()
    theirs = reader_counts(tmp_path / "d.nir", x)
    np.testing.assert_array_equal(theirs, ours)


def test_nirtorch_default_affine_drops_the_bias(tmp_path):
    """Measured difference: nirtorch 2.6's default Affine mapping never loads the bias
    (it sets ``weight.bias``), so Linear keeps its random initial bias."""
    snn = SNN(small_net(ResetMode.SUBTRACT))
    ann2snn.export(snn, "nir", tmp_path / "n.nir")
    mod = module(tmp_path / "n.nir")
    assert not torch.equal(mod.fc.bias.data, torch.full((5,), 0.05))
    assert torch.equal(affine_with_bias(nir.read(str(tmp_path / "n.nir")).nodes["fc"]).bias,
                       torch.full((5,), 0.05))


def test_snntorch_reads_if_as_leaky_and_lacks_i_threshold(tmp_path):
    """Measured differences of snnTorch 1.0's import_from_nir: NIR's IF becomes
    snn.Leaky(beta=0.9, reset by subtraction) — a leak and another reset — built with
    init_hidden=False, so its (spikes, membrane) tuple reaches the next layer and the
    network cannot run; the exact reset-by-subtraction form (I, Threshold, Scale) is
    not read at all."""
    snntorch_nir = pytest.importorskip("snntorch.import_nir")
    snn = SNN(small_net(ResetMode.ZERO, shortcut_scale=False))  # snnTorch reads no Scale
    ann2snn.export(snn, "nir", tmp_path / "z.nir")
    net = snntorch_nir.import_from_nir(nir.read(str(tmp_path / "z.nir"), type_check=False))
    leaky = [m for m in net.modules() if type(m).__name__ == "Leaky"]
    assert leaky and all(float(m.beta) == pytest.approx(0.9) for m in leaky)
    assert all(m.reset_mechanism == "subtract" for m in leaky)
    with pytest.raises(TypeError, match="not tuple"), torch.no_grad():
        net(torch.ones(1, 8, 8), None)
    ann2snn.export(SNN(small_net(ResetMode.SUBTRACT, False)), "nir", tmp_path / "s.nir")
    with pytest.raises(ValueError, match="Unknown node type"):
        snntorch_nir.import_from_nir(nir.read(str(tmp_path / "s.nir"), type_check=False))


class AvgPoolCNN(torch.nn.Module):
    """An MNIST CNN with average pooling."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.f = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 12, 5), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(300, 10))

    def forward(self, x):
        return self.f(x)


@functools.lru_cache(maxsize=1)  # trained once for the float and the integer test
def mnist_cnn(n_train=4000, epochs=2, seed=0):
    from ann2snn.data import load_dataset

    root = os.environ.get("ANN2SNN_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("MNIST is not in $ANN2SNN_DATA/mnist")
    train = load_dataset("mnist", "train", data_dir=root)
    test = load_dataset("mnist", "test", data_dir=root)
    torch.manual_seed(seed)
    model = AvgPoolCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(train.x[:n_train]), torch.as_tensor(train.y[:n_train])
    with one_thread():
        for _ in range(epochs):
            for idx in torch.randperm(len(xt)).split(50):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
        snn = ann2snn.convert(model.eval(), train.x[n_train:n_train + 500],
                              v0=0.0)  # NIR has no initial state
    return snn, test


def test_mnist_cnn_agrees(tmp_path):
    snn, test = mnist_cnn()
    ann2snn.export(snn, "nir", tmp_path / "m.nir")
    x = test.x[:100]
    with one_thread():
        ours = snn.run_batch(x, T).readout.numpy()
    theirs = reader_counts(tmp_path / "m.nir", x)
    assert (ours.argmax(1) == test.y[:100]).mean() > 0.8  # a converted network that works
    np.testing.assert_array_equal(theirs, ours)


# --- integer mode: the file's integers, read by the same independent reader ----------------
def quantized_input(path, x):
    """x_int as the file's metadata ``input_quantization`` says (no ann2snn code)."""
    iq = json.loads(nir.read(str(path), type_check=False)
                                  .metadata["input_quantization"])
    xi = np.floor(np.asarray(x, np.float64) * iq["scale"] + 0.5)
    return np.clip(xi, iq["min"], iq["max"]).astype(f32)


@pytest.mark.parametrize("reset", [ResetMode.SUBTRACT, ResetMode.ZERO])
def test_integer_network_agrees(reset, tmp_path):
    """nirtorch's own SumPool2d (LPPool2d, p = 1: a sum on spikes) and the neuron
    equations above, in float32, on the integer weights and θ − 1 thresholds."""
    from ann2snn.quantize import QuantSpec, quantize

    q = quantize(SNN(small_net(reset)), QuantSpec(per_channel=True))
    path = ann2snn.export(q, "nir", tmp_path / "q.nir", timesteps=T)[0]
    x = np.random.default_rng(0).random((12, 1, 8, 8)).astype(f32)
    ours = q.run_batch(x, T).readout.numpy()
    assert ours.sum() > 0 and len(np.unique(ours)) > 3
    np.testing.assert_array_equal(reader_counts(path, quantized_input(path, x)), ours)


def test_integer_mnist_cnn_agrees(tmp_path):
    from ann2snn.quantize import QuantSpec, quantize

    snn, test = mnist_cnn()
    q = quantize(snn, QuantSpec(weight_bits=8))
    path = ann2snn.export(q, "nir", tmp_path / "q.nir", timesteps=T)[0]
    x = test.x[:100]
    with one_thread():
        ours = q.run_batch(x, T).readout.numpy()
    theirs = reader_counts(path, quantized_input(path, x))
    assert (ours.argmax(1) == test.y[:100]).mean() > 0.8
    np.testing.assert_array_equal(theirs, ours)
