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
from ann2snn.quantize import quantize
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


def stats(e) -> dict:
    e = np.asarray(e, np.float64)
    return {"mean": e.mean(), "mean_abs": np.abs(e).mean(), "rms": np.sqrt((e * e).mean())}


def assert_terms(summary: dict, a, z, r_star, r) -> None:
    """The summary's error terms against hand-computed activations a, clipped z, ideal
    rate r* and SNN rate r: clipping z − a, quantization r* − z, remainder r − r*."""
    a, z, r_star, r = (np.asarray(v, np.float64) for v in (a, z, r_star, r))
    want = {"total": r - a, "clipping": z - a, "quantization": r_star - z,
            "remainder": r - r_star}
    for comp, e in want.items():
        for k, v in stats(e).items():
            assert summary["error"][comp][k] == pytest.approx(v, abs=1e-6), (comp, k)
    assert summary["correlation"] == pytest.approx(np.corrcoef(a, r)[0, 1], abs=1e-6)
    assert summary["correlation_clipped"] == pytest.approx(np.corrcoef(z, r)[0, 1], abs=1e-6)


def test_each_error_term_names_its_cause_on_a_hand_computed_net():
    """Two populations of three independent neurons, T = 8, every spike counted by hand.

    relu1 (analog input x, constant current): x = 0.3 fires at steps 4 and 7 (N = 2 =
    floor(2.4): quantization −0.05); x = 1.5 fires every step (clipped: −0.5); x = 0.5
    fires at 2, 4, 6, 8 (exact).
    relu2 = diag(2.5, 1, 0.6) · relu1 receives spikes, not a constant current:
    - neuron 0, a = 0.75: input 2.5 at steps 4 and 7 -> v = 2.5 (spike) 1.5 (spike) 0.5,
      3.0 (spike) 2.0 (spike): N = 4, r = 0.5; the constant current 0.75 would give
      N* = 6: all of its error −0.25 is remainder;
    - neuron 1, a = 1.5 (the ANN is not clipped): input 1 every step, N = 8: clipping −0.5;
    - neuron 2, a = 0.3: input 0.6 at steps 2, 4, 6, 8 -> spikes at 4 and 8, N = 2 =
      N*(0.3, 8): quantization −0.05.
    """
    x = np.array([[0.3, 1.5, 0.5]], np.float32)
    ann = Graph([n.Input("x", shape=(3,)),
                 n.Dense("fc1", ("x",), weight=np.eye(3, dtype=np.float32),
                         bias=np.zeros(3, np.float32)),
                 n.ReLU("relu1", ("fc1",)),
                 n.Dense("fc2", ("relu1",), weight=np.diag([2.5, 1.0, 0.6]).astype(np.float32),
                         bias=np.zeros(3, np.float32)),
                 n.ReLU("relu2", ("fc2",))])
    res = SNN(to_spiking(ann), ann).simulate(x, np.zeros(1, np.int64), timesteps=8,
                                              example_sample=None)
    l1, l2 = (d.summary for d in res.layers)
    assert (l1["name"], l2["name"]) == ("relu1", "relu2")
    assert_terms(l1, a=[0.3, 1.5, 0.5], z=[0.3, 1, 0.5], r_star=[2 / 8, 1, 4 / 8],
                 r=[2 / 8, 1, 4 / 8])
    assert_terms(l2, a=[0.75, 1.5, 0.3], z=[0.75, 1, 0.3], r_star=[6 / 8, 1, 2 / 8],
                 r=[4 / 8, 1, 2 / 8])
    assert l1["clipped_fraction"] == l2["clipped_fraction"] == pytest.approx(1 / 3)
    assert l1["spikes_per_neuron"] == pytest.approx(14 / 3)
    assert l2["spikes_per_neuron"] == pytest.approx(14 / 3)


def test_error_terms_of_a_deeper_net_from_its_counts_and_activations(small_snn):
    """The accumulated terms (over two batches) against the SNN's own spike counts and
    the normalized ANN's activations, with N* = floor(z·T) (reset SUBTRACT, v0 = 0)."""
    snn, x, y = small_snn
    T = 20
    res = snn.simulate(x, y, timesteps=T, batch_size=5, example_sample=None)
    counts = snn.run_batch(torch.from_numpy(x), T).counts
    _, acts = snn.ann_forward(x, record={"relu", "fc"})
    for d in res.layers:
        src = d.name.removesuffix(".neurons")
        a = acts[src].reshape(len(x), -1).astype(np.float64).ravel()
        r = counts[d.name].numpy().reshape(len(x), -1).astype(np.float64).ravel() / T
        z = np.clip(a, 0, 1)
        assert_terms(d.summary, a, z, np.floor(z * T) / T, r)
        assert d.summary["clipped_fraction"] == pytest.approx(float((a > 1).mean()))
    first = res.layers[0].summary["error"]
    assert first["remainder"]["mean_abs"] < 1e-6  # analog input: the first layer is exact
    assert first["quantization"]["mean_abs"] > 0  # the check above is not empty


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
    rng = np.random.default_rng(2)
    x = (rng.integers(0, 16, (30, 6)) / 16).astype(np.float32)
    q = quantize(one_layer(x), calibration=x)
    assert q.graph["relu"].threshold > 1
    s = q.simulate(x, np.zeros(30, np.int64), timesteps=16).layers[0].summary
    assert s["correlation"] > 0.99
    assert s["snn_rate_mean"] == pytest.approx(s["ann_mean"], abs=1 / 16)
    assert abs(s["error"]["remainder"]["mean"]) < 0.01


@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO), dict(v0=0.5),
                                dict(multi_spike=3), dict(leak=0.1),
                                dict(membrane_readout=True)])
def test_compiled_diagnostics_equal_the_numpy_code(kw, monkeypatch):
    """The kernel's one-pass sums and histogram (sim/kernels/fused.c) against the numpy
    code: the integer counts and the histogram exactly (values on the bin edges too), the
    float sums to the last bits (element order against numpy's pairwise order)."""
    from ann2snn.analysis.layers import ACT_BINS, LayerAccumulator
    from ann2snn.sim import kernels
    from ann2snn.sim.kernels import native

    if native.load() is None:
        pytest.skip(f"the fused kernels could not be built here: {native.failure()}")
    rng = np.random.default_rng(7)
    node = n.IF("p", ("x",), threshold=1.0, **kw)
    counts = rng.integers(0, 12, (30, 250)).astype(np.float32)
    acts = (rng.random((30, 250)) * 2.4 - 0.3).astype(np.float32)
    acts[0, :len(ACT_BINS)] = ACT_BINS  # every bin edge, 0 and 2.0 among them
    membrane = rng.normal(0, 3, (30, 250)).astype(np.float32)
    states = {}
    for mode in ("native", "torch"):
        monkeypatch.setenv(kernels.ENV, mode)
        acc = LayerAccumulator(node, (250,), 8, 60)
        for start in (0, 30):  # two batches: the sums accumulate
            acc.update(counts, acts, membrane=membrane, start=start)
        states[mode] = acc.state()
    a, b = states["native"], states["torch"]
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype.kind in "iu" or k == "points":
            assert np.array_equal(a[k], b[k]), k
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-9, err_msg=k)
    assert a["act_hist"].sum() > 0 and a["err"].any()
