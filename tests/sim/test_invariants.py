"""The exact invariants of docs/design.md §3."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.sim.encoders import Encoding, element_keys, poisson_window
from ann2snn.sim.functional import IFParams, if_init, if_scan, if_step
from ann2snn.sim.simulator import SpikingNetwork

# dyadic currents: exactly representable, so float sums do not drift
CURRENTS = [0.0, 0.0625, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.8125, 0.96875]


def single_neuron_counts(z: float, steps: int, **kw) -> tuple[int, list[int]]:
    p = IFParams(**kw)
    st = if_init((1,), p, dtype=torch.float64)
    times = []
    for t in range(steps):
        s, st = if_step(torch.tensor([z], dtype=torch.float64), st, p)
        if s.item():
            times.append(t + 1)
    return len(times), times


@pytest.mark.parametrize("z", CURRENTS)
@pytest.mark.parametrize("steps", [1, 7, 64, 100])
def test_single_neuron_reset_subtract_fires_floor_zT(z, steps):
    count, _ = single_neuron_counts(z, steps)
    assert count == math.floor(z * steps)


@pytest.mark.parametrize("z", [0.0625, 0.25, 0.375, 0.5, 0.75, 0.96875])
def test_single_neuron_reset_zero_fires_every_ceil_1_over_z(z):
    _, times = single_neuron_counts(z, 100, reset=ResetMode.ZERO)
    period = math.ceil(1 / z)
    assert times == list(range(period, 101, period))


@pytest.mark.parametrize("z", CURRENTS)
@pytest.mark.parametrize("steps", [1, 8, 33, 64])
def test_v0_half_rounds(z, steps):
    count, _ = single_neuron_counts(z, steps, v0=0.5)
    assert count == math.floor(z * steps + 0.5)


def test_multi_spike_emits_floor_of_v():
    p = IFParams(multi_spike=4)
    s, st = if_step(torch.tensor([2.5, 0.5, 9.0]), if_init((3,), p), p)
    assert s.tolist() == [2.0, 0.0, 4.0]
    assert st.v.tolist() == [0.5, 0.5, 5.0]


@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO), dict(v0=0.5),
                                dict(leak=0.125), dict(multi_spike=3),
                                dict(membrane_readout=True), dict(threshold=0.75)])
@pytest.mark.parametrize("static", [True, False])
def test_scan_equals_repeated_steps(kw, static, rng):
    p = IFParams(**kw)
    cur = torch.as_tensor(rng.normal(0.3, 0.7, (13, 4, 5)), dtype=torch.float32)
    if static:
        cur = cur[0]
    st0 = if_init((4, 5), p)
    out, st = if_scan(cur, st0, p, 13, static)
    ref, st_ref = [], st0
    for t in range(13):
        s, st_ref = if_step(cur if static else cur[t], st_ref, p)
        ref.append(s)
    assert torch.equal(out, torch.stack(ref))
    assert torch.equal(st.v, st_ref.v)


def one_layer(weight: np.ndarray, bias: np.ndarray, reset=ResetMode.SUBTRACT) -> Graph:
    return Graph([n.Input("x", shape=(weight.shape[1],)),
                  n.Dense("fc", ("x",), weight=weight, bias=bias),
                  n.IF("fc.neurons", ("fc",), reset=reset)])


def test_one_layer_counts_are_floor_of_clipped_activation_times_T(rng):
    # weights and inputs on a dyadic grid: every current sum is exact in float32
    w = rng.integers(-8, 9, (12, 6)) / 16.0
    b = rng.integers(-4, 5, 12) / 16.0
    x = rng.integers(0, 5, (9, 6)) / 8.0
    net = SpikingNetwork(one_layer(w.astype(np.float32), b.astype(np.float32)))
    a = x @ w.T + b
    for T in (1, 5, 64, 200):
        counts = net.run_batch(torch.as_tensor(x), T).readout.numpy()
        np.testing.assert_array_equal(counts, np.floor(np.clip(a, 0, 1) * T))


def conv_net() -> Graph:
    g = np.random.default_rng(7)
    return Graph([
        n.Input("x", shape=(2, 9, 9)),
        n.Conv("c1", ("x",), weight=g.normal(0, .4, (4, 2, 3, 3)).astype(np.float32),
               bias=np.full(4, .1, np.float32), padding=(1, 1), stride=(1, 1), dilation=(1, 1)),
        n.IF("r1", ("c1",)),
        n.SpikingMaxPool("p1", ("r1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        n.Conv("c2", ("p1",), weight=g.normal(0, .4, (6, 4, 3, 3)).astype(np.float32),
               bias=None, padding=(1, 1), stride=(1, 1), dilation=(1, 1)),
        n.Scale("sc", ("p1",), factor=np.full((1, 1, 1), .5, np.float32)),
        n.Conv("c3", ("sc",), weight=g.normal(0, .4, (6, 4, 1, 1)).astype(np.float32),
               bias=None, padding=(0, 0), stride=(1, 1), dilation=(1, 1)),
        n.Add("add", ("c2", "c3")),
        n.IF("r2", ("add",)),
        n.AvgPool("ap", ("r2",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("f", ("ap",)),
        n.Dense("fc", ("f",), weight=g.normal(0, .3, (5, 24)).astype(np.float32),
                bias=np.zeros(5, np.float32)),
        n.IF("out", ("fc",)),
    ], "out")


@pytest.mark.parametrize("encoding", [Encoding.ANALOG, Encoding.POISSON, Encoding.TTFS])
def test_windowed_equals_step_by_step(encoding, rng):
    net = SpikingNetwork(conv_net())
    x = torch.as_tensor(rng.random((5, 2, 9, 9)), dtype=torch.float32)
    ref = net.run_batch(x, 40, encoding, window=1)
    for w in (3, 16, 40):
        got = net.run_batch(x, 40, encoding, window=w)
        assert torch.equal(got.readout, ref.readout)
        assert torch.equal(got.predictions, ref.predictions)
        for k in ref.counts:
            assert torch.equal(got.counts[k], ref.counts[k])
        for k in ref.sops:
            assert torch.equal(got.sops[k], ref.sops[k])


@pytest.mark.parametrize("encoding", [Encoding.ANALOG, Encoding.POISSON])
def test_batch_size_independence(encoding, rng):
    net = SpikingNetwork(conv_net())
    x = torch.as_tensor(rng.random((7, 2, 9, 9)), dtype=torch.float32)
    full = net.run_batch(x, 30, encoding).readout
    parts = torch.cat([net.run_batch(x[i:i + 2], 30, encoding,
                                     sample_index=torch.arange(i, min(i + 2, 7))).readout
                       for i in range(0, 7, 2)])
    assert torch.equal(full, parts)


def test_spikes_are_binary_and_first_layer_current_constant(rng):
    seen = {}

    def probe(name, kind, t, t0):
        seen.setdefault((name, kind), []).append(t.clone())

    net = SpikingNetwork(conv_net())
    x = torch.as_tensor(rng.random((2, 2, 9, 9)), dtype=torch.float32)
    net.run_batch(x, 6, probe=probe, window=3)
    cur = torch.cat(seen[("r1", "current")])
    assert torch.equal(cur, cur[:1].expand_as(cur))  # analog input: constant current
    spikes = torch.cat(seen[("r2", "spikes")])
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_spiking_maxpool_gates_the_most_active_input():
    g = Graph([n.Input("x", shape=(1, 1, 2)), n.IF("a", ("x",)),
               n.SpikingMaxPool("p", ("a",), kernel=(1, 2), stride=(1, 2), padding=(0, 0),
                                dilation=(1, 1)),
               n.Flatten("f", ("p",)),
               n.Dense("d", ("f",), weight=np.ones((1, 1), np.float32), bias=None),
               n.IF("o", ("d",))], "o")
    seen = {}
    net = SpikingNetwork(g)
    net.run_batch(torch.tensor([[[[0.5, 0.75]]]]), 8,
                  probe=lambda nm, k, t, t0: seen.setdefault((nm, k), []).append(t))
    a = torch.cat(seen[("a", "spikes")])[:, 0, 0, 0]  # (T, 2)
    out = torch.cat(seen[("o", "current")])[:, 0, 0]
    cnt = torch.cumsum(a, 0)
    # at each step the output carries the spike of the input with the larger count so far
    # (ties: the lower index)
    expect = torch.where(cnt[:, 1] > cnt[:, 0], a[:, 1], a[:, 0])
    assert torch.equal(out, expect)


def test_membrane_readout_predicts_argmax_of_integrated_current():
    w = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)
    g = Graph([n.Input("x", shape=(2,)), n.Dense("fc", ("x",), weight=w, bias=None),
               n.IF("o", ("fc",), membrane_readout=True)], "o", {"readout": "membrane"})
    net = SpikingNetwork(g)
    out = net.run_batch(torch.tensor([[0.2, 0.1], [0.05, 0.3]]), 4)
    np.testing.assert_allclose(out.readout.numpy(), 4 * np.array([[.2, .1, .15], [.05, .3, .175]]),
                               rtol=1e-6)
    assert out.predictions[-1].tolist() == [0, 1]


def test_no_output_spike_counts_as_wrong():
    g = one_layer(np.array([[-1.0]], np.float32), np.zeros(1, np.float32))
    out = SpikingNetwork(g).run_batch(torch.tensor([[0.5]]), 5)
    assert out.predictions.tolist() == [[-1]] * 5


def test_probe_sees_the_input_in_every_window(rng):
    seen = {}
    net = SpikingNetwork(conv_net())
    x = torch.as_tensor(rng.random((2, 2, 9, 9)), dtype=torch.float32)
    net.run_batch(x, 10, probe=lambda nm, k, t, t0: seen.setdefault((nm, k), []).append(t0),
                  window=4)
    assert seen[("x", "spikes")] == [0, 4, 8]
    assert seen[("r1", "spikes")] == [0, 4, 8]


@pytest.mark.parametrize("encoding", [Encoding.ANALOG, Encoding.POISSON])
def test_chunked_batches_equal_one_batch(encoding, rng, monkeypatch):
    """On CPU a batch whose windows would allocate large tensors is simulated in chunks
    of samples; every output must be what one batch gives."""
    import ann2snn.sim.simulator as sim

    net = SpikingNetwork(conv_net())
    x = torch.as_tensor(rng.random((9, 2, 9, 9)), dtype=torch.float32)
    whole = net.run_batch(x, 25, encoding, window=5)
    monkeypatch.setattr(sim, "CPU_TENSOR_BYTES", 4 * 4 * 81 * 5 * 2)  # 2 samples × 5 steps
    window, chunk = sim.plan_windows(net.graph, 9, 25, None, 4, torch.device("cpu"), True)
    assert (window, chunk) == (sim.MIN_WINDOW, 1)
    assert sim.plan_windows(net.graph, 9, 25, 5, 4, torch.device("cpu"), True) == (5, 2)
    got = net.run_batch(x, 25, encoding, window=5)
    assert torch.equal(got.readout, whole.readout)
    assert torch.equal(got.predictions, whole.predictions)
    assert got.counts.keys() == whole.counts.keys() and got.sops.keys() == whole.sops.keys()
    for k in whole.counts:
        assert torch.equal(got.counts[k], whole.counts[k])
    for k in whole.sops:
        assert torch.equal(got.sops[k], whole.sops[k])


@pytest.mark.parametrize("kernel,ceil", [((2, 2), False), ((3, 2), True), ((2,), False),
                                         ((3,), True)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_spiking_maxpool_key_gate_equals_index_gate(kernel, ceil, channels_last, rng):
    """The one-max-pool gate (count, position and spike packed in one key) picks the same
    input as max pooling with indices: the highest count, ties to the lowest index."""
    import torch.nn.functional as F

    from ann2snn.sim.simulator import _gate_by_key, _window_positions

    d = len(kernel)
    node = n.SpikingMaxPool("p", ("x",), kernel=kernel, stride=kernel, padding=(0,) * d,
                            dilation=(1,) * d, ceil_mode=ceil)
    spatial = (7, 5)[:d] if d == 2 else (11,)
    cnt = torch.as_tensor(rng.integers(0, 3, (6, 3, *spatial)), dtype=torch.float32)
    s = torch.as_tensor(rng.integers(0, 2, cnt.shape), dtype=torch.float32)
    if channels_last and d == 2:
        cnt = cnt.contiguous(memory_format=torch.channels_last)
        s = s.contiguous(memory_format=torch.channels_last)
    pool = F.max_pool1d if d == 1 else F.max_pool2d
    _, idx = pool(cnt, kernel, kernel, 0, 1, ceil, return_indices=True)
    ref = torch.gather(s.flatten(2), 2, idx.flatten(2)).view(idx.shape)
    got = _gate_by_key(node, cnt, s, *_window_positions(node, spatial, "cpu"))
    assert torch.equal(got, ref)
    assert (ref == 0).any() and (ref == 1).any()


@pytest.mark.parametrize("shape", [(3, 4, 8, 6), (2, 3, 7, 5)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_2x2_pooling_equals_torch_pooling(shape, channels_last, rng):
    """The simulator's 2×2 pooling on strided views gives torch's results bit for bit
    (same summation order), on any float input and odd sizes."""
    import torch.nn.functional as F

    from ann2snn.sim.simulator import _quarters, _sum4

    x = torch.as_tensor(rng.normal(size=shape), dtype=torch.float32)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(_quarters(x, _sum4).mul_(0.25), F.avg_pool2d(x, 2))
    mx = _quarters(x, lambda q: torch.maximum(torch.maximum(q[0], q[1]), q[2]).maximum(q[3]))
    assert torch.equal(mx, F.max_pool2d(x, 2))


# -- input encodings against their formulas (docs/design.md §3) -----------------------------------
def input_spikes(x: np.ndarray, timesteps: int, encoding: Encoding, **kw) -> torch.Tensor:
    """The input layer's spikes (T, B, ...) as the simulator's probe sees them."""
    k = x.shape[1]
    seen = []

    def probe(name, kind, t, t0):
        if (name, kind) == ("x", "spikes"):
            seen.append((t0, t.clone()))

    net = SpikingNetwork(one_layer(np.eye(k, dtype=np.float32), np.zeros(k, np.float32)))
    net.run_batch(torch.as_tensor(x), timesteps, encoding, probe=probe, **kw)
    return torch.cat([t for _, t in sorted(seen, key=lambda p: p[0])])


TTFS_X = [-0.3, 0.0, 0.12, 0.26, 0.5, 0.73, 0.98, 1.0, 1.4]


@pytest.mark.parametrize("timesteps,steps", [
    (11, [10, 10, 9, 7, 5, 3, 0, 0, 0]),  # (1 − x)·10 = 10 10 8.8 7.4 5 2.7 0.2 0 0
    (21, [20, 20, 18, 15, 10, 5, 0, 0, 0]),  # (1 − x)·20 = ... 17.6 14.8 10 5.4 0.4 ...
    (1, [0] * 9),
])
def test_ttfs_one_spike_at_round_of_one_minus_x_times_T_minus_1(timesteps, steps):
    """One spike per element, at 0-based step round((1 − x)(T − 1)), x clipped to [0, 1];
    the same in any window cut and for every sample of the batch."""
    x = np.array([TTFS_X, TTFS_X[::-1]], np.float32)
    for window in (1, 4, timesteps):
        s = input_spikes(x, timesteps, Encoding.TTFS, window=window)
        assert s.shape == (timesteps, 2, len(TTFS_X))
        assert set(s.unique().tolist()) <= {0.0, 1.0}
        assert (s.sum(0) == 1).all()
        assert s.argmax(0).tolist() == [steps, steps[::-1]]


POISSON_X = [-0.5, 0.0, 0.1, 0.3, 0.5, 0.8, 1.0, 1.7]


@pytest.mark.parametrize("rate", [1.0, 0.5, 2.0])
def test_poisson_spike_probability_is_clip_of_x_times_rate(rate):
    """Every (step, element) spikes with probability p = clip(x·rate, 0, 1): exactly never
    for p = 0, always for p = 1, and otherwise at an empirical rate within 5 binomial
    standard deviations of p — also for two steps in a row (p², independent steps)."""
    copies, samples, steps = 250, 4, 40
    x = torch.tensor(POISSON_X).repeat_interleave(copies).repeat(samples, 1)  # (B, 8·250)
    keys = element_keys(5, torch.arange(samples), x.shape[1])
    s = poisson_window(x, keys, 0, steps, rate).reshape(steps, samples, len(POISSON_X), copies)
    for i, xi in enumerate(POISSON_X):
        p = min(max(xi * rate, 0.0), 1.0)
        si = s[:, :, i]
        n_trials = si.numel()
        if p in (0.0, 1.0):
            assert si.sum().item() == p * n_trials, (xi, rate)
            continue
        k = si.sum().item()
        assert abs(k / n_trials - p) <= 5 * math.sqrt(p * (1 - p) / n_trials), (xi, rate, k)
        both = (si[0::2] * si[1::2]).sum().item()  # disjoint pairs of consecutive steps
        pairs = n_trials // 2
        q = p * p
        assert abs(both / pairs - q) <= 5 * math.sqrt(q * (1 - q) / pairs), (xi, rate, both)


def test_poisson_spikes_are_a_function_of_seed_sample_step_and_element():
    """Deterministic by key: a sample's spikes do not depend on its batch or on the
    window cut; another seed, sample index, step or element gives other spikes."""
    x = torch.full((6, 64), 0.5)
    idx = torch.arange(10, 16)
    keys = element_keys(3, idx, 64)
    whole = poisson_window(x, keys, 0, 12)
    assert torch.equal(whole, poisson_window(x, element_keys(3, idx, 64), 0, 12))
    assert torch.equal(whole[:, 2:4], poisson_window(x[2:4], element_keys(3, idx[2:4], 64),
                                                     0, 12))
    assert torch.equal(whole, torch.cat([poisson_window(x, keys, 0, 5),
                                         poisson_window(x, keys, 5, 7)]))
    assert not torch.equal(whole, poisson_window(x, element_keys(4, idx, 64), 0, 12))
    assert not torch.equal(whole[:, 0], whole[:, 1])  # same x, other sample index
    assert not torch.equal(whole[0], whole[1])  # other step
    assert not torch.equal(whole[:, :, 0], whole[:, :, 1])  # other element


def test_simulator_feeds_the_poisson_encoder_with_seed_sample_index_and_rate(rng):
    """The input spikes the simulator's layers receive are the encoder's spikes for the
    run's seed, dataset sample indices and input rate."""
    x = rng.random((3, 20)).astype(np.float32)
    idx = torch.tensor([7, 8, 9])
    got = input_spikes(x, 15, Encoding.POISSON, window=4, seed=11, sample_index=idx,
                       input_rate=0.6)
    want = poisson_window(torch.as_tensor(x), element_keys(11, idx, 20), 0, 15, 0.6)
    assert torch.equal(got, want)
    assert 0 < got.sum() < got.numel()
