"""Explicit connection lists: every synapse node as (pre, post, weight) arrays.

For the backends that wire neuron to neuron (Brian2, PyNN, Nengo). Elements are indexed
over the flattened C-order (channels-first) tensors without the batch axis, as in the
graph's shapes. :func:`expand` gives, per input of a node, a :class:`Connections` such
that the node's output is ``sum over inputs of scatter_add(x[pre] * weight -> post)
+ bias``, exactly the float simulator's operation (``ann2snn.sim.ops.apply``); ``bias``
is a full map over the output elements (zeros where the node has none).

Everything is vectorized: a window node is one ``sliding_window_view`` of an index
array; routing nodes (Pad, Upsample, Concat, Transpose) apply the numpy operation to the
index array. :mod:`ann2snn.backends.projections` composes the lists through chains of
nodes into projections between populations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import nodes as n
from ..ir.registry import Registry

Shape = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Connections:
    """Synapses from ``n_pre`` source elements to ``n_post`` target elements."""

    pre: np.ndarray  #: int64 source element per synapse
    post: np.ndarray  #: int64 target element per synapse
    weight: np.ndarray  #: float64 weight per synapse
    n_pre: int
    n_post: int

    def __len__(self) -> int:
        return len(self.pre)

    def apply(self, x) -> np.ndarray:
        """``x`` (n_pre,) or (B, n_pre) -> the summed input to every target, (…, n_post)."""
        x = np.asarray(x, np.float64)
        flat = x.reshape(-1, self.n_pre)
        b = len(flat)
        idx = (np.arange(b)[:, None] * self.n_post + self.post[None, :]).reshape(-1)
        y = np.bincount(idx, (flat[:, self.pre] * self.weight).reshape(-1), b * self.n_post)
        return y.reshape(*x.shape[:-1], self.n_post)

    def dense(self) -> np.ndarray:
        """The (n_post, n_pre) weight matrix (for tests and small layers)."""
        m = np.zeros((self.n_post, self.n_pre))
        np.add.at(m, (self.post, self.pre), self.weight)
        return m

    def after(self, first: Connections) -> Connections:
        """``self ∘ first``: ``first`` from A to B, then ``self`` from B to C; parallel
        paths between one pair of elements are summed into one synapse."""
        if first.n_post != self.n_pre:
            raise ValueError(f"cannot compose {first.n_post} outputs with {self.n_pre} inputs")
        order = np.argsort(first.post, kind="stable")
        fpost = first.post[order]
        start = np.searchsorted(fpost, self.pre, "left")
        count = np.searchsorted(fpost, self.pre, "right") - start
        which = np.repeat(np.arange(len(self)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        fi = order[np.repeat(start, count) + offset]
        return Connections(first.pre[fi], self.post[which], first.weight[fi] * self.weight[which],
                           first.n_pre, self.n_post).merged()

    def merged(self) -> Connections:
        """Duplicate (pre, post) pairs summed; sorted by post, then pre."""
        key = self.post * self.n_pre + self.pre
        uniq, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv.reshape(-1), self.weight, len(uniq))
        return Connections(uniq % self.n_pre, uniq // self.n_pre, w, self.n_pre, self.n_post)

    def __add__(self, other: Connections) -> Connections:
        """Both sets of synapses (same source and target), duplicates summed."""
        if (self.n_pre, self.n_post) != (other.n_pre, other.n_post):
            raise ValueError("cannot add connections between different populations")
        return Connections(np.concatenate([self.pre, other.pre]),
                           np.concatenate([self.post, other.post]),
                           np.concatenate([self.weight, other.weight]),
                           self.n_pre, self.n_post).merged()


@dataclass(frozen=True, eq=False)
class Expansion:
    """A node as connection lists: one per input (in order), and the bias map."""

    inputs: tuple[Connections, ...]
    bias: np.ndarray  #: float64 (n_post,)

    def apply(self, xs) -> np.ndarray:
        """The node's output for flat inputs ``xs`` (one array per input)."""
        return sum(c.apply(x) for c, x in zip(self.inputs, xs)) + self.bias


#: node type -> ``handler(node, in_shapes, out_shape) -> Expansion``
EXPAND: Registry = Registry("the connection-list expansion")


def expand(node: n.Node, in_shapes: list[Shape], out_shape: Shape) -> Expansion:
    """``node`` as connection lists, given its input shapes and output shape."""
    return EXPAND.get(node)(node, [tuple(s) for s in in_shapes], tuple(out_shape))


def expand_in(graph, name: str) -> Expansion:
    """The node ``name`` of ``graph`` as connection lists; in integer mode (a quantized
    graph) pooling is the integer sum over each window (docs/integer-mode.md), weight 1."""
    x = graph[name]
    e = expand(x, [graph.shapes[i] for i in x.inputs], graph.shapes[name])
    if graph.quant is not None and isinstance(x, (n.AvgPool, n.GlobalAvgPool)):
        e = Expansion(tuple(Connections(c.pre, c.post, np.ones_like(c.weight), c.n_pre,
                                        c.n_post) for c in e.inputs), e.bias)
    return e


# -- building blocks ---------------------------------------------------------------------
def _conn(pre, post, weight, n_pre: int, n_post: int) -> Connections:
    pre, post = np.asarray(pre, np.int64).reshape(-1), np.asarray(post, np.int64).reshape(-1)
    weight = np.broadcast_to(np.asarray(weight, np.float64), pre.shape).copy()
    return Connections(pre, post, weight, n_pre, n_post)


def _gather(src: np.ndarray, n_pre: int, weight=1.0) -> Connections:
    """Output element j reads input element ``src.flat[j]`` (none where it is < 0)."""
    src = src.reshape(-1)
    post = np.flatnonzero(src >= 0)
    w = np.broadcast_to(np.asarray(weight, np.float64).reshape(-1), src.shape)[post] \
        if np.ndim(weight) else weight
    return _conn(src[post], post, w, n_pre, src.size)


def _bias(bias, out_shape: Shape) -> np.ndarray:
    size = math.prod(out_shape)
    if bias is None:
        return np.zeros(size)
    b = np.asarray(bias, np.float64)
    if b.ndim == 1 and len(out_shape) > 1:  # per channel
        b = b.reshape(-1, *(1,) * (len(out_shape) - 1))
    return np.broadcast_to(b, out_shape).reshape(-1).copy()


def _windows(in_shape: Shape, out_spatial: Shape, kernel, stride, padding, dilation
             ) -> np.ndarray:
    """(C, *out_spatial, *kernel): the input element under each window tap; -1 in the
    zero padding, -2 beyond it (where a ceil-mode window overhangs)."""
    nd = len(in_shape) - 1
    idx = np.arange(math.prod(in_shape)).reshape(in_shape)
    idx = np.pad(idx, [(0, 0)] + [(p, p) for p in padding], constant_values=-1)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    extra = [max(0, (o - 1) * s + e - L) for o, s, e, L in
             zip(out_spatial, stride, span, idx.shape[1:])]
    idx = np.pad(idx, [(0, 0)] + [(0, e) for e in extra], constant_values=-2)
    win = sliding_window_view(idx, span, axis=tuple(range(1, nd + 1)))
    sel = (slice(None), *(slice(0, o * s, s) for o, s in zip(out_spatial, stride)),
           *(slice(None, None, d) for d in dilation))
    return win[sel]


def _identity(size: int, weight=1.0) -> Connections:
    return _conn(np.arange(size), np.arange(size), weight, size, size)


def _size(shape: Shape) -> int:
    return math.prod(shape)


def _conv_lists(weight: np.ndarray, groups: int, in_shape: Shape, out_shape: Shape,
                stride, padding, dilation) -> Connections:
    """A convolution ``weight`` (C_out, C_in/groups, *kernel) from in_shape to out_shape."""
    w = np.asarray(weight, np.float64)
    co, cig, kernel = w.shape[0], w.shape[1], w.shape[2:]
    nd = len(kernel)
    win = _windows(in_shape, out_shape[1:], kernel, stride, padding, dilation)
    chans = (np.arange(co) // (co // groups))[:, None] * cig + np.arange(cig)[None, :]
    pre = win[chans]  # (C_out, C_in/g, *out, *kernel)
    post = np.arange(_size(out_shape)).reshape(co, 1, *out_shape[1:], *(1,) * nd)
    wb = w.reshape(co, cig, *(1,) * nd, *kernel)
    pre, post, wb = np.broadcast_arrays(pre, post, wb)
    keep = pre >= 0
    return _conn(pre[keep], post[keep], wb[keep], _size(in_shape), _size(out_shape))


# -- handlers --------------------------------------------------------------------------
@EXPAND.register(n.Conv)
def _conv(x: n.Conv, ins: list[Shape], out: Shape) -> Expansion:
    c = _conv_lists(x.weight, x.groups, ins[0], out, x.stride, x.padding, x.dilation)
    return Expansion((c,), _bias(x.bias, out))


@EXPAND.register(n.ConvTranspose)
def _conv_transpose(x: n.ConvTranspose, ins: list[Shape], out: Shape) -> Expansion:
    # the transpose of the convolution with the same weight from the output to the input
    # (its weight layout (C_in, C_out/groups, *kernel) is a convolution's from out to in)
    c = _conv_lists(x.weight, x.groups, out, ins[0], x.stride, x.padding, x.dilation)
    return Expansion((Connections(c.post, c.pre, c.weight, c.n_post, c.n_pre),),
                     _bias(x.bias, out))


@EXPAND.register(n.Dense)
def _dense(x: n.Dense, ins: list[Shape], out: Shape) -> Expansion:
    o, i = x.weight.shape
    c = _conn(np.tile(np.arange(i), o), np.repeat(np.arange(o), i), x.weight.reshape(-1), i, o)
    return Expansion((c,), _bias(x.bias, out))


@EXPAND.register(n.AvgPool)
def _avgpool(x: n.AvgPool, ins: list[Shape], out: Shape) -> Expansion:
    nd = len(x.kernel)
    win = _windows(ins[0], out[1:], x.kernel, x.stride, x.padding, (1,) * nd)
    taps = tuple(range(-nd, 0))
    divisor = (win >= (-1 if x.count_include_pad else 0)).sum(taps, keepdims=True)
    post = np.arange(_size(out)).reshape(out + (1,) * nd)
    pre, post, w = np.broadcast_arrays(win, post, 1.0 / divisor)
    keep = pre >= 0
    return Expansion((_conn(pre[keep], post[keep], w[keep], _size(ins[0]), _size(out)),),
                     np.zeros(_size(out)))


@EXPAND.register(n.GlobalAvgPool)
def _global_avgpool(x: n.GlobalAvgPool, ins: list[Shape], out: Shape) -> Expansion:
    size, area = _size(ins[0]), _size(ins[0][1:])
    c = _conn(np.arange(size), np.arange(size) // area, 1.0 / area, size, out[0])
    return Expansion((c,), np.zeros(out[0]))


@EXPAND.register(n.Upsample)
def _upsample(x: n.Upsample, ins: list[Shape], out: Shape) -> Expansion:
    src = np.arange(_size(ins[0])).reshape(ins[0])
    for ax, f in enumerate(x.scale):
        src = np.repeat(src, f, axis=1 + ax)
    return Expansion((_gather(src, _size(ins[0])),), np.zeros(_size(out)))


@EXPAND.register(n.Pad)
def _pad(x: n.Pad, ins: list[Shape], out: Shape) -> Expansion:
    src = np.arange(_size(ins[0])).reshape(ins[0])
    src = np.pad(src, [(0, 0)] + [(max(a, 0), max(b, 0)) for a, b in x.pads],
                 constant_values=-1)
    crop = tuple(slice(max(-a, 0), src.shape[1 + i] - max(-b, 0))
                 for i, (a, b) in enumerate(x.pads))
    return Expansion((_gather(src[(slice(None), *crop)], _size(ins[0])),), np.zeros(_size(out)))


@EXPAND.register(n.Transpose)
def _transpose(x: n.Transpose, ins: list[Shape], out: Shape) -> Expansion:
    src = np.arange(_size(ins[0])).reshape(ins[0]).transpose([p - 1 for p in x.perm[1:]])
    return Expansion((_gather(src, _size(ins[0])),), np.zeros(_size(out)))


@EXPAND.register(n.Concat)
def _concat(x: n.Concat, ins: list[Shape], out: Shape) -> Expansion:
    target = np.arange(_size(out)).reshape(out)
    cuts = np.cumsum([s[x.axis - 1] for s in ins])[:-1]
    parts = np.split(target, cuts, axis=x.axis - 1)
    lists = tuple(_conn(np.arange(p.size), p, 1.0, p.size, _size(out)) for p in parts)
    return Expansion(lists, np.zeros(_size(out)))


@EXPAND.register(n.Add)
def _add(x: n.Add, ins: list[Shape], out: Shape) -> Expansion:
    return Expansion(tuple(_identity(_size(out)) for _ in ins), np.zeros(_size(out)))


@EXPAND.register(*(t for t in n.NODE_TYPES.values() if t.alias))
def _alias(x: n.Node, ins: list[Shape], out: Shape) -> Expansion:
    return Expansion((_identity(_size(out)),), np.zeros(_size(out)))


@EXPAND.register(n.Scale)
def _scale(x: n.Scale, ins: list[Shape], out: Shape) -> Expansion:
    f = np.asarray(x.factor, np.float64)
    f = f.reshape(f.shape[max(f.ndim - len(out), 0):])  # leading (batch) axes of size 1
    factor = np.broadcast_to(f, out).reshape(-1)
    return Expansion((_identity(_size(out), factor),), np.zeros(_size(out)))


@EXPAND.register(n.BatchNorm)
def _batchnorm(x: n.BatchNorm, ins: list[Shape], out: Shape) -> Expansion:
    return Expansion((_identity(_size(out), _bias(x.scale, out)),), _bias(x.shift, out))
