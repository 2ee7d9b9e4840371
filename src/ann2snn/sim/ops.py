"""Torch implementations of the graph's synaptic / analog operations.

Shared by the ANN evaluator and the spiking simulator, so both compute exactly the
same linear maps. Tensors carry a leading batch axis (the simulator folds time into it).
One handler per node type in :data:`OPS`; a neuron population has none (the simulator
scans it, sim/functional.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..ir import Graph, Registry
from ..ir import nodes as n

_CONV = {1: F.conv1d, 2: F.conv2d}
_CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d}


def _key(node: str, field: str) -> str:
    return f"{node}::{field}".replace(".", "__")


class GraphParams(torch.nn.Module):
    """Holds every node array as a buffer so ``.to(device)`` moves them all."""

    def __init__(self, graph: Graph, dtype=torch.float32):
        super().__init__()
        for node in graph:
            for field, arr in node.arrays().items():
                self.register_buffer(_key(node.name, field),
                                     torch.as_tensor(np.asarray(arr), dtype=dtype))

    def get(self, node: str, field: str) -> torch.Tensor | None:
        return getattr(self, _key(node, field), None)


Op = Callable[[n.Node, list[torch.Tensor], GraphParams], torch.Tensor]

#: ``node type -> (node, batched inputs, params) -> output``.
OPS: Registry[Op] = Registry("the float simulator")


def apply(node: n.Node, xs: list[torch.Tensor], p: GraphParams) -> torch.Tensor:
    """Apply one non-neuron node to batched inputs ``xs``."""
    return OPS.get(node)(node, xs, p)


def _pads(node) -> list[int]:
    out: list[int] = []
    for a, b in reversed(node.pads):
        out += [a, b]
    return out


@OPS.register(n.Conv)
def _conv(node: n.Conv, xs, p):
    b = p.get(node.name, "bias")
    y = _CONV[node.ndim](xs[0], p.get(node.name, "weight"), b if b is not None and b.ndim == 1
                         else None, node.stride, node.padding, node.dilation, node.groups)
    return y + b if b is not None and b.ndim > 1 else y  # a full bias map (folded BN)


@OPS.register(n.ConvTranspose)
def _conv_transpose(node: n.ConvTranspose, xs, p):
    return _CONVT[node.ndim](xs[0], p.get(node.name, "weight"), p.get(node.name, "bias"),
                             node.stride, node.padding, node.output_padding, node.groups,
                             node.dilation)


@OPS.register(n.Dense)
def _dense(node: n.Dense, xs, p):
    return F.linear(xs[0], p.get(node.name, "weight"), p.get(node.name, "bias"))


@OPS.register(n.BatchNorm)
def _batchnorm(node: n.BatchNorm, xs, p):
    x = xs[0]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * p.get(node.name, "scale").view(shape) + p.get(node.name, "shift").view(shape)


@OPS.register(n.Scale)
def _scale(node: n.Scale, xs, p):
    return xs[0] * p.get(node.name, "factor")


@OPS.register(n.ReLU)
def _relu(node: n.ReLU, xs, p):
    return xs[0].clamp(0.0, node.max_value)


@OPS.register(n.QCFS)
def _qcfs(node: n.QCFS, xs, p):
    """The formula of ir/nodes.py (the same as the torch op ann2snn::qcfs)."""
    x, lam = xs[0], p.get(node.name, "lam").to(xs[0].dtype)
    lam = lam.reshape((1, -1) + (1,) * (x.ndim - 2)) if lam.numel() > 1 else lam.reshape(())
    return lam / node.levels * torch.clamp(torch.floor(x * node.levels / lam + 0.5), 0,
                                            node.levels)


@OPS.register(n.Softmax)
def _softmax(node: n.Softmax, xs, p):
    return torch.softmax(xs[0], dim=-1)


@OPS.register(n.AvgPool)
def _avgpool(node: n.AvgPool, xs, p):
    return _AVG[len(node.kernel)](xs[0], node.kernel, node.stride, node.padding,
                                  node.ceil_mode, node.count_include_pad)


@OPS.register(n.MaxPool, n.SpikingMaxPool)  # spiking: on analog values only
def _maxpool(node: n.MaxPool | n.SpikingMaxPool, xs, p):
    return _MAX[len(node.kernel)](xs[0], node.kernel, node.stride, node.padding, node.dilation,
                                  node.ceil_mode)


@OPS.register(n.GlobalAvgPool)
def _global_avgpool(node: n.GlobalAvgPool, xs, p):
    return xs[0].flatten(2).mean(-1)


@OPS.register(n.Upsample)
def _upsample(node: n.Upsample, xs, p):
    return F.interpolate(xs[0], scale_factor=node.scale, mode="nearest")


@OPS.register(n.Pad)
def _pad(node: n.Pad, xs, p):
    return F.pad(xs[0], _pads(node))


@OPS.register(n.Flatten)
def _flatten(node: n.Flatten, xs, p):
    return xs[0].flatten(1)


@OPS.register(n.Reshape)
def _reshape(node: n.Reshape, xs, p):
    x = xs[0]
    return x.reshape(x.shape[0], *node.shape)


@OPS.register(n.Transpose)
def _transpose(node: n.Transpose, xs, p):
    return xs[0].permute(*node.perm)


@OPS.register(n.Concat)
def _concat(node: n.Concat, xs, p):
    return torch.cat(xs, dim=node.axis)


@OPS.register(n.Add)
def _add(node: n.Add, xs, p):
    out = xs[0]
    for t in xs[1:]:
        out = out + t
    return out


@OPS.register(n.Identity, n.Input)
def _identity(node: n.Identity | n.Input, xs, p):
    return xs[0] if xs else None


class AnnModel(torch.nn.Module):
    """Evaluates an analog graph with torch (the reference for conversion checks)."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        self.params = GraphParams(graph)

    def forward(self, x: torch.Tensor, record: set[str] | None = None):
        vals: dict[str, torch.Tensor] = {}
        rec: dict[str, torch.Tensor] = {}
        for node in self.graph:
            if isinstance(node, n.Input):
                vals[node.name] = x
            else:
                vals[node.name] = apply(node, [vals[i] for i in node.inputs], self.params)
            if record is not None and node.name in record:
                rec[node.name] = vals[node.name]
        out = vals[self.graph.output]
        return (out, rec) if record is not None else out


@torch.no_grad()
def ann_forward(graph: Graph, x: np.ndarray, batch_size: int = 512,
                record: set[str] | None = None, device: str = "cpu"):
    """Run ``graph`` over ``x`` in batches; returns outputs (and recorded activations)."""
    model = AnnModel(graph).to(device)
    outs, recs = [], {k: [] for k in (record or ())}
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[i:i + batch_size], dtype=torch.float32, device=device)
        if record is None:
            outs.append(model(xb).cpu().numpy())
        else:
            o, r = model(xb, record)
            outs.append(o.cpu().numpy())
            for k, v in r.items():
                recs[k].append(v.cpu().numpy())
    out = np.concatenate(outs) if outs else np.zeros((0,) + graph.output_shape, np.float32)
    if record is None:
        return out
    return out, {k: np.concatenate(v) for k, v in recs.items()}
