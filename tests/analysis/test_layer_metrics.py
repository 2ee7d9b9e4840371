"""Operation counts, ANN/SNN correlation, the error decomposition and the energy estimate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ann2snn import SNN
from ann2snn.analysis.counts import fanout, synaptic_ops
from ann2snn.analysis.layers import ideal_counts
from ann2snn.analysis.trace import record_trace
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.passes import to_spiking
from ann2snn.sim.functional import IFParams, if_init, if_scan


def test_hand_made_raster_dense_sop_count():
    # fan-out of the 4 inputs = non-zeros per column of W: 2, 1, 0, 3
    w = np.array([[1, 0, 0, 2], [0.5, 0, 0, 1], [0, 3, 0, -1]], np.float32)
    g = Graph([n.Input("x", shape=(4,)), n.Dense("fc", ("x",), weight=w)])
    np.testing.assert_array_equal(fanout(g, "fc"), [2, 1, 0, 3])
    raster = np.zeros((3, 2, 4))  # (T, B, inputs)
    raster[0, 0, [0, 3]] = 1  # 2 + 3
    raster[0, 1, 1] = 1  # + 1          -> step 0: 6
    raster[1, 1, 2] = 1  # input 2 has no synapse -> step 1: 0
    raster[2, :, :] = 1  # both samples, all inputs: 2 * 6 -> step 2: 12
    np.testing.assert_array_equal(synaptic_ops(g, "fc", raster), [6, 0, 12])


def test_hand_made_raster_conv_and_pool_sop_count():
    # 3x3 input, one 2x2 kernel (no zeros), no padding: a corner feeds 1 output, an edge
    # centre 2, the middle 4 -> x 2 output channels
    g = Graph([n.Input("x", shape=(1, 3, 3)),
               n.Conv("c", ("x",), weight=np.ones((2, 1, 2, 2), np.float32),
                      stride=(1, 1), padding=(0, 0), dilation=(1, 1)),
               n.AvgPool("p", ("x",), kernel=(2, 2), stride=(1, 1), padding=(1, 1))])
    np.testing.assert_array_equal(fanout(g, "c")[0], 2 * np.array([[1, 2, 1], [2, 4, 2],
                                                                   [1, 2, 1]]))
    raster = np.zeros((2, 1, 1, 3, 3))
    raster[0, 0, 0, 0, 0] = raster[0, 0, 0, 1, 1] = 1  # 2 * (1 + 4)
    raster[1, 0, 0, 0, 1] = 1  # 2 * 2
    np.testing.assert_array_equal(synaptic_ops(g, "c", raster), [10, 4])
    # 2x2 windows at stride 1 over the zero-padded 5x5: every element lies in 4 windows
    np.testing.assert_array_equal(fanout(g, "p")[0], np.full((3, 3), 4))


def test_simulator_sops_equal_spikes_times_fanout(small_snn):
    snn, x, y = small_snn
    res = snn.simulate(x, y, timesteps=9, example_sample=None)
    tr = record_trace(snn, x, range(len(x)), 9, layers=["relu"])
    spikes = tr.get("relu", "spikes").astype(np.float64)
    # AvgPool 'pool' and Dense 'fc' both count events after relu: pool sees the spikes
    np.testing.assert_allclose(res.sops_per_step["pool"], synaptic_ops(snn.graph, "pool",
                                                                       spikes))
    assert res.sops_per_step["pool"].shape == (9,)
    m = res.metrics()
    assert m["synaptic_ops_per_step_per_sample"]["pool"] == pytest.approx(
        list(res.sops_per_step["pool"] / len(x)))


def one_layer(values: np.ndarray, v0: float = 0.0, reset=ResetMode.SUBTRACT) -> SNN:
    k = values.shape[1]
    ann = Graph([n.Input("x", shape=(k,)),
                 n.Dense("fc", ("x",), weight=np.eye(k, dtype=np.float32),
                         bias=np.zeros(k, np.float32)),
                 n.ReLU("relu", ("fc",))])
    return SNN(to_spiking(ann, reset=reset, v0=v0), ann)


def test_correlation_is_exactly_one_where_the_snn_is_exact():
    """One layer, activations on the grid k/L, T = L: N = floor(a·T) = a·T exactly."""
    levels = 16
    rng = np.random.default_rng(0)
    x = (rng.integers(0, levels, (40, 6)) / levels).astype(np.float32)
    res = one_layer(x).simulate(x, np.zeros(40, np.int64), timesteps=levels,
                                example_sample=None)
    (layer,) = [d.summary for d in res.layers]
    assert layer["correlation"] == 1.0
    assert layer["correlation_clipped"] == 1.0
    for comp in ("total", "clipping", "quantization", "remainder"):
        assert layer["error"][comp] == {"mean": 0.0, "mean_abs": 0.0, "rms": 0.0}
    assert layer["clipped_fraction"] == 0.0
    assert layer["spikes_per_neuron"] == pytest.approx(float(x.mean()) * levels)


def test_error_terms_add_up_and_name_their_cause():
    # a = 1.5 is clipped to 1 (error -0.5); a = 0.3 at T = 8 quantizes to 2/8 (-0.05)
    x = np.array([[1.5, 0.3, 0.0, 0.5]], np.float32)
    res = one_layer(x).simulate(x, np.zeros(1, np.int64), timesteps=8, example_sample=0)
    s = res.layers[0].summary
    e = s["error"]
    assert e["clipping"]["mean"] == pytest.approx(-0.5 / 4)
    assert e["quantization"]["mean"] == pytest.approx((2 / 8 - 0.3) / 4, abs=1e-7)
    assert e["remainder"]["mean"] == pytest.approx(0.0, abs=1e-7)
    assert e["total"]["mean"] == pytest.approx(e["clipping"]["mean"] + e["quantization"]["mean"]
                                               + e["remainder"]["mean"], abs=1e-12)
    assert s["clipped_fraction"] == 0.25


def test_decomposition_is_exact_on_a_deeper_net(small_snn):
    snn, x, y = small_snn
    res = snn.simulate(x, y, timesteps=20)
    for d in res.layers:
        e = d.summary["error"]
        total = e["clipping"]["mean"] + e["quantization"]["mean"] + e["remainder"]["mean"]
        assert e["total"]["mean"] == pytest.approx(total, abs=1e-9)
        assert abs(e["quantization"]["mean"]) <= 1 / 20
        assert -1 <= d.summary["correlation"] <= 1
    assert res.layers[0].summary["error"]["remainder"]["mean_abs"] < 1e-6  # first layer exact


@pytest.mark.parametrize("kw", [dict(), dict(v0=0.5), dict(reset=ResetMode.ZERO),
                                dict(reset=ResetMode.ZERO, v0=0.5), dict(leak=0.1),
                                dict(multi_spike=3)])
def test_ideal_counts_match_the_if_neuron(kw):
    z = np.array([0.0, 0.0625, 0.25, 0.3, 0.5, 0.75, 0.96875, 1.0], np.float32)
    p = IFParams(**kw)
    cur = torch.from_numpy(z)
    s, _ = if_scan(cur, if_init(cur.shape, p), p, 37, static=True)
    np.testing.assert_array_equal(ideal_counts(z, 37, p), s.sum(0).numpy())


def test_energy_and_macs_in_metrics_json(small_snn, tmp_path):
    snn, x, y = small_snn
    res = snn.simulate(x, y, timesteps=10)
    res.save(tmp_path, report=False)
    m = json.loads((tmp_path / "metrics.json").read_text())  # strict JSON: no NaN
    e = m["energy"]
    assert e["constants"]["accumulate_pJ"] == 0.9
    assert e["constants"]["multiply_accumulate_pJ"] == 4.6
    assert "not a measurement" in e["kind"]
    assert m["first_layer_macs_per_sample"] == 3 * 36 * 9  # conv 3x6x6 outputs x 9 taps
    assert m["ann_macs_per_sample"] == 3 * 36 * 9 + 4 * 27
    want = 0.9e-12 * m["synaptic_ops_per_sample"] + 4.6e-12 * m["first_layer_macs_per_sample"]
    assert e["snn_joules_per_sample"] == pytest.approx(want)
    assert e["ann_joules_per_sample"] == pytest.approx(4.6e-12 * m["ann_macs_per_sample"])
    names = [layer["name"] for layer in m["layers"]]
    assert names == ["relu", "fc.neurons"]
    for layer in m["layers"]:
        for key in ("spike_rate", "spikes_per_neuron", "correlation", "clipped_fraction",
                    "error"):
            assert key in layer
        assert math.isclose(layer["spike_rate"] * 10, layer["spikes_per_neuron"])
    assert sum(m["confusion_matrix"]["counts"][i][j] for i in range(4) for j in range(5)) == 12


def test_integer_mode_rates_are_in_activation_units():
    """In integer mode θ is an integer; an activation a is the current a·θ, rate N/T."""
    quantize = pytest.importorskip("ann2snn.quantize").quantize
    rng = np.random.default_rng(2)
    x = (rng.integers(0, 16, (30, 6)) / 16).astype(np.float32)
    q = quantize(one_layer(x), calibration=x)
    assert q.graph["relu"].threshold > 1
    s = q.simulate(x, np.zeros(30, np.int64), timesteps=16).layers[0].summary
    assert s["correlation"] > 0.99
    assert s["snn_rate_mean"] == pytest.approx(s["ann_mean"], abs=1 / 16)
    assert abs(s["error"]["remainder"]["mean"]) < 0.01
