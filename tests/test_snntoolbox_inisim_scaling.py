"""INIsim's [cell] v_thresh and [simulation] dt, folded into the weights (passes/rescale.py).

The reference is INIsim's own update, written out in numpy (float64): analog input x·dt,
biases b·dt, spike when v >= v_thresh, spikes of amplitude v_thresh, reset by
subtraction (snntoolbox 0.6.0: INI_temporal_mean_rate_target_sim.py SNN.compile and
SNN.simulate, temporal_mean_rate_tensorflow.py linear_activation and set_reset_mem).
All values are dyadic, so both sides compute exactly and the counts must be equal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn.api import SNN
from ann2snn.errors import ConversionError
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n
from ann2snn.passes.rescale import fold_threshold_and_dt, scale_currents

RNG = np.random.default_rng(3)
W1 = RNG.integers(-3, 5, (6, 5)).astype(np.float32) / 4  # multiples of 1/4
B1 = RNG.integers(-2, 3, 6).astype(np.float32) / 16
W2 = RNG.integers(-2, 4, (3, 6)).astype(np.float32) / 4
B2 = RNG.integers(-1, 3, 3).astype(np.float32) / 16
X = RNG.integers(0, 9, (8, 5)).astype(np.float32) / 8  # inputs in [0, 1], multiples of 1/8


def spiking_graph() -> Graph:
    return Graph([
        n.Input("x", shape=(5,)),
        n.Dense("fc1", ("x",), weight=W1, bias=B1),
        n.IF("fc1.relu", ("fc1",)),
        n.Dense("fc2", ("fc1.relu",), weight=W2, bias=B2),
        n.IF("fc2.relu", ("fc2",)),
    ], "fc2.relu", {"readout": "spike_count", "normalization": {"scales": {"fc1.relu": 2.0}}})


def inisim_counts(x, v_thresh, dt, steps, reset="subtract"):
    """INIsim's temporal_mean_rate loop for the two Dense layers above, in float64."""
    layers = [(W1.astype(np.float64), B1 * dt), (W2.astype(np.float64), B2 * dt)]
    v = [np.zeros((len(x), w.shape[0])) for w, _ in layers]
    counts = np.zeros((len(x), 3))
    for _ in range(steps):
        inp = x.astype(np.float64) * dt  # input_b_l = x_b_l * dt
        for i, (w, b) in enumerate(layers):
            v[i] += inp @ w.T + b
            s = (v[i] >= v_thresh) * v_thresh  # spikes of amplitude v_thresh
            v[i] = v[i] - s if reset == "subtract" else np.where(s > 0, 0.0, v[i])
            inp = s
        counts += inp > 0
    return counts


def ann2snn_counts(graph, x, steps):
    return SNN(graph)(torch.from_numpy(x), steps).numpy()


@pytest.mark.parametrize("v_thresh,dt", [(2.0, 1.0), (0.5, 1.0), (1.0, 0.5), (2.0, 0.25),
                                         (0.5, 2.0)])
def test_fold_matches_inisim(v_thresh, dt):
    steps = int(64 / dt)  # INIsim's _num_timesteps = int(duration / dt)
    g, _ = fold_threshold_and_dt(spiking_graph(), None, v_thresh, dt)
    got = ann2snn_counts(g, X, steps)
    want = inisim_counts(X, v_thresh, dt, steps)
    np.testing.assert_array_equal(got, want)
    assert got.sum() > 0
    # the folded network is INIsim's with weights into the input and biases times dt/θ
    assert np.array_equal(g["fc1"].weight, W1 * dt / v_thresh)
    assert np.array_equal(g["fc1"].bias, B1 * dt / v_thresh)
    assert np.array_equal(g["fc2"].weight, W2)  # θ-spikes / θ: between populations as is
    assert np.array_equal(g["fc2"].bias, B2 * dt / v_thresh)
    assert all(x.threshold == 1.0 for x in g.of_type(n.IF))  # canonical form kept
    norm = g.meta["normalization"]
    assert (norm["v_thresh"], norm["dt"]) == (v_thresh, dt)
    assert norm["scales"]["fc1.relu"] == 2.0 * v_thresh / dt


def test_v_thresh_changes_the_counts_and_zero_reset():
    base = inisim_counts(X, 1.0, 1.0, 64)
    want = inisim_counts(X, 2.0, 1.0, 64, reset="zero")
    assert not np.array_equal(base, inisim_counts(X, 2.0, 1.0, 64))  # the test can fail
    g = spiking_graph()
    g = g.replace([n.IF(x.name, x.inputs, reset=n.ResetMode.ZERO) if isinstance(x, n.IF)
                   else x for x in g])
    g, _ = fold_threshold_and_dt(g, None, 2.0, 1.0)
    np.testing.assert_array_equal(ann2snn_counts(g, X, 64), want)


def test_poisson_input_spikes_are_not_scaled_by_dt():
    # get_poisson_frame_batch: spikes of amplitude max(x) (1 here), never times dt
    g, _ = fold_threshold_and_dt(spiking_graph(), None, 2.0, 0.5, spike_input=True)
    assert np.array_equal(g["fc1"].weight, W1 / 2)
    assert np.array_equal(g["fc1"].bias, B1 / 4)


def test_input_read_directly_by_a_population_gets_a_scale_node():
    # no weighted layer between the input and an IF: the factor becomes a Scale node
    g = Graph([n.Input("x", shape=(5,)), n.IF("x.relu", ("x",)),
               n.Dense("fc", ("x.relu",), weight=W2[:, :5], bias=B2), n.IF("out", ("fc",))],
              "out")
    h = scale_currents(g, 0.25, 0.5)
    assert isinstance(h["x.scale"], n.Scale) and h["x.relu"].inputs == ("x.scale",)
    assert np.array_equal(h["fc"].weight, W2[:, :5]) and np.array_equal(h["fc"].bias, B2 / 4)
    # through Flatten/AvgPool-like nodes the factor folds into the weights instead
    g2 = Graph([n.Input("x", shape=(5,)), n.Flatten("f", ("x",)),
                n.Dense("fc", ("f",), weight=W1, bias=B1), n.IF("out", ("fc",))], "out")
    h2 = scale_currents(g2, 0.25, 0.5)
    assert "x.scale" not in h2.nodes and np.array_equal(h2["fc"].weight, W1 / 2)


def test_ann_is_scaled_with_the_populations():
    ann = Graph([n.Input("x", shape=(5,)), n.Dense("fc1", ("x",), weight=W1, bias=B1),
                 n.ReLU("fc1.relu", ("fc1",), max_value=1.5)], "fc1.relu")
    _, a = fold_threshold_and_dt(spiking_graph(), ann, 2.0, 0.5)
    assert a["fc1.relu"].max_value == 1.5 / 4
    assert np.array_equal(a["fc1"].weight, W1 / 4) and np.array_equal(a["fc1"].bias, B1 / 4)


def test_bad_values():
    with pytest.raises(ConversionError, match="must be > 0"):
        fold_threshold_and_dt(spiking_graph(), None, 0.0, 1.0)
    g = spiking_graph()
    assert fold_threshold_and_dt(g, None, 1.0, 1.0)[0] is g
