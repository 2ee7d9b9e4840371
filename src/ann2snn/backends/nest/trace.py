"""Traces of a NEST run in the format of docs/traces.md, for ``ann2snn diff``.

NEST records what its neurons emit and hold: the ``spikes`` and the membrane ``v``
after each step (``V_m``, after the reset) are NEST's own recordings. ``iaf_psc_delta``
keeps neither its summed input nor its membrane before the reset, so those two kinds
are derived from NEST's recordings alone: ``current(t)`` is the constant drive plus the
spikes NEST's presynaptic populations emitted at ``t − 1`` through the connection lists
(delay 1), and ``v_pre_reset(t) = v(t − 1) + current(t)`` with NEST's ``v(t − 1)``. A
divergence therefore shows first in NEST's own ``spikes`` or ``v``.
"""

from __future__ import annotations

import numpy as np
import torch


def feed_probe(probe, graph, plans, x: np.ndarray, drives: dict[str, np.ndarray],
               out: dict[str, np.ndarray], timesteps: int) -> None:
    """Hand ``probe`` (a TraceRecorder) every traced value of one batch, in the built-in
    simulator's order and dtypes. ``x``: the input as presented (B, *shape); ``out``:
    the worker's result with ``"<name>/v"`` membranes."""
    integer = graph.quant is not None
    b = len(x)

    def tensor(a: np.ndarray, shape) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a).reshape(timesteps, b, *shape))
        return t.round().to(torch.int64) if integer else t.to(torch.float32)

    for name in graph.inputs:
        probe(name, "spikes", tensor(np.broadcast_to(x[None], (timesteps, *x.shape)),
                                     x.shape[1:]), 0)
    for p in plans:
        cur = np.broadcast_to(drives[p.name], (timesteps, b, p.size)).copy()
        for src, c in p.incoming.items():
            cur[1:] += c.apply(out[src][:-1].astype(np.float64))
        v = out[p.name + "/v"]
        prev = np.concatenate([np.broadcast_to(p.v0, (1, b, p.size)), v[:-1]])
        probe(p.name, "current", tensor(cur, p.shape), 0)
        probe(p.name, "v_pre_reset", tensor(prev + cur, p.shape), 0)
        probe(p.name, "v", tensor(v, p.shape), 0)
        if not p.membrane_readout:
            probe(p.name, "spikes", tensor(out[p.name], p.shape), 0)
