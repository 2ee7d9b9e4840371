"""Integer simulator: hand-computed traces, saturation, windows, batches, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn.errors import SimulationError
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.ir.quant import thresholds
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import (
    IntegerNetwork,
    IntIFParams,
    int_if_scan,
    int_if_step,
    integer_trace,
    quantize_input,
)

f32 = np.float32


def small_net(seed: int = 0, reset: ResetMode = ResetMode.SUBTRACT) -> Graph:
    r = np.random.default_rng(seed)

    def w(*shape):
        return (r.normal(0.1, 1.0, shape) * 1.5 / np.sqrt(np.prod(shape[1:]))).astype(f32)

    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.Conv("c1", ("x",), weight=w(4, 2, 3, 3), bias=np.full(4, 0.1, f32), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=reset),
        n.SpikingMaxPool("mp", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        n.Conv("c2", ("mp",), weight=w(6, 4, 3, 3) * 2, bias=np.full(6, 0.1, f32),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.IF("s2", ("c2",), reset=reset, v0=0.5),
        n.AvgPool("ap", ("s2",), kernel=(3, 3), stride=(3, 3), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Dense("fc", ("fl",), weight=w(3, 6) * 3, bias=np.full(3, 0.05, f32)),
        n.IF("out", ("fc",), reset=reset),
    ], "out", {"readout": "spike_count"})


def params(theta: int, limit: int = 2**31 - 1, zero: bool = False, smax: int = 1,
           membrane: bool = False) -> IntIFParams:
    return IntIFParams(torch.tensor([theta]), limit, zero, smax, membrane)


@pytest.mark.parametrize("current", [0, 1, 3, 7, 9])
def test_if_constant_current_hand_computed(current):
    """θ = 10, constant current c < θ: N(T) = ⌊c·T/θ⌋ (subtract), fires every ⌈θ/c⌉
    steps (zero), ⌊c·T/θ + 1/2⌋ with v(0) = θ/2."""
    T, th = 40, 10
    cur = torch.full((1,), current, dtype=torch.int64)
    for zero, v0 in ((False, 0), (True, 0), (False, 5)):
        v = torch.tensor([v0])
        counts = []
        for _ in range(T):
            s, _, v = int_if_step(cur, v, params(th, zero=zero))
            counts.append(int(s))
        n_t = np.cumsum(counts)
        t = np.arange(1, T + 1)
        if zero:
            want = t // int(np.ceil(th / current)) if current else 0 * t
        else:
            want = (current * t + v0) // th
        assert n_t.tolist() == list(want)


def test_if_step_saturates_and_multi_spike():
    p = params(1000, limit=127)
    v = torch.tensor([0, 0])
    seen = []
    for _ in range(4):
        s, pre, v = int_if_step(torch.tensor([100, -100]), v, p)
        seen.append(pre.tolist())
        assert s.tolist() == [0, 0]
    assert seen == [[100, -100], [127, -127], [127, -127], [127, -127]]
    # multi-spike: s = min(⌊v/θ⌋, s_max), v -= θ·s
    s, pre, v = int_if_step(torch.tensor([37]), torch.tensor([0]), params(10, smax=3))
    assert (int(s), int(pre), int(v)) == (3, 37, 7)
    s, _, v = int_if_step(torch.tensor([25]), torch.tensor([0]), params(10, smax=3, zero=True))
    assert (int(s), int(v)) == (2, 0)


@pytest.mark.parametrize("zero", [False, True])
def test_scan_equals_steps(zero):
    g = torch.Generator().manual_seed(0)
    cur = torch.randint(-30, 60, (25, 3, 7), generator=g)
    p = params(50, limit=300, zero=zero)
    v = torch.zeros(3, 7, dtype=torch.int64)
    s_scan, v_scan = int_if_scan(cur, v, p, 25, False)
    outs = []
    for t in range(25):
        s, _, v = int_if_step(cur[t], v, p)
        outs.append(s)
    assert torch.equal(s_scan, torch.stack(outs)) and torch.equal(v_scan, v)


def _check_recurrence(q, tr):
    """Every recorded step obeys the documented integer semantics exactly."""
    lim = q.graph.quant.v_limit
    for node in q.graph.of_type(n.IF):
        k = tr[node.name]
        th = np.asarray(thresholds(q.graph)[node.name])
        th = th.reshape((-1,) + (1,) * (k["v"].ndim - 3)) if th.size > 1 else th[0]
        v = np.floor(np.broadcast_to(th * node.v0, k["v"].shape[2:]) + 0.5)
        for t in range(k["v"].shape[0]):
            pre = np.clip(v + k["current"][t], -lim, lim)
            assert np.array_equal(pre, k["v_pre_reset"][t])
            s = (pre >= th).astype(np.int64)
            assert np.array_equal(s, k["spikes"][t])
            v = np.where(s > 0, 0, pre) if node.reset is ResetMode.ZERO else pre - th * s
            assert np.array_equal(v, k["v"][t])


@pytest.mark.parametrize("reset", [ResetMode.SUBTRACT, ResetMode.ZERO])
def test_trace_obeys_the_semantics_with_saturation(reset):
    q = quantize(small_net(1, reset), QuantSpec(weight_bits=6, state_bits=10))
    x = np.random.default_rng(0).random((3, 2, 6, 6)).astype(f32)
    tr = integer_trace(q, x, 20)
    lim = q.graph.quant.v_limit
    assert lim == 511
    pres = np.concatenate([tr[p.name]["v_pre_reset"].ravel() for p in q.graph.of_type(n.IF)])
    assert np.abs(pres).max() == lim, "this case should saturate"
    _check_recurrence(q, tr)
    assert np.array_equal(tr["x"]["spikes"][5], quantize_input(x, q.graph).numpy())


def assert_same_trace(a: dict, b: dict) -> None:
    """Two integer traces hold the same layers, kinds and arrays (and are not empty)."""
    assert a and a.keys() == b.keys()
    for k in a:
        assert a[k] and a[k].keys() == b[k].keys(), k
        for j in a[k]:
            assert np.array_equal(a[k][j], b[k][j]), (k, j)


def test_windows_batches_and_repeats_give_identical_results():
    q = quantize(small_net(2), QuantSpec())
    x = np.random.default_rng(1).random((5, 2, 6, 6)).astype(f32)
    ref = q.run_batch(x, 23)
    assert ref.counts["s1"].sum() > 0 and (ref.predictions[-1] >= 0).any()
    runs = [q.run_batch(x, 23, window=w) for w in (1, 4, 23)]
    runs.append(q.run_batch(x, 23))
    one = [q.run_batch(x[i:i + 1], 23, window=3) for i in range(len(x))]
    for bo in runs:
        assert torch.equal(bo.readout, ref.readout)
        assert torch.equal(bo.predictions, ref.predictions)
        assert bo.counts.keys() == ref.counts.keys()
        assert all(torch.equal(bo.counts[k], ref.counts[k]) for k in ref.counts)
    assert torch.equal(torch.cat([b.readout for b in one]), ref.readout)
    assert torch.equal(torch.cat([b.predictions for b in one], 1), ref.predictions)
    t1 = integer_trace(q, x[:2], 23, window=1)
    t2 = integer_trace(q, x[:2], 23)
    assert_same_trace(t1, t2)


def test_thread_count_does_not_change_results():
    q = quantize(small_net(3), QuantSpec())
    x = np.random.default_rng(2).random((6, 2, 6, 6)).astype(f32)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = integer_trace(q, x, 16)
        torch.set_num_threads(2)
        b = integer_trace(q, x, 16)
    finally:
        torch.set_num_threads(old)
    assert_same_trace(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    q = quantize(small_net(4), QuantSpec())
    x = np.random.default_rng(3).random((8, 2, 6, 6)).astype(f32)
    a = integer_trace(q, x, 16)
    q.to("cuda")
    b = integer_trace(q, x, 16)
    assert_same_trace(a, b)


def test_input_quantization():
    q = quantize(small_net(), QuantSpec(input_bits=8))
    x = np.array([0.0, 0.5, 1 / 255, 0.999, 1.2, -0.1], f32)
    xi = quantize_input(np.broadcast_to(x[:, None, None, None], (6, 2, 6, 6)), q.graph)
    assert xi[:, 0, 0, 0].tolist() == [0, 128, 1, 255, 255, 0]
    ints = torch.randint(0, 256, (2, 2, 6, 6))
    assert torch.equal(quantize_input(ints, q.graph), ints)
    with pytest.raises(SimulationError, match="outside"):
        quantize_input(ints + 300, q.graph)


def test_only_analog_input():
    q = quantize(small_net(), QuantSpec())
    with pytest.raises(SimulationError, match="analog"):
        q.run_batch(np.zeros((1, 2, 6, 6), f32), 4, "poisson")


def test_integer_network_class_and_save_load_round_trip(tmp_path):
    from ann2snn import load

    q = quantize(small_net(5), QuantSpec(weight_bits=5, per_channel=True))
    x = np.random.default_rng(4).random((3, 2, 6, 6)).astype(f32)
    q.save(tmp_path / "q.snn")
    back = load(tmp_path / "q.snn")
    assert back.graph.quant == q.graph.quant
    assert thresholds(back.graph) == thresholds(q.graph)
    for a, b in zip(q.graph, back.graph):
        for key, arr in a.arrays().items():
            assert arr.dtype == b.arrays()[key].dtype and np.array_equal(arr, b.arrays()[key])
    ra, rb = q.run_batch(x, 12), back.run_batch(x, 12)
    rc = IntegerNetwork(back.graph).run_batch(x, 12)
    assert torch.equal(ra.readout, rb.readout) and torch.equal(ra.readout, rc.readout)
