"""The invariants of docs/design.md §3 at synaptic delay 1: shifted by the depth (the
delayed connections between the input and the output), and the option's boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ann2snn
from ann2snn.errors import ConfigError
from ann2snn.ir import Encoding, Graph, SynapticDelay, coerce
from ann2snn.ir import nodes as n
from ann2snn.sim.simulator import SpikingNetwork
from ann2snn.sim.windows import delay_depth

f32 = np.float32
CURRENTS = [0.0, 0.0625, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.8125, 0.96875]


def identity_chain(size: int, depth: int, bias: bool = False) -> Graph:
    """Input -> (Dense with identity weights -> IF) x (depth + 1): every population
    repeats its predecessor's spikes, so the last one fires floor(z·(T − depth))."""
    nodes, src = [n.Input("x", shape=(size,))], "x"
    for i in range(depth + 1):
        b = np.full(size, 0.25, f32) if bias and i else None
        nodes += [n.Dense(f"d{i}", (src,), weight=np.eye(size, dtype=f32), bias=b),
                  n.IF(f"s{i}", (f"d{i}",))]
        src = f"s{i}"
    return Graph(nodes, src)


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("steps", [1, 7, 40])
def test_counts_are_floor_of_z_times_T_minus_depth(depth, steps):
    g = identity_chain(len(CURRENTS), depth)
    assert delay_depth(g, 1, spike_input=False) == depth
    x = torch.tensor([CURRENTS])
    got = SpikingNetwork(g).run_batch(x, steps, window=3, synaptic_delay=1)
    want = [math.floor(z * max(steps - depth, 0)) for z in CURRENTS]
    assert got.readout[0].tolist() == want
    for i in range(depth + 1):  # every population: its own depth
        assert got.counts[f"s{i}"][0].tolist() == [math.floor(z * max(steps - i, 0))
                                                   for z in CURRENTS]
    zero = SpikingNetwork(g).run_batch(x, steps, synaptic_delay=0)
    assert zero.readout[0].tolist() == [math.floor(z * steps) for z in CURRENTS]


@pytest.mark.parametrize("encoding", [Encoding.POISSON, Encoding.TTFS])
def test_spike_input_is_one_more_delayed_connection(encoding, rng):
    """A whole output trace moves by the depth when nothing else acts early (no bias
    after the input, no leak): predictions -1 for the first depth steps, then the
    delay-0 predictions."""
    g = identity_chain(6, 2)
    depth = delay_depth(g, 1, spike_input=True)
    assert depth == 3 and delay_depth(g, 0, spike_input=True) == 0
    net = SpikingNetwork(g)
    x = torch.as_tensor(rng.random((5, 6)), dtype=torch.float32)
    T = 30
    d0 = net.run_batch(x, T, encoding, window=4)
    d1 = net.run_batch(x, T, encoding, window=7, synaptic_delay=1)
    assert (d1.predictions[:depth] == -1).all()
    assert torch.equal(d1.predictions[depth:], d0.predictions[:T - depth])
    if encoding is Encoding.POISSON:  # (TTFS spike times depend on T)
        short = net.run_batch(x, T - depth, encoding)
        assert torch.equal(d1.readout, short.readout)
    assert (d0.predictions[depth] >= 0).any(), "the shift should be visible"


def test_biases_act_from_the_first_step():
    """The delay is on spikes only: a bias current reaches its population at step 0."""
    g = identity_chain(3, 1, bias=True)
    got = SpikingNetwork(g).run_batch(torch.zeros(1, 3), 8, synaptic_delay=1)
    assert got.readout[0].tolist() == [2.0, 2.0, 2.0]  # floor(0.25 · 8)


def test_membrane_readout_integrates_delayed_spikes():
    w = np.array([[1.0, 0.0], [0.0, 1.0]], f32)
    g = Graph([n.Input("x", shape=(2,)), n.Dense("d0", ("x",), weight=w, bias=None),
               n.IF("s0", ("d0",)), n.Dense("d1", ("s0",), weight=w, bias=None),
               n.IF("o", ("d1",), membrane_readout=True)], "o", {"readout": "membrane"})
    x = torch.tensor([[0.5, 0.25]])
    for T in (1, 2, 9):
        got = SpikingNetwork(g).run_batch(x, T, window=2, synaptic_delay=1)
        assert got.readout[0].tolist() == [math.floor(0.5 * (T - 1)),
                                           math.floor(0.25 * (T - 1))]


def test_accuracy_per_step_starts_depth_steps_later(rng):
    g = identity_chain(4, 2)
    snn = ann2snn.SNN(g)
    x = rng.random((40, 4)).astype(f32)
    y = x.argmax(1)
    T = 16
    r0 = snn.simulate(x, y, timesteps=T, evaluate_ann=False, diagnostics=False)
    r1 = ann2snn.simulate(snn, x, y, timesteps=T, evaluate_ann=False, diagnostics=False,
                          synaptic_delay="1")
    a0, a1 = r0.snn_accuracy_per_step, r1.snn_accuracy_per_step
    assert np.array_equal(a1[:2], [0, 0]) and a0[T - 3] > 0.5
    assert np.array_equal(a1[2:], a0[:T - 2]) and not np.array_equal(a0, a1)
    assert (r1.snn_predictions[:2] == -1).all()
    assert r1.config["synaptic_delay"] == 1 and r0.config["synaptic_delay"] == 0


def test_depth_counts_the_shortest_path_of_a_residual_network():
    w = np.eye(2, dtype=f32)
    g = Graph([n.Input("x", shape=(2,)), n.Dense("d0", ("x",), weight=w, bias=None),
               n.IF("a", ("d0",)), n.Dense("d1", ("a",), weight=w, bias=None),
               n.IF("b", ("d1",)), n.Dense("d2", ("b",), weight=w, bias=None),
               n.Add("add", ("d2", "a")), n.IF("o", ("add",))], "o")
    assert delay_depth(g, 1, spike_input=False) == 1  # a -> o skips b
    got = SpikingNetwork(g).run_batch(torch.tensor([[0.5, 0.0]]), 6, synaptic_delay=1)
    # a fires at steps 1, 3, 5 (0-based); o gets a(t-1) + b(t-1) = a(t-1) + a(t-2)
    assert got.counts["a"][0].tolist() == [3.0, 0.0]
    assert got.counts["o"][0].tolist() == [4.0, 0.0]


@pytest.mark.parametrize("value, want", [(0, SynapticDelay.NONE), ("1", SynapticDelay.ONE_STEP),
                                         (SynapticDelay.ONE_STEP, SynapticDelay.ONE_STEP)])
def test_the_option_accepts_ints_strings_and_members(value, want):
    assert coerce(SynapticDelay, value, "synaptic_delay") is want


@pytest.mark.parametrize("bad", [2, -1, "one", True, 0.5, None])
def test_other_delays_are_refused_naming_the_values(bad):
    net = SpikingNetwork(identity_chain(2, 0))
    with pytest.raises(ConfigError, match=r"synaptic_delay must be one of 0, 1"):
        net.run_batch(torch.zeros(1, 2), 4, synaptic_delay=bad)


def test_integer_mode_takes_the_delay(rng):
    from ann2snn.quantize import QuantSpec, quantize

    q = quantize(identity_chain(len(CURRENTS), 2), QuantSpec())
    got = q.run_batch(np.array([CURRENTS], f32), 20, window=6, synaptic_delay=1)
    zero = q.run_batch(np.array([CURRENTS], f32), 18)
    assert torch.equal(got.readout, zero.readout)  # 2 steps late = 2 steps shorter
    with pytest.raises(ConfigError, match="synaptic_delay"):
        q.run_batch(np.array([CURRENTS], f32), 4, synaptic_delay=3)
