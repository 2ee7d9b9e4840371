"""The nengo backend against the built-in simulators, spike for spike (docs/backends.md).

Float networks use weights, biases and inputs that are multiples of 2^-6 (exact in
float32 and float64, so both simulators' currents are the same numbers whatever the
summation order); integer mode is exact by construction. Each network is simulated by
ann2snn and by Nengo, and the batch outputs and the traces must be identical."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("nengo")

_spec = importlib.util.spec_from_file_location(  # the random networks of the C tests
    "backend_nets", Path(__file__).parents[1] / "backends" / "conftest.py")
_nets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_nets)
net_conv2d, net_currents = _nets.net_conv2d, _nets.net_currents

import ann2snn  # noqa: E402
from ann2snn import SNN  # noqa: E402
from ann2snn.analysis.diff import diff_traces  # noqa: E402
from ann2snn.analysis.trace import record_trace  # noqa: E402
from ann2snn.backends import BackendMismatch  # noqa: E402
from ann2snn.backends.nengo.runner import NengoSNN  # noqa: E402
from ann2snn.ir import Graph, ResetMode  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402
from ann2snn.quantize import QuantSpec, quantize  # noqa: E402


def dyadic(graph: Graph, bits: int = 6) -> Graph:
    """``graph`` with every weight, bias and factor rounded to a multiple of 2^-bits."""
    def r(a):
        return None if a is None else (np.round(np.asarray(a) * 2**bits) / 2**bits).astype(
            np.float32)
    nodes = [dataclasses.replace(x, **{k: r(v) for k, v in x.arrays().items()})
             for x in graph]
    return Graph(nodes, graph.output, graph.meta)


def net_options(seed: int = 5) -> Graph:
    """Reset to zero, v0 = 0.5, a leak, multi-spike, transposed convolution, padding,
    transpose, concatenation of spikes, and a membrane readout."""
    r = np.random.default_rng(seed)

    def w(*shape, gain=1.6):
        return (r.normal(0.15, 1.0, shape) * gain / np.sqrt(np.prod(shape[1:]))).astype(
            np.float32)

    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.Conv("c1", ("x",), weight=w(3, 2, 3, 3), bias=np.full(3, 0.1, np.float32),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=ResetMode.ZERO, v0=0.5),
        n.ConvTranspose("ct", ("s1",), weight=w(3, 2, 2, 2, gain=2.0), bias=None,
                        stride=(2, 2), padding=(0, 0), output_padding=(0, 0),
                        dilation=(1, 1)),
        n.IF("s2", ("ct",), leak=0.5, multi_spike=2),
        n.Pad("pad", ("s1",), pads=((1, 1), (0, 2))),
        n.Transpose("tr", ("pad",), perm=(0, 1, 3, 2)),
        n.Flatten("f1", ("tr",)),
        n.Flatten("f2", ("s2",)),
        n.Concat("cat", ("f1", "f2"), axis=1),
        n.Dense("fc", ("cat",), weight=w(4, 480, gain=3.0),
                bias=np.full(4, 0.05, np.float32)),
        n.IF("out", ("fc",), membrane_readout=True),
    ], "out", {"readout": "membrane"})


def inputs(graph, count=4, seed=0) -> np.ndarray:
    x = np.random.default_rng(seed).random((count, *graph.input_shape))
    return (np.round(x * 16) / 16).astype(np.float32)


def same_batch(a, b) -> None:
    assert a.counts.keys() == b.counts.keys() and a.sops.keys() == b.sops.keys()
    for k in a.counts:
        assert torch.equal(a.counts[k], b.counts[k]), k
    for k in a.sops:
        assert torch.equal(a.sops[k].double(), b.sops[k].double()), k
    assert torch.equal(a.predictions, b.predictions)
    assert torch.equal(a.readout.double(), b.readout.double())


@pytest.mark.parametrize("make", [net_currents, net_options])
@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_float_network_spikes_as_the_built_in_simulator(make, encoding):
    g = dyadic(make())
    x = torch.as_tensor(inputs(g))
    kw = dict(encoding=encoding, seed=3, input_rate=0.75)
    want = SNN(g).run_batch(x, 24, **kw)
    got = NengoSNN(g, lanes=3).run_batch(x, 24, **kw)  # 2 Nengo runs: 3 lanes, then 1
    same_batch(want, got)
    assert sum(float(c.sum()) for c in want.counts.values()) > 100  # it does spike


def test_float_traces_are_identical_layer_by_layer():
    g = dyadic(net_options())
    x = inputs(g, 5)
    a = record_trace(SNN(g), x, [1, 3], 16)
    b = record_trace(NengoSNN(g), x, [1, 3], 16)
    assert set(a.arrays) == set(b.arrays) and "s2/v_pre_reset" in b.arrays
    d = diff_traces(a, b)
    assert d.equal, d.first


@pytest.fixture(scope="module")
def quantized():
    g = net_currents()
    calib = np.random.default_rng(9).random((64, *g.input_shape)).astype(np.float32)
    return quantize(SNN(g), QuantSpec(weight_bits=6, state_bits=12, per_channel=True), calib)


def test_integer_mode_is_bit_exact_with_the_integer_simulator(quantized):
    x = np.random.default_rng(2).random((5, *quantized.graph.input_shape)).astype(np.float32)
    want = quantized.run_batch(torch.as_tensor(x), 20)
    got = NengoSNN(quantized.graph).run_batch(torch.as_tensor(x), 20)
    same_batch(want, got)
    a = record_trace(quantized, x, [0, 4], 20)
    b = record_trace(NengoSNN(quantized.graph), x, [0, 4], 20)
    assert b.arrays["s2/v"].dtype == np.int32  # integer trace, as the integer simulator's
    d = diff_traces(a, b)
    assert d.equal, d.first


def test_result_and_run_folder_match(digits, digits_model, tmp_path):
    train, test = digits
    snn = ann2snn.convert(digits_model, train.x[:200], max_to_avg_pool=True)
    kw = dict(timesteps=10, num_samples=24, example_sample=2)
    want = snn.simulate(test, **kw)
    got = ann2snn.simulate(snn, test, backend="nengo", **kw)
    assert (got.snn_predictions == want.snn_predictions).mean() > 0.99
    assert got.ann_accuracy == want.ann_accuracy and got.num_samples == 24
    assert set(got.metrics()) == set(want.metrics())
    assert got.example is not None and got.example_index == 2
    folder = got.save(tmp_path / "run", report=False)
    assert (folder / "metrics.json").exists() and (folder / "predictions.npz").exists()


def test_spiking_max_pooling_is_refused_with_every_layer_named():
    with pytest.raises(BackendMismatch) as e:
        ann2snn.simulate(SNN(net_conv2d()), np.zeros((1, 2, 9, 9), np.float32),
                         labels=np.zeros(1, int), backend="nengo")
    assert "'mp'" in str(e.value) and "max_to_avg_pool" in str(e.value)
