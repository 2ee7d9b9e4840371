"""The fused neuron kernels for CUDA, in Triton: the float and integer IF scans (integrate,
compare, reset, count: one kernel per population and window, the steps looped inside
it, the membrane and counts held in registers), the spiking max-pool gate (one kernel
per pool and window), a population with the max or 2×2 average pool that alone reads
it (one kernel for both) and the synaptic-operation counts (one kernel per window).

Why Triton: it ships with every CUDA build of torch (no compiler or CUDA toolkit to
install, unlike a C++/CUDA extension), compiles for the GPU at hand on first use, and
has an interpreter that runs the same kernels on CPU tensors (``TRITON_INTERPRET=1``
before triton is imported), which is how CI checks them on machines without a GPU
(tests/sim/test_kernels_gpu.py).

Same results as the pure-torch code on the same device, bit for bit: the same float32
operations in the same order per element, contraction into fused multiply-adds turned
off (``enable_fp_fusion=False``), and burst spikes ⌊v/θ⌋ with v/θ computed as torch
computes it there: v·(1/θ) on CUDA (torch's division by a scalar multiplies by its
float32 reciprocal), correctly rounded division (``div_rn``) on CPU tensors in the
interpreter, as torch's CPU code divides. The wrappers return None where a kernel does
not apply (another device or dtype, a layout or pool they do not take) and the caller
runs its torch code.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .ops import (
    _add_counts,
    _mode,
    channels_last,
    empty_steps,
    float_scan,
    gate_plan,
    int_scan,
    is_2x2,
    sop_operands,
    tiles,
)

try:
    import triton
    import triton.language as tl
except ImportError:  # no CUDA build of torch (or a platform without Triton)
    triton = tl = None
    _FAILURE = "triton is not installed (it comes with torch's CUDA builds)"
else:
    _FAILURE = ""

BLOCK = 1024
#: compile options: no fused multiply-add, so that each operation rounds as torch's does
_EXACT = {"enable_fp_fusion": False}


def available() -> bool:
    return triton is not None


def failure() -> str:
    return _FAILURE


def interpreted() -> bool:
    """Triton's interpreter is on (``TRITON_INTERPRET=1``, read now, as Triton reads it):
    the kernels run on CPU tensors, slowly; for testing."""
    if triton is None:
        return False
    knobs = getattr(triton, "knobs", None)  # Triton >= 3.4; before, the variable alone
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "yes", "on")


def applies(*ts: torch.Tensor) -> bool:
    """Whether the kernels can run on these tensors: all on one CUDA device, or on CPU
    under the interpreter."""
    dev = ts[0].device
    return triton is not None and all(t.device == dev for t in ts) and (
        dev.type == "cuda" or (dev.type == "cpu" and interpreted()))


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(max(n, 1), BLOCK),)


def _opts() -> dict:
    """The compile options (the interpreter takes none)."""
    return {} if interpreted() else _EXACT


def _launch(kernel, n: int, *args, **constexprs) -> None:
    kernel[_grid(n)](*args, BLOCK=BLOCK, **constexprs, **_opts())


if triton is not None:  # compiled, or interpreted: as TRITON_INTERPRET is at import
    @triton.jit
    def _quotient(x, thr, inv, RECIP: tl.constexpr):
        # v/θ as torch divides by a scalar: by its reciprocal on CUDA, exactly on CPU
        if RECIP:
            q = x * inv
        else:
            q = tl.math.div_rn(x, thr)
        return q

    @triton.jit
    def _fire(x, h, inv, s_max, MODE: tl.constexpr, RECIP: tl.constexpr, INT: tl.constexpr):
        # (spikes, membranes after the reset) of membranes x at threshold h; MODE 0
        # binary/subtract, 1 binary/zero, 2 burst/subtract, 3 burst/zero
        if MODE >= 2:
            if INT:
                # where x >= h, ⌊x/h⌋ clipped at 0 is the truncated quotient clipped at
                # 0, whatever the signs (a quotient that rounds apart is negative)
                q = tl.where(x >= h, x // h, 0)
            else:
                q = tl.floor(_quotient(x, h, inv, RECIP))
            s = tl.minimum(tl.maximum(q, 0), s_max)
        else:
            s = (x >= h).to(x.dtype)
        if MODE % 2 == 1:
            x = tl.where(s > 0, tl.zeros_like(x), x)
        else:
            x = x - s * h
        return s, x

    @triton.jit
    def _if_scan(cur, v, out, cnt, th, n, steps, thr, inv, decay, s_max, limit,
                 STATIC: tl.constexpr, LEAK: tl.constexpr, MODE: tl.constexpr,
                 COUNT: tl.constexpr, RECIP: tl.constexpr, INT: tl.constexpr,
                 PER: tl.constexpr, BLOCK: tl.constexpr):
        # float (threshold thr, leak: x·decay first) or INT (thresholds th: one, or one
        # per element if PER; x clamped to ±limit after the add); MODE 0-3 as _fire's,
        # 4 a membrane readout (out = x)
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(v + offs, mask=m, other=0)
        if INT:
            if PER:
                h = tl.load(th + offs, mask=m, other=1)
            else:
                h = tl.load(th)
        else:
            h = thr
        c = tl.zeros_like(x)
        if STATIC:
            i0 = tl.load(cur + offs, mask=m, other=0)
        for t in range(steps):
            if LEAK:
                x = x * decay
            if STATIC:
                x = x + i0
            else:
                x = x + tl.load(cur + t * n + offs, mask=m, other=0)
            if INT:
                x = tl.minimum(tl.maximum(x, -limit), limit)
            if MODE == 4:
                s = x
            else:
                s, x = _fire(x, h, inv, s_max, MODE, RECIP, INT)
                c += s
            tl.store(out + t * n + offs, s, mask=m)
        tl.store(v + offs, x, mask=m)
        if COUNT:
            tl.store(cnt + offs, tl.load(cnt + offs, mask=m, other=0) + c, mask=m)

    @triton.jit
    def _maxpool_gate(s, cnt, out, steps, n, C, OH, OW, s_t, s_b, s_c, s_h, s_w,
                      c_b, c_c, c_h, c_w, o_t, o_b, o_c, o_h, o_w, KH: tl.constexpr,
                      KW: tl.constexpr, BLOCK: tl.constexpr):
        # one lane per output (b, c, oy, ox); the counts of its window's inputs are updated
        # in place, each step, and the spike of the first input with the largest count
        # (row-major window order, as max pooling with indices picks) passes
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        ox = offs % OW
        oy = (offs // OW) % OH
        ch = (offs // (OW * OH)) % C
        bi = offs // (OW * OH * C)
        so = bi * s_b + ch * s_c
        co = bi * c_b + ch * c_c
        oo = bi * o_b + ch * o_c + oy * o_h + ox * o_w
        for t in range(steps):
            for q in tl.static_range(KH * KW):
                iy = oy * KH + q // KW
                ix = ox * KW + q % KW
                x = tl.load(s + t * s_t + so + iy * s_h + ix * s_w, mask=m)
                cp = cnt + co + iy * c_h + ix * c_w
                k = tl.load(cp, mask=m) + x
                tl.store(cp, k, mask=m)
                if q == 0:
                    best = k
                    spike = x
                else:
                    take = k > best
                    best = tl.where(take, k, best)
                    spike = tl.where(take, x, spike)
            tl.store(out + t * o_t + oo, spike, mask=m)

    @triton.jit
    def _sop_rows(x, fan, res, rows, n, COUNTED: tl.constexpr, BLOCK: tl.constexpr):
        # res[row, block] = Σ over the block's elements of [x ≠ 0]·fan (x·fan: COUNTED)
        row = tl.program_id(1).to(tl.int64)
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        e = tl.load(x + row * n + offs, mask=m, other=0).to(tl.float64)
        f = tl.load(fan + offs, mask=m, other=0.0).to(tl.float64)
        if COUNTED:
            w = e * f
        else:
            w = tl.where(e != 0, f, 0.0)
        tl.store(res + row * tl.num_programs(0) + tl.program_id(0), tl.sum(w, axis=0))

    @triton.jit
    def _if_pool(cur, v, cnt, g, out, fan, res, n, steps, C, H, W, OH, OW, thr, inv, decay,
                 s_max,
                 u_t, u_b, u_c, u_h, u_w, v_b, v_c, v_h, v_w, n_b, n_c, n_h, n_w,
                 g_b, g_c, g_h, g_w, o_t, o_b, o_c, o_h, o_w, STATIC: tl.constexpr,
                 LEAK: tl.constexpr, MODE: tl.constexpr, SHARED: tl.constexpr,
                 GATE: tl.constexpr, AVG: tl.constexpr, SOPS: tl.constexpr,
                 RECIP: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, KK: tl.constexpr,
                 BLOCK: tl.constexpr):
        # one row per pool output (b, c, oy, ox), one column per input of its window: the
        # window's membranes and counts stay in registers over the steps; max pool: the
        # spike of the first input with the largest count passes (SHARED: the gate's
        # counts are the population's); AVG (2×2): (((s00 + s01) + s10) + s11)·0.25;
        # SOPS: Σ s·fan per step and program (the reader's fan per output, or AVG: the
        # pool's per input), in float64
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        ox = offs % OW
        oy = (offs // OW) % OH
        ch = (offs // (OW * OH)) % C
        bi = offs // (OW * OH * C)
        kk = tl.arange(0, KK)
        iy = oy[:, None] * KH + (kk // KW)[None, :]
        ix = ox[:, None] * KW + (kk % KW)[None, :]
        m2 = m[:, None] & (kk < KH * KW)[None, :]
        b2 = bi[:, None]
        c2 = ch[:, None]
        vo = b2 * v_b + c2 * v_c + iy * v_h + ix * v_w
        no = b2 * n_b + c2 * n_c + iy * n_h + ix * n_w
        uo = b2 * u_b + c2 * u_c + iy * u_h + ix * u_w
        x = tl.load(v + vo, mask=m2, other=0.0)
        k = tl.load(cnt + no, mask=m2, other=0.0)
        if GATE:  # the max pool's own counts (not SHARED)
            go = b2 * g_b + c2 * g_c + iy * g_h + ix * g_w
            gk = tl.load(g + go, mask=m2, other=0.0)
        if STATIC:
            i0 = tl.load(cur + uo, mask=m2, other=0.0)
        if SOPS:
            if AVG:
                f = tl.load(fan + (c2 * H + iy) * W + ix, mask=m2, other=0.0).to(tl.float64)
            else:
                f = tl.load(fan + (ch * OH + oy) * OW + ox, mask=m, other=0.0).to(tl.float64)
        oo = bi * o_b + ch * o_c + oy * o_h + ox * o_w
        for t in range(steps):
            if LEAK:
                x = x * decay
            if STATIC:
                x = x + i0
            else:
                x = x + tl.load(cur + t * u_t + uo, mask=m2, other=0.0)
            s, x = _fire(x, thr, inv, s_max, MODE, RECIP, False)
            s = tl.where(m2, s, 0.0)  # (x of a padding column is never stored)
            k = k + s
            if AVG:
                q0 = tl.sum(tl.where(kk[None, :] == 0, s, 0.0), axis=1)
                q1 = tl.sum(tl.where(kk[None, :] == 1, s, 0.0), axis=1)
                q2 = tl.sum(tl.where(kk[None, :] == 2, s, 0.0), axis=1)
                q3 = tl.sum(tl.where(kk[None, :] == 3, s, 0.0), axis=1)
                o = (((q0 + q1) + q2) + q3) * 0.25
                if SOPS:
                    part = tl.sum(tl.sum(s.to(tl.float64) * f, axis=1), axis=0)
            else:
                if SHARED:
                    key = tl.where(m2, k, -1.0)
                else:
                    gk = gk + s
                    key = tl.where(m2, gk, -1.0)
                best = tl.max(key, axis=1)
                first = tl.min(tl.where(key == best[:, None], kk[None, :], KK), axis=1)
                o = tl.sum(tl.where(kk[None, :] == first[:, None], s, 0.0), axis=1)
                if SOPS:
                    part = tl.sum(o.to(tl.float64) * f, axis=0)
            tl.store(out + t * o_t + oo, o, mask=m)
            if SOPS:
                tl.store(res + t * tl.num_programs(0) + tl.program_id(0), part)
        tl.store(v + vo, x, mask=m2)
        tl.store(cnt + no, k, mask=m2)
        if GATE:
            tl.store(g + go, gk, mask=m2)


def by_reciprocal(t: torch.Tensor) -> bool:
    """Whether torch divides ``t`` by a scalar as a product with its reciprocal (CUDA)."""
    return t.is_cuda


def _reciprocal(threshold: float) -> float:
    """1/θ in float32, as torch's CUDA division by the scalar θ computes it."""
    return float(np.float32(1.0) / np.float32(threshold))


def if_scan_f32(current: torch.Tensor, v0: torch.Tensor, threshold: float, leak: float,
                multi_spike: int, reset_zero: bool, membrane: bool, steps: int,
                static: bool, count: torch.Tensor | None = None, inplace: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """ops.if_scan_f32 on the GPU: (spikes (steps, ...), new membrane), ``count`` updated
    in place; None where it does not apply."""
    g = float_scan(current, v0, multi_spike, reset_zero, membrane, steps, static, count,
                   inplace) if applies(current, v0) else None
    if g is None:
        return None
    n = g.v.numel()
    _launch(_if_scan, n, g.cur, g.vs, g.os, g.vs if g.cnt is None else g.cnt, g.vs, n, steps,
            float(threshold), _reciprocal(threshold), float(1.0 - leak), float(multi_spike),
            0, STATIC=bool(static), LEAK=bool(leak), MODE=g.mode, COUNT=g.cnt is not None,
            RECIP=by_reciprocal(g.v), INT=False, PER=False)
    if not membrane:
        _add_counts(count, g.cnt, g.out)
    return g.out, g.v


def if_scan_i64(current: torch.Tensor, v0: torch.Tensor, threshold: torch.Tensor,
                limit: int, multi_spike: int, reset_zero: bool, membrane: bool, steps: int,
                static: bool, count: torch.Tensor | None = None, inplace: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """ops.if_scan_i64 on the GPU; None where it does not apply."""
    g = int_scan(current, v0, threshold, membrane, steps, static, count, inplace) \
        if applies(current, v0, threshold) else None
    if g is None:
        return None
    n = g.v.numel()
    _launch(_if_scan, n, g.cur, g.v, g.out, g.v if g.cnt is None else g.cnt, g.th, n, steps,
            1.0, 1.0, 1.0, int(multi_spike), int(limit), STATIC=bool(static), LEAK=False,
            MODE=4 if membrane else _mode(multi_spike, reset_zero), COUNT=g.cnt is not None,
            RECIP=False, INT=True, PER=g.th.numel() > 1)
    if not membrane:
        _add_counts(count, g.cnt, g.out)
    return g.out, g.v


def maxpool_gate(node, s: torch.Tensor, counts: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """ops.maxpool_gate on the GPU: spiking max pooling of ``s`` (k, B, C, *spatial),
    (gated spikes, counts after the window), ``counts`` updated in place (created when
    None); None where it does not apply."""
    g = gate_plan(node, s, counts) if applies(s) else None
    if g is None:
        return None
    k, b, c, oh, ow = g.o5.shape
    s5, c4, kh, kw = g.s5, g.c4, g.kh, g.kw
    n = b * c * oh * ow
    if k and n:
        _launch(_maxpool_gate, n, s5, c4, g.o5, k, n, c, oh, ow, *s5.stride(), *c4.stride(),
                *g.o5.stride(), KH=kh, KW=kw)
    # the inputs no window covers (floor mode) are counted as the torch code counts them
    h, w = s5.shape[3:]
    if h > oh * kh:
        c4[:, :, oh * kh:] += s5[:, :, :, oh * kh:].sum(0)
    if w > ow * kw:
        c4[:, :, :oh * kh, ow * kw:] += s5[:, :, :, :oh * kh, ow * kw:].sum(0)
    return g.out, g.cnt


def sop_counts(x: torch.Tensor, fan: torch.Tensor, k: int, counted: bool = False
               ) -> torch.Tensor | None:
    """ops.sop_counts on the GPU: Σ over each step's rows of x (k·b, ...) of [x ≠ 0]·fan
    (x·fan: ``counted``), summed in float64 (exact: the terms are whole numbers); (k,)
    float32. None where it does not apply."""
    if not applies(x, fan) or x.dtype not in (torch.float32, torch.float64, torch.int64) \
            or fan.dtype != torch.float32 or len(x) % k or x.dim() < 2 \
            or fan.numel() != x[0].numel():
        return None
    xs, f = sop_operands(x, fan)
    n, rows = xs.shape[1], len(x)
    blocks = triton.cdiv(max(n, 1), BLOCK)
    res = torch.zeros((rows, blocks), dtype=torch.float64, device=x.device)
    if n and rows:
        _sop_rows[(blocks, rows)](xs, f, res, rows, n, COUNTED=bool(counted), BLOCK=BLOCK,
                                  **_opts())
    return res.view(k, -1).sum(1).to(torch.float32)


def _pooled(node, current: torch.Tensor, v0: torch.Tensor, count: torch.Tensor, steps: int,
            static: bool, inplace: bool, fan: torch.Tensor | None, fan_numel) -> tuple | None:
    """What the population + pool kernel needs, or None where it does not apply: float32
    tensors on one device, (B, C, H, W) per step, windows that tile the input exactly (an
    uncovered edge is declined: its neurons would need a pass of their own)."""
    ref = current if static else current[0] if current.dim() == 5 else None
    if ref is None or ref.dim() != 4 or not applies(current, v0, count) \
            or current.dtype != torch.float32 or v0.dtype != torch.float32 \
            or count.dtype != torch.float32 or tuple(v0.shape) != tuple(ref.shape) \
            or tuple(count.shape) != tuple(ref.shape) or (not static and len(current) != steps) \
            or len(node.kernel) != 2 or not tiles(node):
        return None
    b, c, h, w = ref.shape
    kh, kw = node.kernel
    if h % kh or w % kw:
        return None
    if fan is not None and (fan.dtype != torch.float32 or fan.device != ref.device
                            or fan.numel() != fan_numel(c, h // kh, w // kw, h, w)):
        return None
    v = v0 if inplace else v0.clone()
    cl = channels_last(ref)
    out = empty_steps(steps, ref.new_empty((b, c, h // kh, w // kw)), cl)
    return ref, v, out, (b, c, h, w, kh, kw)


def _pool_launch(current, static, v, count, g, out, dims, fan, steps, threshold, leak,
                 multi_spike, reset_zero, avg: bool) -> torch.Tensor | None:
    b, c, h, w, kh, kw = dims
    n = out[0].numel()
    blocks = triton.cdiv(max(n, 1), BLOCK)
    res = torch.zeros((steps, blocks), dtype=torch.float64, device=v.device) \
        if fan is not None else None
    cs = (0, *current.stride()) if static else current.stride()
    gs = g.stride() if g is not None else (0, 0, 0, 0)
    mode = _mode(multi_spike, reset_zero)
    if n and steps:
        _if_pool[(blocks,)](
            current, v, count, count if g is None else g, out, v if fan is None else
            fan.contiguous(), v if res is None else res, n, steps, c, h, w, h // kh, w // kw,
            float(threshold), _reciprocal(threshold), float(1.0 - leak), float(multi_spike),
            *cs, *v.stride(), *count.stride(), *gs, *out.stride(), STATIC=bool(static),
            LEAK=bool(leak), MODE=mode, SHARED=g is None, GATE=g is not None and not avg,
            AVG=avg, SOPS=fan is not None, RECIP=by_reciprocal(v), KH=kh, KW=kw,
            KK=triton.next_power_of_2(kh * kw), BLOCK=BLOCK, **_opts())
    return None if res is None else res.sum(1).to(torch.float32)


def if_pool_f32(node, current: torch.Tensor, v0: torch.Tensor, threshold: float, leak: float,
                multi_spike: int, reset_zero: bool, steps: int, static: bool,
                count: torch.Tensor, gate_counts: torch.Tensor | None, inplace: bool = False,
                reader_fan: torch.Tensor | None = None, shared: bool = False):
    """ops.if_pool_f32 on the GPU: a float IF population and the spiking max pool that
    alone reads it, one kernel per window (any layout); the same results and return
    value; None where it does not apply."""
    got = _pooled(node, current, v0, count, steps, static, inplace, reader_fan,
                  lambda c, oh, ow, h, w: c * oh * ow)
    if got is None:
        return None
    ref, v, out, dims = got
    g = None if shared else torch.zeros_like(ref) if gate_counts is None else gate_counts
    if g is not None and (g.shape != ref.shape or g.dtype != torch.float32
                          or g.device != ref.device):
        return None
    res = _pool_launch(current, static, v, count, g, out, dims, reader_fan, steps, threshold,
                       leak, multi_spike, reset_zero, False)
    return out, v, g, res


def if_avgpool_f32(node, current: torch.Tensor, v0: torch.Tensor, threshold: float,
                   leak: float, multi_spike: int, reset_zero: bool, steps: int, static: bool,
                   count: torch.Tensor, fan: torch.Tensor | None, inplace: bool = False):
    """ops.if_avgpool_f32 on the GPU: a float IF population and the 2×2 average pool that
    alone reads it, one kernel per window; None where it does not apply."""
    if not is_2x2(node):
        return None
    got = _pooled(node, current, v0, count, steps, static, inplace, fan,
                  lambda c, oh, ow, h, w: c * h * w)
    if got is None:
        return None
    ref, v, out, dims = got
    res = _pool_launch(current, static, v, count, None, out, dims, fan, steps, threshold,
                       leak, multi_spike, reset_zero, True)
    return out, v, res
