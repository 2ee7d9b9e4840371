"""Every simulator entry point takes an Encoding or its string value (issue 9, item 5):
``run_batch(encoding="poisson")`` once ran TTFS input, and integer mode refused
``"analog"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn.errors import Ann2SnnError
from ann2snn.ir import Encoding, Graph
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize_graph
from ann2snn.sim.integer import IntegerNetwork, run_integer
from ann2snn.sim.simulator import SpikingNetwork

f32 = np.float32


def dense_net() -> Graph:
    g = np.random.default_rng(3)
    return Graph([
        n.Input("x", shape=(12,)),
        n.Dense("fc1", ("x",), weight=g.uniform(0.0, 0.4, (8, 12)).astype(f32),
                bias=np.full(8, 0.05, f32)),
        n.IF("h", ("fc1",)),
        n.Dense("fc2", ("h",), weight=g.normal(0.2, 0.5, (4, 8)).astype(f32),
                bias=np.zeros(4, f32)),
        n.IF("out", ("fc2",)),
    ], "out", {"readout": "spike_count"})


def run(net, x, encoding, steps=24):
    """The batch output and every traced spike tensor, by (layer, kind)."""
    seen: dict = {}

    def probe(name, kind, t, t0):
        seen.setdefault((name, kind), []).append(t.clone())

    out = net.run_batch(x, steps, encoding, probe=probe, seed=5)
    return out, {k: torch.cat(v) for k, v in seen.items()}


@pytest.mark.parametrize("encoding", list(Encoding))
def test_string_encoding_runs_that_encoding(encoding):
    net = SpikingNetwork(dense_net())
    x = torch.as_tensor(np.random.default_rng(0).random((3, 12)), dtype=torch.float32)
    want, want_tr = run(net, x, encoding)
    for spelled in (encoding.value, encoding.value.upper()):
        got, got_tr = run(net, x, spelled)
        assert got_tr.keys() == want_tr.keys()
        assert all(torch.equal(got_tr[k], want_tr[k]) for k in want_tr)
        assert torch.equal(got.readout, want.readout)
        assert torch.equal(got.predictions, want.predictions)
        assert got.sops.keys() == want.sops.keys()
        assert all(torch.equal(got.sops[k], want.sops[k]) for k in want.sops)


def test_poisson_string_is_not_ttfs():
    """The bug: the string fell through to TTFS. On this input the encodings differ."""
    net = SpikingNetwork(dense_net())
    x = torch.as_tensor(np.random.default_rng(0).random((3, 12)), dtype=torch.float32)
    _, poisson = run(net, x, "poisson")
    _, ttfs = run(net, x, Encoding.TTFS)
    inp = poisson[("x", "spikes")]
    assert not torch.equal(inp, ttfs[("x", "spikes")])
    assert (inp.sum(0) > 1).any()  # TTFS spikes once per input; Poisson here more often
    assert not torch.equal(poisson[("out", "spikes")], ttfs[("out", "spikes")])


def test_bad_encoding_string_names_the_values():
    net = SpikingNetwork(dense_net())
    with pytest.raises(Ann2SnnError, match="'analog', 'poisson', 'ttfs'"):
        net.run_batch(torch.zeros(1, 12), 4, "rate")


def quantized_net() -> IntegerNetwork:
    return IntegerNetwork(quantize_graph(dense_net(), QuantSpec(), None))


def test_integer_mode_accepts_the_string_analog():
    net = quantized_net()
    x = np.random.default_rng(1).random((4, 12)).astype(f32)
    want = run_integer(net, x, 20, Encoding.ANALOG)
    for got in (run_integer(net, x, 20, "analog"), net.run_batch(x, 20, "analog"),
                net.run_batch(x, 20, encoding="ANALOG")):
        assert torch.equal(got.readout, want.readout)
        assert torch.equal(got.predictions, want.predictions)
        assert all(torch.equal(got.counts[k], want.counts[k]) for k in want.counts)
    assert want.readout.sum() > 0


def test_integer_mode_bad_string_names_the_values():
    with pytest.raises(Ann2SnnError, match="'analog', 'poisson', 'ttfs'"):
        quantized_net().run_batch(np.zeros((1, 12), f32), 4, "analogue")
