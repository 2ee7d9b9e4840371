"""The Nengo neuron type against docs/design.md §3's IF step, on single neurons driven by
a constant current in Nengo itself (dt = 1), and against Nengo's SpikingRectifiedLinear,
which is a different neuron."""

from __future__ import annotations

import math

import numpy as np
import pytest

nengo = pytest.importorskip("nengo")

from ann2snn.backends.nengo.neuron import IFMembrane, IFNeurons  # noqa: E402


def run(neuron_type, current, steps):
    """Spikes (output) and membranes of neurons driven by constant currents."""
    current = np.atleast_1d(np.asarray(current, float))
    with nengo.Network() as net:
        stim = nengo.Node(current)
        ens = nengo.Ensemble(len(current), 1, neuron_type=neuron_type,
                             gain=np.ones(len(current)), bias=np.zeros(len(current)))
        nengo.Connection(stim, ens.neurons, synapse=None)
        out = nengo.Probe(ens.neurons, "output")
        v = nengo.Probe(ens.neurons, "voltage")
    with nengo.Simulator(net, dt=1.0, progress_bar=False) as sim:
        sim.run_steps(steps)
    return sim.data[out], sim.data[v]


Z = [0.0, 0.125, 0.3125, 0.5, 0.75, 0.9375]


def test_reset_by_subtraction_gives_floor_z_t():
    T = 40
    s, _ = run(IFNeurons(np.ones(len(Z))), Z, T)
    assert s.sum(0).tolist() == [math.floor(z * T) for z in Z]
    assert set(np.unique(s)) <= {0.0, 1.0}


def test_reset_to_zero_fires_every_ceil_one_over_z_steps():
    T = 40
    zs = Z[1:]
    s, v = run(IFNeurons(np.ones(len(zs)), reset_zero=True), zs, T)
    for j, z in enumerate(zs):
        period = math.ceil(1 / z)
        assert np.flatnonzero(s[:, j]).tolist() == list(range(period - 1, T, period))
    assert (v[s > 0] == 0).all()


def test_initial_membrane_half_threshold_rounds():
    T = 40
    v0 = np.full(len(Z), 0.5)
    s, _ = run(IFNeurons(np.ones(len(Z)), initial_state={"voltage": v0}), Z, T)
    assert s.sum(0).tolist() == [math.floor(z * T + 0.5) for z in Z]


def test_threshold_is_per_neuron_and_fires_on_equality():
    # v reaches exactly θ = 3 after three steps of current 1: v >= θ fires
    s, v = run(IFNeurons(np.array([3.0, 4.0])), [1.0, 1.0], 6)
    assert np.flatnonzero(s[:, 0]).tolist() == [2, 5]
    assert np.flatnonzero(s[:, 1]).tolist() == [3]
    assert v[:, 1].tolist() == [1, 2, 3, 0, 1, 2]


def test_negative_current_lowers_the_membrane_unlike_spiking_rectified_linear():
    cur = np.array([0.75, -0.5, -0.5, 1.0, 1.0, 0.75])
    with nengo.Network() as net:
        stim = nengo.Node(lambda t: cur[int(round(t)) - 1])
        ours = nengo.Ensemble(1, 1, neuron_type=IFNeurons(np.ones(1)), gain=[1.0], bias=[0.0])
        theirs = nengo.Ensemble(1, 1, neuron_type=nengo.SpikingRectifiedLinear(
            initial_state={"voltage": nengo.dists.Choice([0.0])}), gain=[1.0], bias=[0.0])
        for e in (ours, theirs):
            nengo.Connection(stim, e.neurons, synapse=None)
        po, pt = nengo.Probe(ours.neurons), nengo.Probe(theirs.neurons)
    with nengo.Simulator(net, dt=1.0, progress_bar=False) as sim:
        sim.run_steps(len(cur))
    # ours: v = .75, .25, -.25, .75, 1.75 -> spike (.75), 1.5 -> spike (.5)
    assert np.flatnonzero(sim.data[po][:, 0]).tolist() == [4, 5]
    # SpikingRectifiedLinear ignores the negative current: v = .75, .75, .75, 1.75 ->
    # spike (.75), 1.75 -> spike (.75), 1.5 -> spike (.5)
    assert np.flatnonzero(sim.data[pt][:, 0]).tolist() == [3, 4, 5]


def test_one_spike_per_step_unless_multi_spike():
    s, v = run(IFNeurons(np.ones(1)), [2.5], 3)
    assert s[:, 0].tolist() == [1, 1, 1] and v[:, 0].tolist() == [1.5, 3.0, 4.5]
    s, v = run(IFNeurons(np.ones(1), multi_spike=3), [2.5], 3)
    assert s[:, 0].tolist() == [2, 3, 2] and v[:, 0].tolist() == [0.5, 0.0, 0.5]
    # Nengo's own neuron emits floor(v) spikes at once, without any cap
    srl = nengo.SpikingRectifiedLinear(initial_state={"voltage": nengo.dists.Choice([0.0])})
    s, _ = run(srl, [4.5], 2)
    assert s[:, 0].tolist() == [4, 5]


def test_integer_saturation_and_membrane_readout():
    s, v = run(IFNeurons(np.full(2, 1000.0), limit=7.0), [5.0, -5.0], 3)
    assert v[:, 0].tolist() == [5, 7, 7] and v[:, 1].tolist() == [-5, -7, -7]
    assert not s.any()
    s, v = run(IFMembrane(np.ones(2)), [0.75, -0.25], 3)
    assert s[:, 0].tolist() == [0.75, 1.5, 2.25] and s[:, 1].tolist() == [-0.25, -0.5, -0.75]
    assert (s == v).all()
