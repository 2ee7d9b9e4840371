"""Torch implementations of the graph's synaptic / analog operations.

Shared by the ANN evaluator and the spiking simulator, so both compute exactly the
same linear maps. Tensors carry a leading batch axis (the simulator folds time into it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..ir import Graph
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


def _pads(node) -> list[int]:
    out: list[int] = []
    for a, b in reversed(node.pads):
        out += [a, b]
    return out


def apply(node: n.Node, xs: list[torch.Tensor], p: GraphParams) -> torch.Tensor:
    """Apply one non-neuron node to batched inputs ``xs``."""
    x = xs[0] if xs else None
    if isinstance(node, n.Conv):
        b = p.get(node.name, "bias")
        y = _CONV[node.ndim](x, p.get(node.name, "weight"), b if b is not None and b.ndim == 1
                             else None, node.stride, node.padding, node.dilation, node.groups)
        return y + b if b is not None and b.ndim > 1 else y
    if isinstance(node, n.ConvTranspose):
        return _CONVT[node.ndim](x, p.get(node.name, "weight"), p.get(node.name, "bias"),
                                 node.stride, node.padding, node.output_padding, node.groups,
                                 node.dilation)
    if isinstance(node, n.Dense):
        return F.linear(x, p.get(node.name, "weight"), p.get(node.name, "bias"))
    if isinstance(node, n.BatchNorm):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * p.get(node.name, "scale").view(shape) + p.get(node.name, "shift").view(shape)
    if isinstance(node, n.Scale):
        return x * p.get(node.name, "factor")
    if isinstance(node, n.ReLU):
        return x.clamp(0.0, node.max_value)
    if isinstance(node, n.Softmax):
        return torch.softmax(x, dim=-1)
    if isinstance(node, n.AvgPool):
        return _AVG[len(node.kernel)](x, node.kernel, node.stride, node.padding, node.ceil_mode,
                                      node.count_include_pad)
    if isinstance(node, (n.MaxPool, n.SpikingMaxPool)):  # spiking: on analog values only
        return _MAX[len(node.kernel)](x, node.kernel, node.stride, node.padding, node.dilation,
                                      node.ceil_mode)
    if isinstance(node, n.GlobalAvgPool):
        return x.flatten(2).mean(-1)
    if isinstance(node, n.Upsample):
        return F.interpolate(x, scale_factor=node.scale, mode="nearest")
    if isinstance(node, n.Pad):
        return F.pad(x, _pads(node))
    if isinstance(node, n.Flatten):
        return x.flatten(1)
    if isinstance(node, n.Reshape):
        return x.reshape(x.shape[0], *node.shape)
    if isinstance(node, n.Transpose):
        return x.permute(*node.perm)
    if isinstance(node, n.Concat):
        return torch.cat(xs, dim=node.axis)
    if isinstance(node, n.Add):
        out = xs[0]
        for t in xs[1:]:
            out = out + t
        return out
    if isinstance(node, (n.Identity, n.Input)):
        return x
    raise NotImplementedError(f"no torch op for {node.op} '{node.name}'")


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
