"""The Triton kernels for CUDA (sim/kernels/gpu.py) against the pure-torch code they
replace: identical spikes, membranes, counts and SOPs. Without a GPU they run in Triton's
interpreter on CPU tensors (``TRITON_INTERPRET=1``), which checks their logic and
arithmetic order, not the GPU compiler; where CUDA is present, the compiled kernels are
checked too (test_cuda_kernels_equal_torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_kernels import (  # tests/sim is on sys.path (rootdir, no package)
    PARAMS,
    _gate_reference,
    check_if_avgpool,
    check_if_pool,
    integer_case,
)

from ann2snn.errors import SimulationError
from ann2snn.ir import ResetMode
from ann2snn.ir import nodes as n
from ann2snn.sim import integer as isim
from ann2snn.sim import integer_ops, kernels, pooling, sops
from ann2snn.sim.functional import IFParams, IFState, if_init, if_scan_torch
from ann2snn.sim.kernels import gpu

pytestmark = pytest.mark.skipif(not gpu.available(), reason=f"{gpu.failure()}; "
                                "CI installs it (the test extra)")


@pytest.fixture
def interp(monkeypatch):
    """The Triton kernels chosen on every device, on CPU tensors in Triton's interpreter
    (tests/conftest.py turns it on where there is no GPU)."""
    if not gpu.interpreted():
        pytest.skip("Triton's interpreter is off (a GPU is present: the CUDA tests run)")
    monkeypatch.setenv(kernels.ENV, "triton")



def _float_case(p: IFParams, static: bool, cl: bool, rng, device="cpu"):
    k, shape = 11, (3, 5, 6, 7)
    cur = torch.as_tensor(rng.normal(0.3, 0.9, (k * shape[0], *shape[1:])),
                          dtype=torch.float32)
    if cl:
        cur = cur.contiguous(memory_format=torch.channels_last)
    cur = cur.view(k, *shape)
    if static:
        cur = cur[0]
    v0 = if_init(shape, p).v + torch.as_tensor(rng.normal(0, 0.3, shape), dtype=torch.float32)
    return k, cur.to(device), v0.to(device)


@pytest.mark.parametrize("kw", PARAMS)
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_float_if_scan_equals_torch(interp, kw, static, channels_last, rng):
    p = IFParams(**kw)
    k, cur, v0 = _float_case(p, static, channels_last, rng)
    before = v0.clone()
    ref, st = if_scan_torch(cur, IFState(v0), p, k, static)
    count = torch.full_like(ref[0], 2.0)
    got = gpu.if_scan_f32(cur, v0, p.threshold, p.leak, p.multi_spike,
                          p.reset is ResetMode.ZERO, p.membrane_readout, k, static, count)
    assert got is not None
    assert torch.equal(got[0], ref) and torch.equal(got[1], st.v)
    assert got[0].stride() == ref.stride() and torch.equal(v0, before)
    want = torch.full_like(ref[0], 2.0) + (0 if p.membrane_readout else ref.sum(0))
    assert torch.equal(count, want)
    if not p.membrane_readout:
        assert (ref > 0).any() and (ref == 0).any()



@pytest.mark.parametrize("fused_pool", [False, True])
def test_burst_spikes_divide_as_torch_does_on_cuda(interp, fused_pool, monkeypatch):
    """On CUDA torch computes v/θ as v·(1/θ) (a float32 reciprocal); the kernels do the
    same there. Checked here by taking that branch on CPU against the same arithmetic
    in torch: membranes near multiples of θ = 1.3, where the two divisions differ."""
    thr, k, top = 1.3, 3, 255
    v0 = (torch.arange(1.0, 201.0) * torch.tensor(thr)).view(1, 2, 1, 100)
    cur = torch.zeros_like(v0)  # the first step meets the multiples; later ones the rest
    inv = torch.tensor(1.0) / torch.tensor(thr)
    v, want, exact = v0.clone(), [], []
    for _ in range(k):
        v = v + cur
        s = torch.clamp(torch.floor(v * inv), 0, top)
        exact.append(torch.clamp(torch.floor(v / thr), 0, top))
        want.append(s)
        v = v - s * thr
    want = torch.stack(want)
    assert not torch.equal(want, torch.stack(exact))  # the case tells the two apart
    monkeypatch.setattr(gpu, "by_reciprocal", lambda t: True)
    if fused_pool:  # a 1×1 pool passes the population's spikes through
        got = gpu.if_pool_f32(_pool((1, 1)), cur, v0, thr, 0.0, top, False, k, True,
                              torch.zeros_like(v0), None)
    else:
        got = gpu.if_scan_f32(cur, v0, thr, 0.0, top, False, False, k, True)
    assert torch.equal(got[0], want) and torch.equal(got[1], v)

def test_float_if_scan_declines_what_it_does_not_cover(interp):
    v = torch.zeros(4)
    assert gpu.if_scan_f32(torch.zeros(3, 4, dtype=torch.float64), v, 1.0, 0.0, 1, False,
                           False, 3, False) is None  # another dtype
    assert gpu.if_scan_f32(torch.zeros(2, 4), v, 1.0, 0.0, 1, False, False, 3,
                           False) is None  # fewer steps than asked


@pytest.mark.parametrize("reset_zero", [False, True])
@pytest.mark.parametrize("multi", [1, 3])
@pytest.mark.parametrize("membrane", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("static", [False, True])
def test_integer_if_scan_equals_steps(interp, reset_zero, multi, membrane, per_channel, static,
                                      rng):
    k, p, cur, v0, spikes, v = integer_case(rng, reset_zero, multi, membrane, per_channel,
                                            static)
    shape, th = v0.shape, p.threshold
    base = torch.as_tensor(rng.integers(0, 5, shape), dtype=torch.int64)
    count = base.clone()
    got = gpu.if_scan_i64(cur, v0, th, 40, multi, reset_zero, membrane, k, static, count)
    assert got is not None
    assert torch.equal(got[0], spikes) and torch.equal(got[1], v)
    assert torch.equal(count, base if membrane else base + spikes.sum(0))
    if multi > 1 and not membrane:
        assert (spikes > 1).any()  # bursts happen: the division is exercised


def test_integer_burst_with_negative_thresholds_equals_steps(interp, rng):
    """⌊v/θ⌋ where v ≥ θ, clipped at 0, for thresholds of both signs (the kernel divides
    as Triton does, truncating or flooring: the same after the clip)."""
    th = torch.tensor([-3, 4, -5, 7], dtype=torch.int64).view(4, 1)
    p = isim.IntIFParams(th, 60, False, 4, False)
    cur = torch.as_tensor(rng.integers(-15, 30, (5, 4, 6)), dtype=torch.int64)
    v0 = torch.zeros(4, 6, dtype=torch.int64)
    outs, v = [], v0
    for i in range(5):
        s, _, v = isim.int_if_step(cur[i], v, p)
        outs.append(s)
    got = gpu.if_scan_i64(cur, v0, th, 60, 4, False, False, 5, False)
    assert torch.equal(got[0], torch.stack(outs)) and torch.equal(got[1], v)
    assert (torch.stack(outs) > 1).any()


def _pool(kernel):
    d = len(kernel)
    return n.SpikingMaxPool("p", ("x",), kernel=kernel, stride=kernel, padding=(0,) * d,
                            dilation=(1,) * d, ceil_mode=False)


@pytest.mark.parametrize("kernel,spatial,c", [((2, 2), (8, 6), 4), ((2, 2), (7, 5), 4),
                                              ((3, 2), (6, 6), 4), ((3, 3), (7, 10), 19),
                                              ((2,), (9,), 4), ((3,), (12,), 4)])
@pytest.mark.parametrize("layout", ["planar", "channels_last", "strided"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_maxpool_gate_equals_index_gate(interp, kernel, spatial, c, layout, dtype, rng):
    """Every layout, odd sizes (inputs no window covers are still counted, as the torch
    code counts them), with many ties (counts < 4)."""
    node = _pool(kernel)
    k, b = 7, 3
    s = torch.as_tensor(rng.integers(0, 2, (k * b, c, *spatial)), dtype=dtype)
    if layout == "channels_last" and len(kernel) == 2:
        s = s.contiguous(memory_format=torch.channels_last)
    s = s.view(k, b, c, *spatial)
    if layout == "strided":
        s = s.transpose(0, -1).contiguous().transpose(0, -1)
    cnt0 = torch.as_tensor(rng.integers(0, 4, (b, c, *spatial)), dtype=dtype)
    ref, ref_cnt = _gate_reference(node, s, cnt0)
    got = gpu.maxpool_gate(node, s, cnt0.clone())
    assert got is not None
    assert torch.equal(got[0], ref) and torch.equal(got[1], ref_cnt)
    assert (ref == 1).any() and (ref == 0).any()


def test_maxpool_gate_declines_overlap_padding_and_partial_windows(interp):
    s = torch.zeros(2, 1, 1, 5, 5)
    for kw in (dict(kernel=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=False),
               dict(kernel=(2, 2), stride=(2, 2), padding=(1, 1), ceil_mode=False),
               dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=True)):
        node = n.SpikingMaxPool("p", ("x",), dilation=(1, 1), **kw)
        assert gpu.maxpool_gate(node, s, None) is None


def test_spiking_maxpool_over_windows_runs_the_triton_gate(interp, monkeypatch, rng):
    """The simulator's entry points (float and integer) choose the Triton gate and carry
    its counts over windows as the torch code does."""
    node = _pool((2, 2))
    s = torch.as_tensor(rng.integers(0, 2, (12 * 2, 3, 6, 6)), dtype=torch.float32)
    s = s.contiguous(memory_format=torch.channels_last).view(12, 2, 3, 6, 6)
    ref, _ = _gate_reference(node, s, torch.zeros_like(s[0]))
    calls = []
    real = gpu.maxpool_gate
    monkeypatch.setattr(gpu, "maxpool_gate", lambda *a: calls.append(1) or real(*a))
    for fn, x in ((pooling.spiking_maxpool, s), (integer_ops.spiking_maxpool, s.long())):
        state: dict = {}
        got = torch.cat([fn(node, x[i:i + 5], state) for i in range(0, 12, 5)])
        assert torch.equal(got.to(ref.dtype), ref)
    assert len(calls) == 6


@pytest.mark.parametrize("kernel,spatial", [((2, 2), (8, 6)), ((3, 2), (6, 6)),
                                            ((2, 2), (4, 10))])
@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO, v0=0.5),
                                dict(multi_spike=3, threshold=0.4), dict(leak=0.1)])
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_if_pool_equals_the_scan_then_the_gate(interp, kernel, spatial, kw, static, shared,
                                               channels_last, rng):
    """The population + max pool kernel (any layout): the pool's spikes and counts, the
    membrane, the population's counts and the reader's SOPs equal the torch scan, gate
    and SOP count, over two windows; ``shared``: the pool gates with the population's
    counts."""
    check_if_pool(gpu.if_pool_f32, kernel, spatial, kw, static, shared, channels_last, rng)


@pytest.mark.parametrize("kw", [dict(), dict(reset=ResetMode.ZERO, v0=0.5),
                                dict(multi_spike=3, threshold=0.4)])
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_if_avgpool_equals_the_scan_then_the_pool(interp, kw, static, channels_last, rng):
    """The population + 2×2 average pool kernel: output, membrane, counts and the pool's
    SOPs equal the scan, then the 2×2 pooling and SOP count, over two windows."""
    check_if_avgpool(gpu.if_avgpool_f32, (8, 6), kw, static, channels_last, rng)


def test_if_pool_declines_an_uncovered_edge_and_overlapping_pools(interp):
    p = IFParams()
    for node, shape in ((_pool((2, 2)), (2, 3, 5, 4)),
                        (n.SpikingMaxPool("p", ("x",), kernel=(3, 3), stride=(2, 2),
                                          padding=(0, 0), dilation=(1, 1), ceil_mode=False),
                         (2, 3, 5, 5))):
        cur = torch.zeros(shape)
        assert gpu.if_pool_f32(node, cur, if_init(shape, p).v, 1.0, 0.0, 1, False, 3, True,
                               torch.zeros(shape), None) is None


@pytest.mark.parametrize("shape", [(6 * 4, 3, 5, 5), (6 * 4, 1500)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
@pytest.mark.parametrize("counted", [False, True])
def test_sop_counts_equal_exact_sums(interp, shape, channels_last, dtype, counted, rng):
    """Over several blocks of a row (1500 > the block), in float64: exact."""
    x = torch.as_tensor(rng.integers(-1, 3, shape) * (rng.random(shape) < 0.4), dtype=dtype)
    if channels_last and len(shape) == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    fan = torch.as_tensor(rng.integers(1, 50, int(np.prod(shape[1:]))), dtype=torch.float32)
    ev = (x.double() if counted else (x != 0).double()).reshape(len(x), -1)
    want = (ev @ fan.double()).view(6, 4).sum(1).float()
    got = gpu.sop_counts(x, fan, 6, counted)
    assert got is not None and torch.equal(got, want) and want.sum() > 0
    if not counted:
        assert torch.equal(got, sops.sop_counts_torch(x, fan, 6, 4, False))


def test_network_simulation_is_identical_to_torch(interp, digits_snn, digits, monkeypatch):
    """A trained CNN (convolutions, max pooling, dense), every op through the dispatch:
    the Triton kernels give the torch code's predictions, readout, counts and SOPs."""
    _, test = digits
    x = torch.as_tensor(test.x[:6])
    calls: dict[str, int] = {}
    for name in ("if_scan_f32", "if_pool_f32", "maxpool_gate", "sop_counts"):
        real = getattr(gpu, name)
        monkeypatch.setattr(gpu, name, lambda *a, _r=real, _n=name: (
            calls.__setitem__(_n, calls.get(_n, 0) + 1), _r(*a))[1])
    a = digits_snn.run_batch(x, 12)
    assert set(calls) == {"if_scan_f32", "if_pool_f32", "sop_counts"}, calls  # pool: fused
    monkeypatch.setenv(kernels.ENV, "torch")
    b = digits_snn.run_batch(x, 12)
    assert torch.equal(a.predictions, b.predictions) and torch.equal(a.readout, b.readout)
    assert a.counts.keys() == b.counts.keys() and a.sops.keys() == b.sops.keys()
    assert all(torch.equal(a.counts[k], b.counts[k]) for k in a.counts)
    assert all(torch.equal(a.sops[k], b.sops[k]) for k in a.sops)
    assert sum(float(v.sum()) for v in a.counts.values()) > 0



def test_integer_network_simulation_is_identical_to_torch(interp, monkeypatch):
    """A quantized conv + max-pool + dense network through the integer simulator's
    dispatch: the Triton integer scan, gate and SOP counts give the torch code's spikes,
    counts and SOPs."""
    from test_integer_sim import small_net

    from ann2snn.quantize import QuantSpec, quantize

    q = quantize(small_net(4), QuantSpec())
    x = np.random.default_rng(3).random((6, 2, 6, 6)).astype(np.float32)
    calls: dict[str, int] = {}
    for name in ("if_scan_i64", "maxpool_gate", "sop_counts"):
        real = getattr(gpu, name)
        monkeypatch.setattr(gpu, name, lambda *a, _r=real, _n=name: (
            calls.__setitem__(_n, calls.get(_n, 0) + 1), _r(*a))[1])
    a = q.run_batch(x, 16, window=5)
    assert set(calls) == {"if_scan_i64", "maxpool_gate", "sop_counts"}, calls
    monkeypatch.setenv(kernels.ENV, "torch")
    b = q.run_batch(x, 16, window=5)
    assert torch.equal(a.predictions, b.predictions) and torch.equal(a.readout, b.readout)
    assert all(torch.equal(a.counts[k], b.counts[k]) for k in a.counts)
    assert all(torch.equal(a.sops[k], b.sops[k]) for k in a.sops)
    assert sum(int(v.sum()) for v in a.counts.values()) > 0

def test_triton_mode_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setenv(kernels.ENV, "triton")
    with pytest.raises(SimulationError, match="TRITON_INTERPRET=1"):
        kernels.gpu_kernels(torch.device("cpu"))
    assert kernels.library() is None  # nor the C kernels: triton was asked for
    monkeypatch.setenv(kernels.ENV, "auto")
    assert kernels.gpu_kernels(torch.device("cpu")) is None  # auto: the C kernels' device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kw", PARAMS)
def test_cuda_kernels_equal_torch(kw, rng):
    """The compiled kernels on the GPU: the float scan against torch's CUDA code."""
    p = IFParams(**kw)
    for static in (True, False):
        for cl in (False, True):
            k, cur, v0 = _float_case(p, static, cl, rng, "cuda")
            ref, st = if_scan_torch(cur, IFState(v0), p, k, static)
            got = gpu.if_scan_f32(cur, v0, p.threshold, p.leak, p.multi_spike,
                                  p.reset is ResetMode.ZERO, p.membrane_readout, k, static)
            assert torch.equal(got[0], ref) and torch.equal(got[1], st.v)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_network_simulation_is_identical_to_torch(digits_snn, digits, monkeypatch):
    """On the GPU, the compiled Triton kernels against torch's CUDA code: the same
    convolutions (cuDNN) around them, so identical predictions, counts and SOPs."""
    import copy

    net = copy.deepcopy(digits_snn).to("cuda")
    x = torch.as_tensor(digits[1].x[:64])
    monkeypatch.setenv(kernels.ENV, "native")  # an error, not a fallback, if Triton is off
    a = net.run_batch(x, 24)
    monkeypatch.setenv(kernels.ENV, "torch")
    b = net.run_batch(x, 24)
    assert torch.equal(a.predictions, b.predictions) and torch.equal(a.readout, b.readout)
    assert all(torch.equal(a.counts[k], b.counts[k]) for k in a.counts)
    assert all(torch.equal(a.sops[k], b.sops[k]) for k in a.sops)
