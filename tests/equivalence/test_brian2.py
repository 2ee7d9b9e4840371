"""The Brian2 backend against the built-in simulator at synaptic delay 1, spike for spike.

Weights, biases and inputs are multiples of 1/16 with small numerators, so that every
float sum is exact in float32 (the built-in simulator) and float64 (Brian2) alike and
the two must agree exactly in float mode too; integer mode agrees exactly by design.
"""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn import SNN, simulate
from ann2snn.analysis.trace import TraceRecorder
from ann2snn.backends import BACKENDS, BackendMismatch
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.quantize import quantize

pytest.importorskip("brian2")  # the optional package ann2snn[brian2]; our code imports anyway

T = 24


def _dyadic(rng, shape, lo=-6, hi=9):
    return (rng.integers(lo, hi, shape) / 16).astype(np.float32)


def small_net(membrane: bool = False) -> Graph:
    """Conv (padding) -> IF -> average pool -> conv -> IF (reset to zero, v0 = 0.5);
    a Scale shortcut into an Add; flatten, dense, output (spike counts or membrane)."""
    r = np.random.default_rng(3)
    out = n.IF("out", ("fc",), membrane_readout=membrane)
    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.Conv("c1", ("x",), weight=_dyadic(r, (4, 2, 3, 3), -3, 8), bias=_dyadic(r, 4, 0, 3),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Conv("c2", ("ap",), weight=_dyadic(r, (4, 4, 3, 3), -4, 12), bias=_dyadic(r, 4, 0, 3),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.Scale("sc", ("ap",), factor=np.full((1, 1, 1), 0.5, np.float32)),
        n.Add("add", ("c2", "sc")),
        n.IF("s2", ("add",), reset=ResetMode.ZERO, v0=0.5),
        n.Flatten("fl", ("s2",)),
        n.Dense("fc", ("fl",), weight=_dyadic(r, (3, 36), -6, 10), bias=np.zeros(3, np.float32)),
        out,
    ], "out", {"readout": "membrane" if membrane else "spike_count"})


def _data(k=6, seed=0):
    r = np.random.default_rng(seed)
    return (r.integers(0, 17, (k, 2, 6, 6)) / 16).astype(np.float32), np.arange(k) % 3


OPTS = dict(timesteps=T, synaptic_delay=1, evaluate_ann=False, diagnostics=False,
            example_sample=None)


def _same(a, b):
    np.testing.assert_array_equal(a.snn_predictions, b.snn_predictions)
    np.testing.assert_array_equal(a.snn_readout, b.snn_readout)
    assert a.spike_counts == b.spike_counts
    assert a.neurons == b.neurons
    assert sorted(a.sops_per_step) == sorted(b.sops_per_step)  # the synaptic ops
    for k, v in b.sops_per_step.items():
        np.testing.assert_allclose(a.sops_per_step[k], v, rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("membrane", [False, True], ids=["spike_count", "membrane"])
def test_float_network_agrees_spike_for_spike(membrane):
    snn = SNN(small_net(membrane))
    x, y = _data()
    ref = snn.simulate(x, y, **OPTS)
    got = simulate(snn, x, y, backend="brian2", copies=4, **OPTS)  # 6 samples: a padded batch
    assert sum(ref.spike_counts.values()) > 100  # the network is active
    _same(got, ref)
    delayed = snn.simulate(x, y, **{**OPTS, "synaptic_delay": 0})
    assert not np.array_equal(delayed.snn_predictions, got.snn_predictions)


def test_integer_network_agrees_spike_for_spike():
    x, y = _data(5, seed=1)
    q = quantize(SNN(small_net()), calibration=x)
    ref = q.simulate(x, y, **OPTS)
    got = simulate(q, x, y, backend="brian2", **OPTS)
    assert sum(ref.spike_counts.values()) > 100
    _same(got, ref)


def test_traces_equal_the_builtin_traces():
    snn = SNN(small_net())
    x, y = _data(3)
    recs = []
    for backend in ("ann2snn", "brian2"):
        rec = TraceRecorder(samples=[1, 2])
        simulate(snn, x, y, backend=backend, probe=rec, **OPTS)
        recs.append(rec.trace(snn.graph))
    ref, got = recs
    assert sorted(ref.arrays) == sorted(got.arrays)
    for key, a in ref.arrays.items():
        np.testing.assert_array_equal(got.arrays[key], a, err_msg=key)


def test_delay_zero_and_unsupported_options_are_refused_all_at_once():
    g = small_net()
    mp = Graph([*[x for x in g if x.name != "out"],
                n.IF("out", ("fc",), multi_spike=2)], "out", {"readout": "spike_count"})
    with pytest.raises(BackendMismatch) as e:
        BACKENDS.get("brian2").check(mp, synaptic_delay=0, encoding="poisson")
    msg = str(e.value)
    assert "synaptic_delay 0" in msg and "--synaptic-delay 1" in msg
    assert "encoding 'poisson'" in msg and "multi-spike" in msg
