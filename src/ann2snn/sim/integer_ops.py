"""The integer simulator's operations: one handler per node type in :data:`INT_OPS`,
on batched int64 tensors, with exact integer results (docs/integer-mode.md).

Convolutions, dense layers and pooling run in float64, exact for the integers the
quantizer allows (sim/integer.py explains why). The nodes that only move values
(padding, reshaping, concatenation, addition) reuse the float simulator's op.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SimulationError
from ..ir import Graph, Registry
from ..ir import nodes as n
from .ops import OPS
from .pooling import fused_gate


class IntParams:
    """The graph's integer arrays as int64 tensors (float64 copies for conv/dense)."""

    def __init__(self, graph: Graph, device):
        self.t: dict[tuple[str, str], torch.Tensor] = {}
        for node in graph:
            for f, arr in node.arrays().items():
                a = np.asarray(arr)
                if np.issubdtype(a.dtype, np.floating) and not np.all(a == np.rint(a)):
                    raise SimulationError(f"{node.op} '{node.name}' {f} is not integer-valued")
                t = torch.as_tensor(a.astype(np.int64), device=device)
                self.t[(node.name, f)] = t
                if f == "weight":
                    self.t[(node.name, "weight64")] = t.to(torch.float64)

    def get(self, node: str, field: str) -> torch.Tensor | None:
        return self.t.get((node, field))


IntOp = Callable[[n.Node, list[torch.Tensor], IntParams], torch.Tensor]

#: ``node type -> (node, batched int64 inputs, params) -> int64 output``: every node type
#: with the ``integer`` trait except the populations (scanned by sim/integer.py).
INT_OPS: Registry[IntOp] = Registry("integer mode")


def int_apply(node: n.Node, xs: list[torch.Tensor], p: IntParams) -> torch.Tensor:
    """Apply one non-neuron node to batched int64 tensors; exact integer result."""
    return INT_OPS.get(node)(node, xs, p)


def _bias(y: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    if b is None:
        return y
    return y + b.view(1, -1, *([1] * (y.ndim - 2))) if b.ndim == 1 else y + b.unsqueeze(0)


@INT_OPS.register(n.Conv)
def _conv(node: n.Conv, xs, p):
    conv = F.conv1d if node.ndim == 1 else F.conv2d
    with torch.backends.cudnn.flags(enabled=False):
        y = conv(xs[0].to(torch.float64), p.get(node.name, "weight64"), None, node.stride,
                 node.padding, node.dilation, node.groups)
    return _bias(y.to(torch.int64), p.get(node.name, "bias"))


@INT_OPS.register(n.Dense)
def _dense(node: n.Dense, xs, p):
    y = F.linear(xs[0].to(torch.float64), p.get(node.name, "weight64"))
    return _bias(y.to(torch.int64), p.get(node.name, "bias"))


@INT_OPS.register(n.Scale)
def _scale(node: n.Scale, xs, p):
    return xs[0] * p.get(node.name, "factor")


@INT_OPS.register(n.AvgPool)
def _avgpool(node: n.AvgPool, xs, p):
    """The integer sum over each window (the 1/k is folded downstream)."""
    x2 = xs[0].to(torch.float64)
    nd = len(node.kernel)
    if nd == 1:
        x2 = x2.unsqueeze(2)
    k, s, pd = ((1, *node.kernel), (1, *node.stride), (0, *node.padding)) if nd == 1 \
        else (node.kernel, node.stride, node.padding)
    y = F.avg_pool2d(x2, k, s, pd, node.ceil_mode, True, divisor_override=1)
    return (y.squeeze(2) if nd == 1 else y).to(torch.int64)


@INT_OPS.register(n.GlobalAvgPool)
def _global_avgpool(node: n.GlobalAvgPool, xs, p):
    return xs[0].flatten(2).sum(-1)


@INT_OPS.register(n.Upsample)
def _upsample(node: n.Upsample, xs, p):
    x = xs[0]
    for ax, f in enumerate(node.scale):
        x = x.repeat_interleave(f, dim=2 + ax)
    return x


@INT_OPS.register(n.SpikingMaxPool)
def _maxpool(node: n.SpikingMaxPool, xs, p):
    """On a constant (analog) input: max pooling (spikes: :func:`spiking_maxpool`)."""
    pool = F.max_pool1d if len(node.kernel) == 1 else F.max_pool2d
    return pool(xs[0].to(torch.float64), node.kernel, node.stride, node.padding, node.dilation,
                node.ceil_mode).to(torch.int64)


@INT_OPS.register(n.Input, n.Pad, n.Flatten, n.Reshape, n.Transpose, n.Concat, n.Add,
                  n.Identity)
def _float_op(node: n.Node, xs, p):
    """Moves or adds values only: the float simulator's op is exact on int64."""
    return OPS.get(node)(node, xs, None)


def spiking_maxpool(node: n.SpikingMaxPool, s: torch.Tensor, state: dict) -> torch.Tensor:
    """Gate through the spikes of the input with the largest count so far (this step
    included; ties: lowest index — the first maximum in a row-major window scan).
    The fused gate (sim/kernels/) where it applies, else the loop below."""
    key = node.name + "::count"
    out = fused_gate(node, s, state, key)
    if out is not None:
        return out
    cnt = state.get(key)
    if cnt is None:
        cnt = torch.zeros_like(s[0])
    pool = F.max_pool1d if len(node.kernel) == 1 else F.max_pool2d
    outs = []
    for i in range(s.shape[0]):
        cnt = cnt + s[i]
        _, idx = pool(cnt.to(torch.float64), node.kernel, node.stride, node.padding,
                      node.dilation, node.ceil_mode, return_indices=True)
        outs.append(torch.gather(s[i].flatten(2), 2, idx.flatten(2)).view(idx.shape))
    state[key] = cnt
    return torch.stack(outs)
