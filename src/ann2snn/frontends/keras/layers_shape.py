"""Keras layer handlers, part 2: pooling, resampling, padding, reshaping and merging.

Registered into the same registry (:mod:`.registry`) as :mod:`.layers`, with the same
conventions: IR tensors are channels-first, and ``padding='same'``
follows TensorFlow.
"""

from __future__ import annotations

import numpy as np

from ...ir import nodes as n
from .context import KLayer, Layout, Pads, Shape, Unsupported
from .geometry import check_padding, same_pads, spatial_in, tup
from .registry import register

# --- pooling ------------------------------------------------------------------------------


def _pool_geometry(L: KLayer, nd: int):
    """Pooling window, stride, torch padding, ceil_mode and a leading crop, reproducing
    TensorFlow's 'same' pooling (padded elements never count) with torch's symmetric
    padding: an axis padded (b, b+1) uses padding b and ceil_mode when the stride is
    >= 2, or padding b+1 and drops the first output when the stride is 1."""
    k = tup(L.cfg.get("pool_size", 2), nd)
    s = L.cfg.get("strides")
    s = k if s is None else tup(s, nd)
    size = spatial_in(L, nd)
    mode = str(L.cfg.get("padding", "valid")).lower()
    if mode == "valid":
        return k, s, (0,) * nd, False, ((0, 0),) * nd
    if mode != "same":
        raise Unsupported(f"padding='{mode}'")
    pad, ceil, crop = [], False, []
    for (a, b), st in zip(same_pads(size, k, s), s):
        if a == b:
            pad.append(a)
            crop.append((0, 0))
        elif st == 1:
            pad.append(b)
            crop.append((-1, 0))
        else:
            pad.append(a)
            ceil = True
            crop.append((0, 0))
    return k, s, tuple(pad), ceil, tuple(crop)


def _pool(L: KLayer, nd: int, make) -> list[n.Node]:
    k, s, pad, ceil, crop = _pool_geometry(L, nd)
    if not any(a for a, _ in crop):
        return [make(L.name, k, s, pad, ceil)]
    pool = make(f"{L.name}.pool", k, s, pad, ceil)
    return [pool, n.Pad(L.name, (pool.name,), pads=crop)]


@register("MaxPooling1D", "MaxPooling2D", check=check_padding)
def _maxpool(layout: Layout, L: KLayer):
    nd = 1 if L.kind.endswith("1D") else 2
    return _pool(L, nd, lambda name, k, s, p, c: n.MaxPool(
        name, (L.inputs[0],), kernel=k, stride=s, padding=p, dilation=(1,) * nd, ceil_mode=c))


@register("AveragePooling1D", "AveragePooling2D", check=check_padding)
def _avgpool(layout: Layout, L: KLayer):
    nd = 1 if L.kind.endswith("1D") else 2
    return _pool(L, nd, lambda name, k, s, p, c: n.AvgPool(
        name, (L.inputs[0],), kernel=k, stride=s, padding=p, ceil_mode=c,
        count_include_pad=False))


@register("GlobalAveragePooling1D", "GlobalAveragePooling2D")
def _gap(layout: Layout, L: KLayer):
    shape = L.shapes[0]
    if not L.cfg.get("keepdims", False):
        return [n.GlobalAvgPool(L.name, (L.inputs[0],))]
    gap = n.GlobalAvgPool(f"{L.name}.gap", (L.inputs[0],))
    return [gap, n.Reshape(L.name, (gap.name,), shape=(shape[0],) + (1,) * (len(shape) - 1))]


@register("GlobalMaxPooling1D", "GlobalMaxPooling2D")
def _gmp(layout: Layout, L: KLayer):
    """A MaxPool whose window is the whole map (so the SNN keeps a spiking max pool)."""
    shape = L.shapes[0]
    sp = tuple(shape[1:])
    keep = bool(L.cfg.get("keepdims", False))
    pool = n.MaxPool(L.name if keep else f"{L.name}.pool", (L.inputs[0],), kernel=sp,
                     stride=sp, padding=(0,) * len(sp), dilation=(1,) * len(sp))
    return [pool] if keep else [pool, n.Flatten(L.name, (pool.name,))]


# --- resampling, padding, cropping --------------------------------------------------------


def _check_upsampling(cfg: dict) -> str | None:
    interp = str(cfg.get("interpolation", "nearest")).lower()
    return None if interp == "nearest" else f"interpolation='{interp}'"


@register("UpSampling1D", "UpSampling2D", check=_check_upsampling)
def _upsample(layout: Layout, L: KLayer):
    nd = 1 if L.kind.endswith("1D") else 2
    spatial_in(L, nd)
    return [n.Upsample(L.name, (L.inputs[0],), scale=tup(L.cfg.get("size", 2), nd))]


def _pairs(v, nd: int) -> Pads:
    """Keras padding/cropping spec -> ((before, after), ...) per spatial axis."""
    if isinstance(v, (int, np.integer)):
        return ((int(v), int(v)),) * nd
    v = list(v)
    if nd == 1:
        return ((int(v[0]), int(v[-1])),)
    if all(isinstance(x, (int, np.integer)) for x in v):
        return tuple((int(x), int(x)) for x in v)
    return tuple((int(a), int(b)) for a, b in v)


@register("ZeroPadding1D", "ZeroPadding2D")
def _zeropad(layout: Layout, L: KLayer):
    nd = 1 if L.kind.endswith("1D") else 2
    spatial_in(L, nd)
    return [n.Pad(L.name, (L.inputs[0],), pads=_pairs(L.cfg.get("padding", 1), nd))]


@register("Cropping1D", "Cropping2D")
def _crop(layout: Layout, L: KLayer):
    nd = 1 if L.kind.endswith("1D") else 2
    spatial_in(L, nd)
    pads = _pairs(L.cfg.get("cropping", 1), nd)
    return [n.Pad(L.name, (L.inputs[0],), pads=tuple((-a, -b) for a, b in pads))]


# --- reshaping and merging ----------------------------------------------------------------


def _trivial(perm: tuple[int, ...], full_shape: Shape) -> bool:
    """True when ``perm`` only moves axes of size 1 (so it is a mere reshape)."""
    moved = [p for p in perm if p == 0 or full_shape[p] != 1]
    return moved == sorted(moved)


@register("Flatten")
def _flatten(layout: Layout, L: KLayer):
    """Keras flattens in its own layout ((H, W, C) for channels_last; a channels_first
    Flatten even moves channels last first), so a Transpose precedes the IR Flatten."""
    shape = L.shapes[0]
    rank = len(shape) + 1
    perm = layout.to_keras(rank)
    if L.cfg.get("data_format") == "channels_first" and rank > 2:
        swap = (0, *range(2, rank), 1)
        perm = tuple(perm[i] for i in swap)
    if len(shape) < 2 or _trivial(perm, (0, *shape)):
        return [n.Flatten(L.name, (L.inputs[0],))]
    t = n.Transpose(f"{L.name}.transpose", (L.inputs[0],), perm=perm)
    return [t, n.Flatten(L.name, (t.name,))]


@register("Reshape")
def _reshape(layout: Layout, L: KLayer):
    """Reshape in the Keras layout: IR -> Keras order, reshape, Keras -> IR order."""
    shape = L.shapes[0]
    total = int(np.prod(shape))
    target = [int(x) for x in L.cfg.get("target_shape", ())]
    if target.count(-1) == 1:
        known = int(np.prod([x for x in target if x != -1]))
        target[target.index(-1)] = total // max(known, 1)
    if int(np.prod(target)) != total:
        raise Unsupported(f"cannot reshape {shape} to {tuple(target)}")
    pre = layout.to_keras(len(shape) + 1)
    post = layout.to_ir(len(target) + 1)
    nodes: list[n.Node] = []
    src = L.inputs[0]
    if not _trivial(pre, (0, *shape)):
        nodes.append(n.Transpose(f"{L.name}.transpose_in", (src,), perm=pre))
        src = nodes[-1].name
    ir_target = layout.ir_shape(tuple(target))
    if _trivial(post, (0, *target)):
        return [*nodes, n.Reshape(L.name, (src,), shape=ir_target)]
    nodes.append(n.Reshape(f"{L.name}.reshape", (src,), shape=tuple(target)))
    return [*nodes, n.Transpose(L.name, (nodes[-1].name,), perm=post)]


@register("Concatenate")
def _concat(layout: Layout, L: KLayer):
    rank = len(L.shapes[0]) + 1
    axis = layout.ir_axis(int(L.cfg.get("axis", -1)), rank)
    if axis == 0:
        raise Unsupported("concatenation along the batch axis")
    return [n.Concat(L.name, tuple(L.inputs), axis=axis)]


@register("Add")
def _add(layout: Layout, L: KLayer):
    if len(set(L.shapes)) != 1:
        raise Unsupported(f"adds tensors of different shapes {L.shapes} (broadcasting)")
    return [n.Add(L.name, tuple(L.inputs))]
