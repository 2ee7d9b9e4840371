"""Neuron dynamics as pure step functions (docs/design.md §3), plus the fast in-place scan.

``if_step(current, state, params) -> (spikes, state)`` is the specification;
``if_scan`` runs it over a window of steps and must agree exactly (tested): with the fused
kernel (sim/kernels/) where it applies, else with :func:`if_scan_torch`, in place.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..ir import ResetMode
from ..ir import nodes as n
from . import kernels
from .kernels import ops as kops


class IFParams(NamedTuple):
    threshold: float = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    v0: float = 0.0
    leak: float = 0.0
    multi_spike: int = 1
    membrane_readout: bool = False

    @classmethod
    def of(cls, node: n.IF) -> IFParams:
        return cls(node.threshold, node.reset, node.v0, node.leak, node.multi_spike,
                   node.membrane_readout)


class IFState(NamedTuple):
    v: torch.Tensor


def if_init(shape, params: IFParams, device=None, dtype=torch.float32) -> IFState:
    """Membrane at ``v0·θ`` (docs/design.md §3)."""
    return IFState(torch.full(tuple(shape), params.v0 * params.threshold, device=device,
                              dtype=dtype))


def if_step(current: torch.Tensor, state: IFState, p: IFParams
            ) -> tuple[torch.Tensor, IFState]:
    """One step of a population of IF neurons.

    v ← v·(1−leak) + I;  s = [v ≥ θ] (or clip(⌊v/θ⌋, 0, s_max) in multi-spike mode);
    reset SUBTRACT: v ← v − θ·s;  ZERO: v ← 0 where s > 0. A membrane-readout
    population does not spike: it returns v itself.
    """
    v = state.v * (1.0 - p.leak) + current if p.leak else state.v + current
    if p.membrane_readout:
        return v, IFState(v)
    if p.multi_spike > 1:
        s = torch.clamp(torch.floor(v / p.threshold), 0, p.multi_spike)
    else:
        s = (v >= p.threshold).to(v.dtype)
    if p.reset is ResetMode.SUBTRACT:
        v = v - p.threshold * s
    else:
        v = torch.where(s > 0, torch.zeros_like(v), v)
    return s, IFState(v)


def if_scan(current: torch.Tensor, state: IFState, p: IFParams, steps: int,
            static: bool = False, count: torch.Tensor | None = None, inplace: bool = False
            ) -> tuple[torch.Tensor, IFState]:
    """Run ``steps`` IF steps. ``current`` is ``(steps, ...)``, or one tensor reused every
    step when ``static`` (analog input: constant current).

    Returns spikes ``(steps, ...)`` (the membrane after each update for a membrane
    readout) and the new state. Equal to ``steps`` calls of :func:`if_step`. ``count``:
    spike counts to which the window's spikes are added in place (not for a membrane
    readout). ``inplace``: the new membrane may be ``state.v`` itself (the caller drops
    the old state; the simulator's loop). Runs the fused kernel (one pass over the
    window, counting included) where it applies, else :func:`if_scan_torch`.
    """
    args = (current, state.v, p.threshold, p.leak, p.multi_spike, p.reset is ResetMode.ZERO,
            p.membrane_readout, steps, static, count, inplace)
    r = kernels.fused("if_scan_f32", current.device, *args)
    if r is not None:
        return r[0], IFState(r[1])
    return if_scan_torch(current, state, p, steps, static, count)


def if_scan_torch(current: torch.Tensor, state: IFState, p: IFParams, steps: int,
                  static: bool = False, count: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, IFState]:
    """:func:`if_scan` in pure torch, in place: a few tensor operations per step."""
    out, st = _if_scan_torch(current, state, p, steps, static)
    if count is not None and not p.membrane_readout:
        count += out.sum(0)
    return out, st


def _if_scan_torch(current: torch.Tensor, state: IFState, p: IFParams, steps: int,
                   static: bool) -> tuple[torch.Tensor, IFState]:
    ref = current if static else current[0]
    cl = kops.channels_last(ref)
    v = state.v.contiguous(memory_format=torch.channels_last) if cl else state.v.clone()
    if v.data_ptr() == state.v.data_ptr():
        v = v.clone()
    shape = v.shape
    if cl:  # keep the current's layout: elementwise ops on mixed layouts are slow
        out = torch.empty((steps * shape[0], *shape[1:]), dtype=v.dtype, device=v.device,
                          memory_format=torch.channels_last).view(steps, *shape)
    else:
        out = torch.empty((steps, *shape), dtype=v.dtype, device=v.device)
    mask = torch.empty_like(v, dtype=torch.bool)
    thr = p.threshold
    for t in range(steps):
        if p.leak:
            v.mul_(1.0 - p.leak)
        v.add_(current if static else current[t])
        st = out[t]
        if p.membrane_readout:
            st.copy_(v)
            continue
        if p.multi_spike > 1:
            torch.floor(v / thr, out=st)
            st.clamp_(0, p.multi_spike)
            torch.gt(st, 0, out=mask)
        elif p.reset is ResetMode.SUBTRACT:
            torch.ge(v, thr, out=st)  # the comparison writes 0./1. directly: one pass less
        else:
            torch.ge(v, thr, out=mask)
            st.copy_(mask)
        if p.reset is ResetMode.SUBTRACT:
            if thr == 1.0:
                v.sub_(st)
            else:
                v.sub_(st * thr)
        else:
            v.masked_fill_(mask, 0.0)
    return out, IFState(v)
