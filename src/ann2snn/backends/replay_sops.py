"""Synaptic operations of a Brian2 or NEST run, counted as the built-in simulator does.

Brian2 and NEST report spikes, not synaptic events; the events are those spikes delivered
along the synapses. The shared window loop (sim/windows.py) is run with the recorded
spikes in place of the populations' scans, so every synaptic op sees the events the
built-in simulator would count for the same spikes (delayed one step, fan-out from
analysis/counts.py) — the same definition, not a second implementation of it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..analysis.counts import fanout
from ..ir import facts
from ..sim.ops import GraphParams, apply
from ..sim.windows import WindowOps, run_windows


def synaptic_ops(graph, x: np.ndarray, outputs: dict[str, np.ndarray], timesteps: int,
                 delay: int) -> dict[str, torch.Tensor]:
    """Per synaptic op, events × fan-out per step (T,) summed over the samples ``x``;
    ``outputs``: per population, what it emitted each step (T, B, *shape): its spikes,
    or its membrane for a membrane readout."""
    params = GraphParams(graph)
    fans: dict[str, torch.Tensor] = {}

    def fan(node, in_shape) -> torch.Tensor:
        if node.name not in fans:
            fans[node.name] = torch.as_tensor(fanout(graph, node.name).reshape(-1),
                                              dtype=torch.float32)
        return fans[node.name]

    def scan(node, cur, state, k, static, t0):
        return torch.from_numpy(outputs[node.name][t0:t0 + k]).to(torch.float32), state

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    ops = WindowOps(inputs=lambda t0, k: (xt, True), if_init=lambda node, shape: None,
                    if_scan=scan, spiking_maxpool=None,
                    apply=lambda node, xs: apply(node, xs, params), fanout=fan)
    with torch.no_grad():
        out = run_windows(graph, ops, len(x), timesteps, timesteps, None,
                          facts.binary_nodes(graph), delay)
    return out.sops
