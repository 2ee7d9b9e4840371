"""Synaptic-operation counts per step of a window: Σ over a step's samples and input
elements of [x ≠ 0] × the element's fan-out (the synapses it drives; analysis/counts.py);
for burst spikes (spike counts), x × the fan-out: each spike is delivered.

The fused kernel (sim/kernels/) counts in one pass, in float64; the pure-torch code
(:func:`sop_counts_torch`) is a comparison and a matrix-vector product, in float32. The
two agree exactly while the sums stay below 2^24 (float32's integers); beyond, the fused
count is the exact one.
"""

from __future__ import annotations

import torch

from . import kernels


def sop_counts(x: torch.Tensor, fan: torch.Tensor, k: int, b: int, binary: bool,
               counted: bool = False) -> torch.Tensor:
    """SOPs per step (k,) of the events in ``x`` (k·b, ...); ``binary``: x is 0/1 already;
    ``counted``: x holds spike counts (burst spikes), an element of m spikes is m events."""
    r = kernels.fused("sop_counts", x.device, x, fan, k, counted)
    if r is not None:
        return r
    return sop_counts_torch(x, fan, k, b, binary, counted)


def sop_counts_torch(x: torch.Tensor, fan: torch.Tensor, k: int, b: int, binary: bool,
                     counted: bool = False) -> torch.Tensor:
    if counted:
        return events_dot(x.to(fan.dtype), fan).view(k, b).sum(1)
    ev = x if binary and x.dtype == fan.dtype \
        else torch.ne(x, 0, out=torch.empty_like(x, dtype=fan.dtype))
    # (ne into a float tensor: 8x faster than ne, then a bool-to-float copy)
    return events_dot(ev, fan).view(k, b).sum(1)


def events_dot(ev: torch.Tensor, fan: torch.Tensor) -> torch.Tensor:
    """Σ events × fan-out per row of ``ev`` (N, ...); ``fan`` is in logical (C, H, W) order.

    A channels-last ``ev`` is read as (N, H, W, C) without a copy, with ``fan`` permuted
    to match.
    """
    if ev.dim() == 4 and not ev.is_contiguous() and \
            ev.is_contiguous(memory_format=torch.channels_last):
        c, h, w = ev.shape[1:]
        return ev.permute(0, 2, 3, 1).reshape(len(ev), -1) @ \
            fan.view(c, h, w).permute(1, 2, 0).reshape(-1)
    return ev.reshape(len(ev), -1) @ fan
