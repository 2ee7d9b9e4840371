"""The fused kernels (sim/kernels/) against the pure-torch code they replace: identical
spikes, membranes, counts and SOPs, on random inputs, every mode and layout; the
selection (ANN2SNN_KERNELS) and the fallback when no compiler is found."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn.analysis.counts import _windows_covering
from ann2snn.errors import SimulationError
from ann2snn.ir import ResetMode
from ann2snn.ir import nodes as n
from ann2snn.sim import integer as isim
from ann2snn.sim import integer_ops, kernels, pooling, sops
from ann2snn.sim.functional import IFParams, IFState, if_init, if_scan_torch
from ann2snn.sim.kernels import native
from ann2snn.sim.kernels import ops as kops


@pytest.fixture(scope="module")
def lib():
    got = native.load()
    if got is None:  # a machine without a C compiler: the fallback tests below still run
        pytest.skip(f"the fused kernels could not be built here: {native.failure()}")
    return got


PARAMS = [dict(), dict(reset=ResetMode.ZERO), dict(v0=0.5), dict(leak=0.125),
          dict(multi_spike=3), dict(multi_spike=3, reset=ResetMode.ZERO),
          dict(membrane_readout=True), dict(threshold=0.3), dict(threshold=0.75, leak=0.1)]


@pytest.mark.parametrize("kw", PARAMS)
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_float_if_scan_equals_torch(lib, kw, static, channels_last, rng):
    p = IFParams(**kw)
    k = 11
    cur = torch.as_tensor(rng.normal(0.3, 0.9, (k * 3, 5, 6, 7)), dtype=torch.float32)
    if channels_last:
        cur = cur.contiguous(memory_format=torch.channels_last)
    cur = cur.view(k, 3, 5, 6, 7)
    if static:
        cur = cur[0]
    st0 = if_init((3, 5, 6, 7), p)
    st0 = IFState(st0.v + torch.as_tensor(rng.normal(0, 0.3, st0.v.shape), dtype=torch.float32))
    v_before = st0.v.clone()
    ref, st_ref = if_scan_torch(cur, st0, p, k, static)
    got = kops.if_scan_f32(lib, cur, st0.v, p.threshold, p.leak, p.multi_spike,
                           p.reset is ResetMode.ZERO, p.membrane_readout, k, static)
    assert got is not None
    assert torch.equal(got[0], ref) and torch.equal(got[1], st_ref.v)
    assert torch.equal(st0.v, v_before)  # the caller's state is not modified
    assert got[0].stride() == ref.stride()  # the same layout as the fallback's
    # in place (the simulator's loop, which drops the old state): the same results, in
    # the given membrane where it has the kernel's layout already
    mine = v_before.clone(memory_format=torch.channels_last if channels_last
                          else torch.contiguous_format)
    again = kops.if_scan_f32(lib, cur, mine, p.threshold, p.leak, p.multi_spike,
                             p.reset is ResetMode.ZERO, p.membrane_readout, k, static,
                             inplace=True)
    assert torch.equal(again[0], ref) and torch.equal(again[1], st_ref.v)
    assert again[1].data_ptr() == mine.data_ptr()
    if not p.membrane_readout:
        assert (ref > 0).any() and (ref == 0).any()
    # counting in the same pass, into counts in the current's layout (the simulator's)
    # and into counts in another layout (added after the kernel): the fallback's sums
    base = torch.as_tensor(rng.integers(0, 5, (3, 5, 6, 7)), dtype=torch.float32)
    want = base if p.membrane_readout else base + ref.sum(0)
    for fmt in (torch.channels_last, torch.contiguous_format):
        count = base.clone(memory_format=fmt)
        got = kops.if_scan_f32(lib, cur, st0.v, p.threshold, p.leak, p.multi_spike,
                               p.reset is ResetMode.ZERO, p.membrane_readout, k, static,
                               count)
        assert torch.equal(got[0], ref)
        assert torch.equal(count, want)
        ref_count = base.clone()
        if_scan_torch(cur, st0, p, k, static, ref_count)
        assert torch.equal(ref_count, want)


def test_float_if_scan_declines_what_it_does_not_cover(lib):
    v = torch.zeros(4, 3)
    assert kops.if_scan_f32(lib, torch.zeros(4, 3, dtype=torch.float64), v.double(), 1.0, 0.0,
                            1, False, False, 4, True) is None
    assert kops.if_scan_f32(lib, torch.zeros(3), v, 1.0, 0.0, 1, False, False, 4, True) is None


def integer_case(rng, reset_zero: bool, multi: int, membrane: bool, per_channel: bool,
                 static: bool):
    """A random integer population's window (also tests/sim/test_kernels_gpu.py):
    (steps, params, current, v0, the spikes and membrane of int_if_step, step by step)."""
    k, shape = 9, (2, 4, 3, 3)
    th = torch.as_tensor(rng.integers(3, 9, (4, 1, 1)) if per_channel else [5],
                         dtype=torch.int64)
    p = isim.IntIFParams(th, 40, reset_zero, multi, membrane)
    cur = torch.as_tensor(rng.integers(-6, 14, (k, *shape)), dtype=torch.int64)
    if static:
        cur = cur[0]
    v0 = torch.as_tensor(rng.integers(-5, 5, shape), dtype=torch.int64)
    outs, v = [], v0
    for i in range(k):
        s, _, v = isim.int_if_step(cur if static else cur[i], v, p)
        outs.append(s)
    return k, p, cur, v0, torch.stack(outs), v


@pytest.mark.parametrize("reset_zero", [False, True])
@pytest.mark.parametrize("multi", [1, 3])
@pytest.mark.parametrize("membrane", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("static", [False, True])
def test_integer_if_scan_equals_steps(lib, reset_zero, multi, membrane, per_channel, static,
                                      rng):
    k, p, cur, v0, spikes, v = integer_case(rng, reset_zero, multi, membrane, per_channel,
                                            static)
    th, shape, outs = p.threshold, v0.shape, spikes
    got = kops.if_scan_i64(lib, cur, v0, th, 40, multi, reset_zero, membrane, k, static)
    assert got is not None
    assert torch.equal(got[0], outs) and torch.equal(got[1], v)
    assert (got[1].abs() <= 40).all()
    base = torch.as_tensor(rng.integers(0, 5, shape), dtype=torch.int64)
    want = base if membrane else base + outs.sum(0)
    for kernel in (True, False):  # counted in the kernel's pass, and by the fallback
        count = base.clone()
        if kernel:
            kops.if_scan_i64(lib, cur, v0, th, 40, multi, reset_zero, membrane, k, static,
                             count)
        else:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(kernels.ENV, "torch")
                isim.int_if_scan(cur, v0, p, k, static, count)
        assert torch.equal(count, want)


def _gate_reference(node, s, cnt0):
    """Max pooling with indices over the counts after each step (the specification)."""
    import torch.nn.functional as F

    pool = F.max_pool1d if len(node.kernel) == 1 else F.max_pool2d
    cnt, outs = cnt0.clone(), []
    for i in range(len(s)):
        cnt = cnt + s[i]
        _, idx = pool(cnt.double(), node.kernel, node.stride, 0, 1, node.ceil_mode,
                      return_indices=True)
        outs.append(torch.gather(s[i].flatten(2), 2, idx.flatten(2)).view(idx.shape))
    return torch.stack(outs), cnt


@pytest.mark.parametrize("kernel,spatial,c", [((2, 2), (8, 6), 4), ((2, 2), (7, 5), 4),
                                              ((3, 2), (6, 6), 4), ((3, 3), (7, 10), 19),
                                              ((2, 2), (4, 6), 33), ((2,), (9,), 4),
                                              ((3,), (12,), 4)])
@pytest.mark.parametrize("layout", ["planar", "channels_last", "strided"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_maxpool_gate_equals_index_gate(lib, kernel, spatial, c, layout, dtype, rng):
    """The row-streamed gate whose vector loads compare at every position (planar and
    channels-last layouts) and the strided loop (any other layout), for few and many
    channels, with many ties (counts < 4)."""
    d = len(kernel)
    node = n.SpikingMaxPool("p", ("x",), kernel=kernel, stride=kernel, padding=(0,) * d,
                            dilation=(1,) * d, ceil_mode=False)
    k, b = 7, 3
    s = torch.as_tensor(rng.integers(0, 2, (k * b, c, *spatial)), dtype=dtype)
    if layout == "channels_last" and d == 2:
        s = s.contiguous(memory_format=torch.channels_last)
    s = s.view(k, b, c, *spatial)
    if layout == "strided":  # x not contiguous: neither row layout
        s = s.transpose(0, -1).contiguous().transpose(0, -1)
    cnt0 = torch.as_tensor(rng.integers(0, 4, (b, c, *spatial)), dtype=dtype)
    if layout == "channels_last" and d == 2:  # the counts in the spikes' layout, as run
        cnt0 = cnt0.contiguous(memory_format=torch.channels_last)
    ref, ref_cnt = _gate_reference(node, s, cnt0)
    got = kops.maxpool_gate(lib, node, s, cnt0.clone())
    assert got is not None
    assert torch.equal(got[0], ref)
    out_k = tuple(x // kk for x, kk in zip(spatial, kernel))
    assert got[0].shape == (k, b, c, *out_k) and (ref == 1).any() and (ref == 0).any()
    win = tuple(slice(0, o * kk) for o, kk in zip(out_k, kernel))  # counts that matter
    assert torch.equal(got[1][(..., *win)], ref_cnt[(..., *win)])


def test_maxpool_gate_declines_overlap_padding_and_partial_windows(lib):
    s = torch.zeros(2, 1, 1, 5, 5)
    for kw in (dict(kernel=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=False),
               dict(kernel=(2, 2), stride=(2, 2), padding=(1, 1), ceil_mode=False),
               dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=True)):
        node = n.SpikingMaxPool("p", ("x",), dilation=(1, 1), **kw)
        assert kops.maxpool_gate(lib, node, s, None) is None


@pytest.mark.parametrize("kernel,spatial", [((2, 2), (8, 6)), ((2, 2), (7, 9)),
                                            ((3, 2), (7, 6))])
@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO, v0=0.5),
                                dict(multi_spike=3, threshold=0.4), dict(leak=0.1)])
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("shared", [False, True])
def test_if_pool_equals_the_scan_then_the_gate(lib, kernel, spatial, kw, static, shared, rng):
    """The fused population + max pool: the pool's spikes and counts, the membrane and
    the population's spike counts equal the fallback's scan, then gate, over windows;
    ``shared``: the pool gates with the population's counts and keeps none of its own."""
    check_if_pool(lambda *a, **k: kops.if_pool_f32(lib, *a, **k), kernel, spatial, kw,
                  static, shared, True, rng)


def check_if_pool(run, kernel, spatial, kw, static, shared, channels_last, rng):
    """``run`` (ops.if_pool_f32's arguments but ``lib``) against the torch scan, gate and
    SOP count over two windows (also tests/sim/test_kernels_gpu.py)."""
    p = IFParams(**kw)
    node = n.SpikingMaxPool("p", ("x",), kernel=kernel, stride=kernel, padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False)
    k, b, c = 6, 3, 5
    cur = torch.as_tensor(rng.normal(0.3, 0.9, (2 * k * b, c, *spatial)), dtype=torch.float32)
    if channels_last:
        cur = cur.contiguous(memory_format=torch.channels_last)
    cur = cur.view(2 * k, b, c, *spatial)
    st = st_ref = if_init((b, c, *spatial), p)
    count = torch.zeros_like(cur[0])
    count_ref = torch.zeros_like(cur[0])
    gate, state = None, {}
    oshape = (c, spatial[0] // kernel[0], spatial[1] // kernel[1])
    fan = torch.as_tensor(rng.integers(0, 40, int(np.prod(oshape))), dtype=torch.float32)
    for w in range(2):  # two windows: the counts and membranes carry
        x = cur[0] if static else cur[w * k:(w + 1) * k]
        s_ref, st_ref = if_scan_torch(x, st_ref, p, k, static, count_ref)
        ref = pooling.spiking_maxpool_torch(node, s_ref, state)
        # the reader's SOPs, counted from the pooled spikes in the same pass
        got = run(node, x, st.v, p.threshold, p.leak, p.multi_spike,
                  p.reset is ResetMode.ZERO, k, static, count, gate, reader_fan=fan,
                  shared=shared)
        assert got is not None
        out, v, gate, r_sops = got
        assert (gate is None) == shared
        if shared:
            gate = count  # what the kernel gated with
        st = IFState(v)
        assert torch.equal(out, ref) and torch.equal(v, st_ref.v)
        flat = ref.reshape(k * b, *oshape)
        assert torch.equal(r_sops, sops.sop_counts_torch(flat, fan, k, b, p.multi_spike == 1,
                                                         p.multi_spike > 1))
        assert r_sops.sum() > 0
        assert torch.equal(count, count_ref) and (ref > 0).any() and (ref == 0).any()
        oh, ow = spatial[0] // kernel[0] * kernel[0], spatial[1] // kernel[1] * kernel[1]
        assert torch.equal(gate[..., :oh, :ow], state["p::count"][..., :oh, :ow])


def test_fused_pool_sharing_counts_hands_them_over_when_run_apart(lib, rng, monkeypatch):
    """The pool gates with the population's counts while fused from the first window on;
    a window the kernel declines (here a planar current) runs apart from the counts as
    they stand, and every window's spikes equal the pure-torch scan and gate."""
    monkeypatch.setenv(kernels.ENV, "native")  # also in CI's pure-torch run of tests/sim
    p = IFParams()
    node = n.SpikingMaxPool("p", ("x",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False)
    k, b, c = 5, 2, 3
    cur = torch.as_tensor(rng.normal(0.3, 0.9, (3 * k * b, c, 6, 6)), dtype=torch.float32)
    cl = cur.contiguous(memory_format=torch.channels_last).view(3 * k, b, c, 6, 6)
    planar = cur.view(3 * k, b, c, 6, 6)
    st = st_ref = if_init((b, c, 6, 6), p)
    count = torch.zeros_like(cl[0])
    count_ref = torch.zeros_like(cl[0])
    state, state_ref = {}, {}
    for w, x in enumerate((cl[:k], cl[k:2 * k], planar[2 * k:])):
        s_ref, st_ref = if_scan_torch(x, st_ref, p, k, False, count_ref)
        ref = pooling.spiking_maxpool_torch(node, s_ref, state_ref)
        got = pooling.fused_if_pool(node, x, st.v, p.threshold, p.leak, p.multi_spike,
                                    False, k, False, count, state)
        if w < 2:
            assert got is not None and state["p::count::shared"] and "p::count" not in state
            out, v, _ = got
            st = IFState(v)
        else:  # declined: the pool's counts are handed over, then the two run apart
            assert got is None and not state["p::count::shared"]
            assert torch.equal(state["p::count"], count)
            s, st = if_scan_torch(x, st, p, k, False, count)
            out = pooling.spiking_maxpool(node, s, state)
        assert torch.equal(out, ref) and torch.equal(count, count_ref)
        assert (ref > 0).any()


@pytest.mark.parametrize("spatial", [(8, 6), (7, 9)])
@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO, v0=0.5),
                                dict(multi_spike=3, threshold=0.4)])
@pytest.mark.parametrize("static", [True, False])
def test_if_avgpool_equals_the_scan_then_the_pool(lib, spatial, kw, static, rng):
    """The fused population + 2×2 average pool: the pool's output, the membrane, the
    population's counts and the pool's SOPs per step equal the scan, then the
    simulator's 2×2 pooling and SOP count, over two windows."""
    check_if_avgpool(lambda *a: kops.if_avgpool_f32(lib, *a), spatial, kw, static, True,
                     rng)


def check_if_avgpool(run, spatial, kw, static, channels_last, rng):
    """``run`` (ops.if_avgpool_f32's arguments but ``lib``) against the torch scan, 2×2
    pooling and SOP count over two windows (also tests/sim/test_kernels_gpu.py)."""
    p = IFParams(**kw)
    node = n.AvgPool("p", ("x",), kernel=(2, 2), stride=(2, 2), padding=(0, 0))
    k, b, c = 6, 3, 5
    cur = torch.as_tensor(rng.normal(0.3, 0.9, (2 * k * b, c, *spatial)), dtype=torch.float32)
    if channels_last:
        cur = cur.contiguous(memory_format=torch.channels_last)
    cur = cur.view(2 * k, b, c, *spatial)
    oh, ow = spatial[0] // 2, spatial[1] // 2
    fan = torch.as_tensor(_windows_covering(node, (c, *spatial), (c, oh, ow)),
                          dtype=torch.float32).reshape(-1)
    st = st_ref = if_init((b, c, *spatial), p)
    count, count_ref = torch.zeros_like(cur[0]), torch.zeros_like(cur[0])
    for w in range(2):
        x = cur[0] if static else cur[w * k:(w + 1) * k]
        s_ref, st_ref = if_scan_torch(x, st_ref, p, k, static, count_ref)
        flat = s_ref.reshape(k * b, c, *spatial)
        ref = pooling.avg_pool_2x2(flat).view(k, b, c, oh, ow)
        ref_sops = sops.sop_counts_torch(flat, fan, k, b, p.multi_spike == 1,
                                         p.multi_spike > 1)
        got = run(node, x, st.v, p.threshold, p.leak, p.multi_spike,
                  p.reset is ResetMode.ZERO, k, static, count, fan)
        assert got is not None
        out, v, got_sops = got
        st = IFState(v)
        assert torch.equal(out, ref) and torch.equal(v, st_ref.v)
        assert torch.equal(count, count_ref) and torch.equal(got_sops, ref_sops)
        assert (ref > 0).any() and (ref == 0).any() and ref_sops.sum() > 0


def test_if_pool_declines_planar_currents_and_overlapping_pools(lib):
    p = IFParams()
    ok = n.SpikingMaxPool("p", ("x",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                          dilation=(1, 1), ceil_mode=False)
    overlap = n.SpikingMaxPool("p", ("x",), kernel=(3, 3), stride=(2, 2), padding=(0, 0),
                               dilation=(1, 1), ceil_mode=False)
    cl = torch.zeros(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    for node, cur in ((ok, torch.zeros(2, 3, 4, 4)), (overlap, cl)):
        assert kops.if_pool_f32(lib, node, cur, if_init((2, 3, 4, 4), p).v, 1.0, 0.0, 1,
                                False, 3, True, torch.zeros_like(cur), None) is None


@pytest.mark.parametrize("mode", ["native", "torch"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_spiking_maxpool_over_windows_is_the_same_both_ways(lib, mode, channels_last,
                                                            monkeypatch, rng):
    """The simulator's entry points (float and integer) over several windows carry the
    counts identically, whichever code runs."""
    node = n.SpikingMaxPool("p", ("x",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False)
    s = torch.as_tensor(rng.integers(0, 2, (12 * 2, 3, 6, 6)), dtype=torch.float32)
    if channels_last:
        s = s.contiguous(memory_format=torch.channels_last)
    s = s.view(12, 2, 3, 6, 6)
    ref, _ = _gate_reference(node, s, torch.zeros_like(s[0]))
    monkeypatch.setenv(kernels.ENV, mode)
    for fn, x in ((pooling.spiking_maxpool, s), (integer_ops.spiking_maxpool, s.long())):
        state: dict = {}
        got = torch.cat([fn(node, x[i:i + 5], state) for i in range(0, 12, 5)])
        assert torch.equal(got.to(ref.dtype), ref)


@pytest.mark.parametrize("shape", [(6 * 4, 3, 5, 5), (6 * 4, 17)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_sop_counts_equal_torch(lib, shape, channels_last, dtype, rng):
    x = torch.as_tensor(rng.integers(-1, 3, shape) * (rng.random(shape) < 0.4), dtype=dtype)
    if channels_last and len(shape) == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    fan = torch.as_tensor(rng.integers(1, 50, int(np.prod(shape[1:]))), dtype=torch.float32)
    ref = sops.sop_counts_torch(x, fan, 6, 4, False)
    got = kops.sop_counts(lib, x, fan, 6)
    assert got is not None and torch.equal(got, ref) and ref.sum() > 0


@pytest.mark.parametrize("fan_max", [50, 1 << 20])  # row sums below 2^24 (float) or not
@pytest.mark.parametrize("counted", [False, True])
def test_sop_counts_exact_over_lane_blocks(lib, fan_max, counted, rng):
    """Rows of several 32-lane blocks and a tail, every row checked (the first one too: a
    select in the lane loop once read stale registers there), in float where the sums
    allow it and in double where they do not."""
    shape = (4 * 3, 1001)
    x = torch.as_tensor(rng.integers(1, 4, shape) * (rng.random(shape) < 0.3),
                        dtype=torch.float32)
    fan = torch.as_tensor(rng.integers(0, fan_max, shape[1]), dtype=torch.float32)
    assert (float(fan.double().sum()) < kops.SMALL_SOPS) == (fan_max == 50)
    res = torch.empty(len(x), dtype=torch.float64)
    fn = lib.sop_counted_f32 if counted else \
        lib.sop_small_f32 if fan_max == 50 else lib.sop_rows_f32
    fn(x.data_ptr(), len(x), shape[1], fan.data_ptr(), res.data_ptr(), 2)
    ev = x.double() if counted else (x != 0).double()
    assert torch.equal(res, ev @ fan.double())
    got = kops.sop_counts(lib, x, fan, 4, counted)
    assert torch.equal(got, (ev @ fan.double()).view(4, 3).sum(1).float())


def test_env_torch_forces_the_fallback_and_native_requires_the_build(monkeypatch):
    monkeypatch.setenv(kernels.ENV, "torch")
    assert kernels.library() is None and kernels.active() == "torch"
    monkeypatch.setenv(kernels.ENV, "sometimes")
    with pytest.raises(SimulationError, match="ANN2SNN_KERNELS='sometimes'.*auto"):
        kernels.library()
    monkeypatch.setenv(kernels.ENV, "native")
    monkeypatch.setattr(native, "compiler", lambda: None)
    monkeypatch.setattr(native, "_state", {})
    with pytest.raises(SimulationError, match="no C compiler.*unset ANN2SNN_KERNELS"):
        kernels.library()


def test_no_compiler_falls_back_with_the_same_spikes(monkeypatch, tmp_path, rng):
    """auto without a compiler: a warning, the pure-torch code, the same result."""
    monkeypatch.delenv(kernels.ENV, raising=False)
    monkeypatch.setattr(native, "compiler", lambda: None)
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setattr(kernels, "_warned", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.library() is None and "no C compiler" in native.failure()
    from ann2snn.sim.functional import if_scan

    cur = torch.as_tensor(rng.normal(0.4, 0.5, (6, 10)), dtype=torch.float32)
    p = IFParams()
    got, _ = if_scan(cur, if_init((10,), p), p, 6)
    ref, _ = if_scan_torch(cur, if_init((10,), p), p, 6)
    assert torch.equal(got, ref) and not list(tmp_path.iterdir())


def test_build_goes_to_the_cache_dir_and_is_reused(monkeypatch, tmp_path):
    if native.compiler() is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native, "_state", {})
    lib1 = native.load()
    assert lib1 is not None, native.failure()
    built = list((tmp_path / "ann2snn" / "kernels").glob("*/libann2snn_fused.so"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    monkeypatch.setattr(native, "_state", {})
    assert native.load() is not None and built[0].stat().st_mtime_ns == mtime
    assert not [p for p in built[0].parent.iterdir() if p.name != built[0].name]


def test_network_simulation_is_identical_both_ways(digits_snn, digits, monkeypatch):
    """A trained CNN (convolutions, pooling, dense): same predictions, counts and SOPs;
    its max pool runs fused with its population and counts its convolution's SOPs."""
    from ann2snn.sim.windows import fusable_pools, pool_readers

    assert pool_readers(digits_snn.graph, fusable_pools(digits_snn.graph))
    _, test = digits
    x = test.x[:40]
    outs = {}
    for mode in ("native", "torch"):
        if mode == "native" and native.load() is None:
            pytest.skip(f"the fused kernels could not be built here: {native.failure()}")
        monkeypatch.setenv(kernels.ENV, mode)
        outs[mode] = digits_snn.run_batch(torch.as_tensor(x), 24)
    a, b = outs["native"], outs["torch"]
    assert torch.equal(a.predictions, b.predictions) and torch.equal(a.readout, b.readout)
    assert a.counts.keys() == b.counts.keys() and a.sops.keys() == b.sops.keys()
    assert all(torch.equal(a.counts[k], b.counts[k]) for k in a.counts)
    assert all(torch.equal(a.sops[k], b.sops[k]) for k in a.sops)
    assert sum(float(v.sum()) for v in a.counts.values()) > 0
