"""Output-shape inference for every node type (no batch dimension): one rule per node
type in the registry :data:`SHAPES`, each ``rule(node, in_shapes, what) -> shape``."""

from __future__ import annotations

import math

import numpy as np

from . import nodes as n
from .registry import Registry

Shape = tuple[int, ...]

#: node type -> ``rule(node, in_shapes, what)``; ``what`` describes the inputs for errors
SHAPES: Registry = Registry("shape inference")


def infer(node: n.Node, in_shapes: list[Shape], what: str = "its input") -> Shape:
    """Return the output shape of ``node`` given its inputs' shapes.

    Raises ValueError naming the node and the shapes on any mismatch, and
    :class:`~ann2snn.ir.registry.MissingHandler` for a node type without a rule.
    """
    return SHAPES.get(node)(node, in_shapes, what)


def _window_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:  # torch: last window must start inside input
        out -= 1
    return out


def _spatial(node, shape: Shape, what: str) -> tuple[int, ...]:
    nd = len(node.kernel) if hasattr(node, "kernel") else node.ndim
    if len(shape) != nd + 1:
        raise ValueError(
            f"{node.op} '{node.name}' expects a {nd + 1}-d input (C, ...spatial), "
            f"got shape {shape} from {what}"
        )
    return shape[1:]


def _first(in_shapes: list[Shape]) -> Shape:
    return in_shapes[0] if in_shapes else ()


@SHAPES.register(n.Input)
def _input(node: n.Input, in_shapes, what) -> Shape:
    return tuple(node.shape)


@SHAPES.register(n.Conv)
def _conv(node: n.Conv, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    sp = _spatial(node, x, what)
    cin = node.weight.shape[1] * node.groups
    if x[0] != cin:
        raise ValueError(
            f"Conv '{node.name}' expects {cin} input channels, got shape {x} from {what}"
        )
    ks = node.weight.shape[2:]
    out = tuple(
        _window_out(sp[i], ks[i], node.stride[i], node.padding[i], node.dilation[i])
        for i in range(node.ndim)
    )
    return (node.weight.shape[0], *out)


@SHAPES.register(n.ConvTranspose)
def _conv_transpose(node: n.ConvTranspose, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    sp = _spatial(node, x, what)
    if x[0] != node.weight.shape[0]:
        raise ValueError(
            f"ConvTranspose '{node.name}' expects {node.weight.shape[0]} input channels, "
            f"got shape {x} from {what}"
        )
    ks = node.weight.shape[2:]
    out = tuple(
        (sp[i] - 1) * node.stride[i] - 2 * node.padding[i] + node.dilation[i] * (ks[i] - 1)
        + node.output_padding[i] + 1
        for i in range(node.ndim)
    )
    return (node.weight.shape[1] * node.groups, *out)


@SHAPES.register(n.Dense)
def _dense(node: n.Dense, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if len(x) != 1 or x[0] != node.weight.shape[1]:
        raise ValueError(
            f"Dense '{node.name}' expects a flat input of {node.weight.shape[1]} features, "
            f"got shape {x} from {what}"
        )
    return (node.weight.shape[0],)


@SHAPES.register(n.BatchNorm)
def _batchnorm(node: n.BatchNorm, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if not x or x[0] != node.scale.shape[0]:
        raise ValueError(
            f"BatchNorm '{node.name}' has {node.scale.shape[0]} channels, "
            f"got shape {x} from {what}"
        )
    return x


@SHAPES.register(n.Scale)
def _scale(node: n.Scale, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    try:
        np.broadcast_shapes(node.factor.shape, x)
    except ValueError:
        raise ValueError(
            f"Scale '{node.name}' factor of shape {node.factor.shape} does not broadcast "
            f"to {x} from {what}"
        ) from None
    return x


@SHAPES.register(n.ReLU, n.QCFS, n.Softmax, n.Identity, n.IF)
def _same(node, in_shapes, what) -> Shape:
    return _first(in_shapes)


@SHAPES.register(n.AvgPool, n.MaxPool, n.SpikingMaxPool)
def _pool(node, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    sp = _spatial(node, x, what)
    dil = getattr(node, "dilation", (1,) * len(sp))
    out = tuple(
        _window_out(sp[i], node.kernel[i], node.stride[i], node.padding[i], dil[i],
                    node.ceil_mode)
        for i in range(len(sp))
    )
    if min(out) < 1:
        raise ValueError(f"{node.op} '{node.name}' window is larger than its input {x}")
    return (x[0], *out)


@SHAPES.register(n.GlobalAvgPool)
def _global_avgpool(node: n.GlobalAvgPool, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if len(x) < 2:
        raise ValueError(f"GlobalAvgPool '{node.name}' needs (C, ...spatial), got {x}")
    return (x[0],)


@SHAPES.register(n.Upsample)
def _upsample(node: n.Upsample, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if len(x) != len(node.scale) + 1:
        raise ValueError(f"Upsample '{node.name}' scale {node.scale} does not fit input {x}")
    return (x[0], *(s * f for s, f in zip(x[1:], node.scale)))


@SHAPES.register(n.Pad)
def _pad(node: n.Pad, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if len(x) != len(node.pads) + 1:
        raise ValueError(f"Pad '{node.name}' pads {node.pads} do not fit input {x}")
    out = (x[0], *(s + a + b for s, (a, b) in zip(x[1:], node.pads)))
    if min(out) < 1:
        raise ValueError(f"Pad '{node.name}' crops input {x} to nothing")
    return out


@SHAPES.register(n.Flatten)
def _flatten(node: n.Flatten, in_shapes, what) -> Shape:
    return (int(np.prod(_first(in_shapes))),)


@SHAPES.register(n.Reshape)
def _reshape(node: n.Reshape, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    shape = list(node.shape)
    total = int(np.prod(x))
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1]))
        shape[shape.index(-1)] = total // max(known, 1)
    if int(np.prod(shape)) != total:
        raise ValueError(f"Reshape '{node.name}' cannot reshape {x} to {tuple(node.shape)}")
    return tuple(shape)


@SHAPES.register(n.Transpose)
def _transpose(node: n.Transpose, in_shapes, what) -> Shape:
    x = _first(in_shapes)
    if node.perm[0] != 0 or sorted(node.perm) != list(range(len(x) + 1)):
        raise ValueError(f"Transpose '{node.name}' perm {node.perm} invalid for input {x}")
    full = (0, *x)
    return tuple(full[p] for p in node.perm[1:])


@SHAPES.register(n.Concat)
def _concat(node: n.Concat, in_shapes, what) -> Shape:
    ax = node.axis - 1
    if ax < 0:
        raise ValueError(f"Concat '{node.name}' cannot join along the batch axis")
    first = in_shapes[0]
    for s in in_shapes[1:]:
        if len(s) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(s, first)) if i != ax
        ):
            raise ValueError(
                f"Concat '{node.name}' inputs {in_shapes} differ outside axis {node.axis}"
            )
    return tuple(
        sum(s[ax] for s in in_shapes) if i == ax else d for i, d in enumerate(first)
    )


@SHAPES.register(n.Add)
def _add(node: n.Add, in_shapes, what) -> Shape:
    for s in in_shapes[1:]:
        if s != in_shapes[0]:
            raise ValueError(f"Add '{node.name}' inputs have different shapes {in_shapes}")
    return in_shapes[0]
