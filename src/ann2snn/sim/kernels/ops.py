"""Tensor wrappers around the compiled kernels (fused.c). Each returns None where the
kernel does not apply (another device, dtype or layout), and the caller runs its
pure-torch code; the simulator's results are the same either way."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

_CL = {4: (0, 2, 3, 1), 5: (0, 1, 3, 4, 2)}  # channels to the end: storage order
SMALL_SOPS = float(1 << 24)  #: float32 holds every integer below this exactly


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def storage(t: torch.Tensor, cl: bool) -> torch.Tensor:
    """``t`` as a contiguous tensor in its storage order (a view where possible)."""
    if cl:
        t = t.permute(_CL[t.dim()])
    return t if t.is_contiguous() else t.contiguous()


def channels_last(t: torch.Tensor) -> bool:
    """A 4-d tensor stored channels-last (and not also plain contiguous)."""
    return (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
            and not t.is_contiguous())


def empty_steps(k: int, like: torch.Tensor, cl: bool, dtype=None) -> torch.Tensor:
    """(k, *like.shape) on ``like``'s device, each step in ``like``'s layout (channels-last
    if ``cl``)."""
    dtype = dtype or like.dtype
    if cl:
        return torch.empty((k * like.shape[0], *like.shape[1:]), dtype=dtype,
                           device=like.device,
                           memory_format=torch.channels_last).view(k, *like.shape)
    return torch.empty((k, *like.shape), dtype=dtype, device=like.device)


def _cpu(*ts: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" for t in ts)


def _membrane(v0: torch.Tensor, cl: bool, inplace: bool) -> torch.Tensor:
    """The membrane the kernel updates: ``v0`` in the kernel's layout, a copy unless
    ``inplace`` and already so laid out."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    v = v0.contiguous(memory_format=fmt)
    return v.clone(memory_format=fmt) if v.data_ptr() == v0.data_ptr() and not inplace else v


def counts_in_place(count: torch.Tensor | None, like: torch.Tensor, cl: bool
                    ) -> torch.Tensor | None:
    """``count`` where a kernel can add to it in place: stored as the kernel writes
    (``like``'s dtype, shape, device and storage order); None: no counts, or
    :func:`_add_counts` adds them after the kernel."""
    if count is None or count.dtype != like.dtype or count.shape != like.shape \
            or count.device != like.device:
        return None
    ok = count.is_contiguous(memory_format=torch.channels_last) if cl else \
        count.is_contiguous()
    return count if ok else None


def _count_ptr(count: torch.Tensor | None, like: torch.Tensor, cl: bool) -> int | None:
    """The C kernels' pointer to :func:`counts_in_place`'s counts, or None."""
    t = counts_in_place(count, like, cl)
    return None if t is None else _ptr(t)


def _add_counts(count: torch.Tensor | None, in_kernel, out: torch.Tensor) -> None:
    """Add the window's spikes ``out`` to ``count`` unless the kernel did (``in_kernel``:
    its pointer or tensor for the counts, None where it had none)."""
    if count is not None and in_kernel is None:
        count += out.sum(0)


def _mode(multi_spike: int, reset_zero: bool) -> int:
    """The IF kernels' spiking mode (fused.c): binary or burst, reset by subtraction or
    to zero."""
    return (2 if multi_spike > 1 else 0) + (1 if reset_zero else 0)


def _fused_current(current: torch.Tensor, v0: torch.Tensor, count: torch.Tensor,
                   steps: int, static: bool) -> tuple[torch.Tensor, int] | None:
    """For the population + pool kernels: (one step of the current, the counts' pointer)
    where the current is a channels-last float32 CPU tensor (B, C, H, W) per step, the
    membrane matches and the counts are stored as the kernel writes; else None."""
    ref = current if static else current[0] if current.dim() == 5 else None
    if ref is None or ref.dim() != 4 or not _cpu(current, v0, count) \
            or current.dtype != torch.float32 or v0.dtype != torch.float32 \
            or not channels_last(ref) or tuple(v0.shape) != tuple(ref.shape) \
            or (not static and len(current) != steps):
        return None
    ptr = _count_ptr(count, ref, True)
    return None if ptr is None else (ref, ptr)


def if_scan_f32(lib, current: torch.Tensor, v0: torch.Tensor, threshold: float, leak: float,
                multi_spike: int, reset_zero: bool, membrane: bool, steps: int,
                static: bool, count: torch.Tensor | None = None, inplace: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``steps`` float IF steps in one pass: (spikes (steps, ...), new membrane). ``count``
    (the population's shape): the spike counts, the window's spikes added in place (in
    the same pass where its layout is the current's). ``inplace``: the new membrane may
    be ``v0`` itself (the caller drops the old state), else ``v0`` is left as it was."""
    g = float_scan(current, v0, multi_spike, reset_zero, membrane, steps, static, count,
                   inplace) if _cpu(current, v0) else None
    if g is None:
        return None
    lib.if_scan_f32(_ptr(g.cur), int(static), _ptr(g.vs), _ptr(g.os), None if g.cnt is None
                    else _ptr(g.cnt), g.v.numel(), steps, float(threshold), int(bool(leak)),
                    float(1.0 - leak), float(multi_spike), g.mode, torch.get_num_threads())
    if not membrane:
        _add_counts(count, g.cnt, g.out)
    return g.out, g.v


class FloatScan(NamedTuple):
    """A float IF scan's tensors as the kernels (C and Triton) take them: the membrane
    and output, and the current, membrane, output and counts (None: added after) as flat
    storage; the spiking mode (0-3, 4 a membrane readout)."""
    v: torch.Tensor
    out: torch.Tensor
    cur: torch.Tensor
    vs: torch.Tensor
    os: torch.Tensor
    cnt: torch.Tensor | None
    mode: int


def float_scan(current: torch.Tensor, v0: torch.Tensor, multi_spike: int, reset_zero: bool,
               membrane: bool, steps: int, static: bool, count: torch.Tensor | None,
               inplace: bool) -> FloatScan | None:
    """What a fused float scan needs, on the tensors' device, in the current's layout;
    None where the kernels do not apply (another dtype, a current of another shape)."""
    shape = tuple(v0.shape)
    if current.dtype != torch.float32 or v0.dtype != torch.float32 \
            or tuple(current.shape) != (shape if static else (steps, *shape)):
        return None
    cl = channels_last(current if static else current[0])
    v = _membrane(v0, cl, inplace)
    out = empty_steps(steps, v, cl)
    cnt = None if membrane else counts_in_place(count, v, cl)
    return FloatScan(v, out, storage(current, cl), storage(v, cl), storage(out, cl),
                     None if cnt is None else storage(cnt, cl),
                     4 if membrane else _mode(multi_spike, reset_zero))


def if_scan_i64(lib, current: torch.Tensor, v0: torch.Tensor, threshold: torch.Tensor,
                limit: int, multi_spike: int, reset_zero: bool, membrane: bool, steps: int,
                static: bool, count: torch.Tensor | None = None, inplace: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``steps`` integer IF steps in one pass: (spikes (steps, ...) int64, new membrane);
    ``count`` and ``inplace`` as for :func:`if_scan_f32`."""
    g = int_scan(current, v0, threshold, membrane, steps, static, count, inplace) \
        if _cpu(current, v0, threshold) else None
    if g is None:
        return None
    lib.if_scan_i64(_ptr(g.cur), int(static), _ptr(g.v), _ptr(g.out), None if g.cnt is None
                    else _ptr(g.cnt), g.v.numel(), steps, _ptr(g.th), g.th.numel(), int(limit),
                    int(multi_spike), int(reset_zero), int(membrane), torch.get_num_threads())
    if not membrane:
        _add_counts(count, g.cnt, g.out)
    return g.out, g.v


class IntScan(NamedTuple):
    """An integer IF scan's tensors as the kernels take them (all contiguous): the
    membrane, output, current, thresholds (one, or broadcast to one per neuron) and
    counts (None: added after)."""
    v: torch.Tensor
    out: torch.Tensor
    cur: torch.Tensor
    th: torch.Tensor
    cnt: torch.Tensor | None


def int_scan(current: torch.Tensor, v0: torch.Tensor, threshold: torch.Tensor,
             membrane: bool, steps: int, static: bool, count: torch.Tensor | None,
             inplace: bool) -> IntScan | None:
    """What a fused integer scan needs, on the tensors' device; None where the kernels
    do not apply (another dtype or shape, thresholds that do not broadcast)."""
    shape = tuple(v0.shape)
    if current.dtype != torch.int64 or v0.dtype != torch.int64 \
            or tuple(current.shape) != (shape if static else (steps, *shape)):
        return None
    th = threshold
    if th.numel() > 1:
        try:
            th = torch.broadcast_to(th, shape)
        except RuntimeError:
            return None
    th = th.contiguous().to(torch.int64)
    v = _membrane(v0, False, inplace)
    out = torch.empty((steps, *shape), dtype=torch.int64, device=v.device)
    return IntScan(v, out, current.contiguous(), th,
                   None if membrane else counts_in_place(count, v, False))


def is_2x2(node) -> bool:
    """2×2 pooling with stride 2, no padding, floor mode (the common case)."""
    return (tuple(node.kernel) == (2, 2) and tuple(node.stride) == (2, 2)
            and not any(node.padding) and not node.ceil_mode
            and all(d == 1 for d in getattr(node, "dilation", (1, 1))))


def tiles(node) -> bool:
    """Non-overlapping pooling windows that tile the input: kernel == stride, no padding,
    no dilation (ceil mode then only matters for a partial window, which is refused
    by :func:`maxpool_gate`)."""
    return (tuple(node.kernel) == tuple(node.stride) and not any(node.padding)
            and all(d == 1 for d in getattr(node, "dilation", ())))


class GatePlan(NamedTuple):
    """A spiking max-pool gate's tensors, as the kernels (C and Triton) take them: the
    output, the counts, and the spikes, counts and output as 2-d (a 1-d pool with a
    height of 1), with the window (kh, kw)."""
    out: torch.Tensor
    cnt: torch.Tensor
    s5: torch.Tensor
    c4: torch.Tensor
    o5: torch.Tensor
    kh: int
    kw: int


def gate_plan(node, s: torch.Tensor, counts: torch.Tensor | None) -> GatePlan | None:
    """What a fused gate needs for spikes ``s`` (k, B, C, *spatial) float32 or int64 and
    ``counts`` (created when None), on ``s``'s device; None where the kernels do not
    apply: windows that do not tile the input, a partial window at the edge (ceil
    mode), counts of another shape, dtype or device."""
    nd = len(node.kernel)
    if s.dtype not in (torch.float32, torch.int64) or nd not in (1, 2) \
            or s.dim() != 3 + nd or not tiles(node):
        return None
    spatial = s.shape[3:]
    if any(size % kern for size, kern in zip(spatial, node.kernel)) and node.ceil_mode:
        return None  # a partial window at the edge
    cnt = torch.zeros_like(s[0]) if counts is None else counts
    if cnt.shape != s.shape[1:] or cnt.dtype != s.dtype or cnt.device != s.device:
        return None
    k, b, c = s.shape[:3]
    outsp = [size // kern for size, kern in zip(spatial, node.kernel)]
    cl = channels_last(s[0]) if nd == 2 else False
    out = empty_steps(k, s.new_empty((b, c, *outsp)), cl)
    kh, kw = (1, node.kernel[0]) if nd == 1 else node.kernel
    s5, c4, o5 = (s, cnt, out) if nd == 2 else (s.unsqueeze(3), cnt.unsqueeze(2),
                                                out.unsqueeze(3))
    return GatePlan(out, cnt, s5, c4, o5, kh, kw)


def maxpool_gate(lib, node, s: torch.Tensor, counts: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Spiking max pooling of spikes ``s`` (k, B, C, *spatial) in one pass:
    (gated spikes, counts after the window). ``counts`` (B, C, *spatial) is updated in
    place (or created when None)."""
    g = gate_plan(node, s, counts) if _cpu(s) else None
    if g is None:
        return None
    longs = [torch.tensor(list(x), dtype=torch.int64) for x in
             (g.s5.stride(), g.c4.stride(), g.o5.stride(), g.o5.shape)]
    fn = lib.maxpool_gate_f32 if s.dtype == torch.float32 else lib.maxpool_gate_i64
    fn(_ptr(g.s5), _ptr(longs[0]), _ptr(g.c4), _ptr(longs[1]), _ptr(g.o5), _ptr(longs[2]),
       _ptr(longs[3]), int(g.kh), int(g.kw), torch.get_num_threads())
    return g.out, g.cnt


def if_pool_f32(lib, node, current: torch.Tensor, v0: torch.Tensor, threshold: float,
                leak: float, multi_spike: int, reset_zero: bool, steps: int, static: bool,
                count: torch.Tensor, gate_counts: torch.Tensor | None, inplace: bool = False,
                reader_fan: torch.Tensor | None = None, shared: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                           torch.Tensor | None] | None:
    """A float IF population and the spiking max pool ``node`` that alone reads it, in one
    pass (channels-last 2-d only): (the pool's output spikes (steps, B, C, OH, OW), the new
    membrane, the pool's counts, the SOPs per step (steps,) of the pool's reader as
    :func:`sop_counts` gives them from the output, or None without ``reader_fan``: its
    fan-out per pool output in logical (C, OH, OW) order; the kernel sums s·fan, which is
    [s ≠ 0]·fan for 0/1 spikes and counts each spike of a burst).
    ``count`` (the population's spike counts) is updated in place; ``gate_counts`` (the
    pool's; None: zeros) is updated in place; ``shared``: the pool's counts are ``count``
    itself (both counted from zero), ``gate_counts`` is ignored and None returned for it;
    ``inplace`` as for :func:`if_scan_f32`. Same spikes as :func:`if_scan_f32` followed by
    :func:`maxpool_gate`."""
    got = _fused_current(current, v0, count, steps, static) \
        if len(node.kernel) == 2 and tiles(node) else None
    if got is None:
        return None
    ref, cnt_ptr = got
    b, c, h, w = ref.shape
    kh, kw = node.kernel
    if (h % kh or w % kw) and node.ceil_mode:
        return None  # a partial window at the edge
    g = None if shared else torch.zeros_like(ref) if gate_counts is None else gate_counts
    if g is not None and _count_ptr(g, ref, True) is None:
        return None
    oh, ow = h // kh, w // kw
    if reader_fan is not None and (reader_fan.dtype != torch.float32
                                   or reader_fan.numel() != c * oh * ow):
        return None
    f, res = _reader_fan(reader_fan, c, oh, ow, steps)
    v = _membrane(v0, True, inplace)
    out = empty_steps(steps, torch.empty((b, c, oh, ow)), True)
    mode = _mode(multi_spike, reset_zero)
    cur, os_ = storage(current, True), storage(out, True)  # held: a copy must outlive the call
    lib.if_pool_f32(_ptr(cur), int(static), _ptr(v), cnt_ptr, None if g is None else _ptr(g),
                    _ptr(os_), None if f is None else _ptr(f),
                    None if res is None else _ptr(res), _small(reader_fan, multi_spike),
                    b, h, w, c, kh, kw,
                    steps, float(threshold), int(bool(leak)), float(1.0 - leak),
                    float(multi_spike), mode, torch.get_num_threads())
    return out, v, g, None if res is None else res.to(torch.float32)


def _reader_fan(fan: torch.Tensor | None, c: int, h: int, w: int, steps: int
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A fan-out in logical (C, H, W) order as the kernels read it, channels-last (H, W,
    C), and the (steps,) float64 SOP sums to add to; (None, None) without ``fan``."""
    if fan is None:
        return None, None
    return (fan.view(c, h, w).permute(1, 2, 0).contiguous(),
            torch.zeros(steps, dtype=torch.float64))


def _small(fan: torch.Tensor | None, multi_spike: int) -> int:
    """1 where every SOP sum over the spikes into ``fan`` is below 2^24 (at most
    ``multi_spike`` spikes an element): the kernels then sum in float32, exactly."""
    return int(fan is not None and float(fan.double().sum()) * max(multi_spike, 1)
               < SMALL_SOPS)


def if_avgpool_f32(lib, node, current: torch.Tensor, v0: torch.Tensor, threshold: float,
                   leak: float, multi_spike: int, reset_zero: bool, steps: int, static: bool,
                   count: torch.Tensor, fan: torch.Tensor | None, inplace: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """A float IF population and the 2×2 average pool ``node`` (stride 2, no padding,
    floor mode) that alone reads it, in one pass (channels-last only): (the pool's output
    (steps, B, C, OH, OW), the new membrane, the pool's synaptic operations per step
    (steps,) float32 as :func:`sop_counts` gives them, or None without ``fan``). ``fan``:
    the pool's fan-out per input element in logical (C, H, W) order (s·fan summed, as in
    :func:`if_pool_f32`). ``count`` and ``inplace`` as for :func:`if_scan_f32`. The same output
    as :func:`if_scan_f32` followed by the simulator's 2×2 average pooling."""
    got = _fused_current(current, v0, count, steps, static) if is_2x2(node) else None
    if got is None:
        return None
    ref, cnt_ptr = got
    b, c, h, w = ref.shape
    if fan is not None and (fan.dtype != torch.float32 or fan.numel() != c * h * w):
        return None
    v = _membrane(v0, True, inplace)
    out = empty_steps(steps, torch.empty((b, c, h // 2, w // 2)), True)
    f, res = _reader_fan(fan, c, h, w, steps)
    mode = _mode(multi_spike, reset_zero)
    cur, os_ = storage(current, True), storage(out, True)  # held: a copy must outlive the call
    lib.if_avgpool_f32(_ptr(cur), int(static), _ptr(v), cnt_ptr, _ptr(os_),
                       None if f is None else _ptr(f), None if res is None else _ptr(res),
                       _small(fan, multi_spike), b, h, w, c, steps,
                       float(threshold), int(bool(leak)),
                       float(1.0 - leak), float(multi_spike), mode, torch.get_num_threads())
    return out, v, None if res is None else res.to(torch.float32)


def sop_counts(lib, x: torch.Tensor, fan: torch.Tensor, k: int, counted: bool = False
               ) -> torch.Tensor | None:
    """Σ over each step's rows of x (k·b, ...) and their elements of [x ≠ 0]·fan (fan in
    logical (C, H, W) order), summed in float64: (k,) float32. ``counted``: x·fan (x
    holds spike counts: burst spikes)."""
    if not _cpu(x, fan) or x.dtype not in (torch.float32, torch.float64, torch.int64) \
            or fan.dtype != torch.float32 or len(x) % k or fan.numel() != math.prod(x.shape[1:]):
        return None
    xs, f = sop_operands(x, fan)
    res = torch.empty(len(x), dtype=torch.float64)
    fn = ({torch.float32: lib.sop_counted_f32, torch.float64: lib.sop_counted_f64,
           torch.int64: lib.sop_counted_i64} if counted else
          {torch.float32: lib.sop_rows_f32, torch.float64: lib.sop_rows_f64,
           torch.int64: lib.sop_rows_i64})[x.dtype]
    if not counted and x.dtype == torch.float32 and float(f.double().sum()) < SMALL_SOPS:
        fn = lib.sop_small_f32  # every row's sum is an integer below 2^24: exact in float
    fn(_ptr(xs), len(x), xs.shape[1], _ptr(f), _ptr(res), torch.get_num_threads())
    return res.view(k, -1).sum(1).to(torch.float32)


def sop_operands(x: torch.Tensor, fan: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, ...) as rows in its storage order (N, numel) and the fan-out (logical (C, H,
    W) order) permuted to match, flat: what the SOP kernels (C and Triton) sum over."""
    cl = channels_last(x)
    f = fan.view(x.shape[1:]).permute(1, 2, 0) if cl else fan
    return storage(x, cl).reshape(len(x), -1), f.contiguous().view(-1)
