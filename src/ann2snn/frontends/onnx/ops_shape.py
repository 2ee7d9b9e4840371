"""Handlers for the ONNX ops that move data around (see :mod:`.registry`, :mod:`.ops`).

Reshape-like ops (Reshape, Flatten, Squeeze, Unsqueeze), Transpose, Concat, Add (of two
tensors, or of a constant folded into the producing layer's bias), Pad, Resize,
Dropout and Identity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...ir import nodes as n
from .context import Ctx, Unsupported, input_at, norm_axis, unused_extra_outputs
from .registry import register


def _reshape(ctx: Ctx, x: str, shape: tuple[int, ...]):
    """Reshape data tensor ``x`` to ``shape`` (no batch); an alias when nothing changes."""
    old = ctx.shape(x)
    if tuple(shape) == old:
        return ctx.src(x)
    if len(shape) == 1 and len(old) > 1:
        return n.Flatten(ctx.name(), (ctx.src(x),))
    return n.Reshape(ctx.name(), (ctx.src(x),), shape=tuple(int(s) for s in shape))


@register("Reshape")
def _reshape_op(ctx: Ctx, node):
    x = node.input[0]
    target = ctx.const_of(node.input[1])
    if target is None:
        raise Unsupported("its target shape is computed at run time")
    old = (ctx.batch, *ctx.shape(x))
    t = [int(v) for v in target.reshape(-1)]
    if not ctx.attrs(node).get("allowzero", 0):
        t = [old[i] if v == 0 and i < len(old) else v for i, v in enumerate(t)]
    total = int(np.prod(old[1:]))
    rest = t[1:]
    if rest.count(-1) == 1:
        known = int(np.prod([v for v in rest if v != -1]))
        rest[rest.index(-1)] = total // known if known and total % known == 0 else -2
    if not t or t[0] not in (ctx.batch, -1) or int(np.prod(rest)) != total or -1 in rest:
        raise Unsupported(f"reshape {list(old)} -> {[int(v) for v in target.reshape(-1)]} "
                          "mixes the batch axis with others (the batch axis must stay first)")
    return _reshape(ctx, x, tuple(rest))


@register("Flatten")
def _flatten(ctx: Ctx, node):
    shape = ctx.shape(node.input[0])
    ax = norm_axis(ctx.attrs(node).get("axis", 1), len(shape) + 1)
    if ax != 1:
        raise Unsupported(f"axis={ax}; only Flatten(axis=1) keeps the batch axis apart")
    return _reshape(ctx, node.input[0], (int(np.prod(shape)),))


def _axes(ctx: Ctx, node) -> list[int] | None:
    if input_at(node, 1):  # opset 13: axes is an input
        axes = ctx.const_of(node.input[1])
        if axes is None:
            raise Unsupported("axes are computed at run time")
        return [int(v) for v in axes.reshape(-1)]
    axes = ctx.attrs(node).get("axes")
    return None if axes is None else [int(v) for v in axes]


@register("Squeeze")
def _squeeze(ctx: Ctx, node):
    shape = ctx.shape(node.input[0])
    axes = _axes(ctx, node)
    rank = len(shape) + 1
    drop = ({i for i in range(1, rank) if shape[i - 1] == 1} if axes is None
            else {norm_axis(v, rank) for v in axes})
    if 0 in drop or any(shape[i - 1] != 1 for i in drop):
        raise Unsupported(f"axes {axes} are not size-1 non-batch axes of {shape}")
    return _reshape(ctx, node.input[0], tuple(s for i, s in enumerate(shape, 1) if i not in drop))


@register("Unsqueeze")
def _unsqueeze(ctx: Ctx, node):
    shape = list(ctx.shape(node.input[0]))
    axes = _axes(ctx, node)
    rank = len(shape) + 1 + len(axes or [])
    full = [None] + shape
    for v in sorted(norm_axis(v, rank) for v in axes or []):
        if v == 0:
            raise Unsupported("unsqueezing before the batch axis")
        full.insert(v, 1)
    return _reshape(ctx, node.input[0], tuple(full[1:]))


@register("Transpose")
def _transpose(ctx: Ctx, node):
    rank = len(ctx.shape(node.input[0])) + 1
    perm = tuple(int(p) for p in ctx.attrs(node).get("perm", range(rank - 1, -1, -1)))
    if perm[0] != 0:
        raise Unsupported(f"perm={list(perm)} moves the batch axis")
    if perm == tuple(range(rank)):
        return ctx.src(node.input[0])
    return n.Transpose(ctx.name(), (ctx.src(node.input[0]),), perm=perm)


@register("Concat")
def _concat(ctx: Ctx, node):
    ins = [i for i in node.input if i]
    if any(ctx.const_of(i) is not None for i in ins):
        raise Unsupported("concatenating a constant tensor")
    ax = norm_axis(int(ctx.attrs(node)["axis"]), len(ctx.shape(ins[0])) + 1)
    if ax == 0:
        raise Unsupported("concatenation along the batch axis")
    return n.Concat(ctx.name(), tuple(ctx.src(i) for i in ins), axis=ax)


@register("Add")
def _add(ctx: Ctx, node):
    a, b = node.input[0], node.input[1]
    ca, cb = ctx.const_of(a), ctx.const_of(b)
    if ca is None and cb is None:
        if ctx.shape(a) != ctx.shape(b):
            raise Unsupported(f"broadcasting {ctx.shape(a)} + {ctx.shape(b)}")
        return n.Add(ctx.name(), (ctx.src(a), ctx.src(b)))
    x, c = (a, cb) if cb is not None else (b, ca)
    return _fold_bias(ctx, x, np.asarray(c, dtype=np.float32))


def _fold_bias(ctx: Ctx, x: str, c: np.ndarray) -> str:
    """``x + c`` for a constant ``c``: add ``c`` to the bias of the layer producing ``x``."""
    src = ctx.src(x)
    prod = ctx.producer(src)
    shape = ctx.shape(x)
    if not (prod.weighted or isinstance(prod, n.BatchNorm)) or ctx.uses(src) != 1:
        raise Unsupported(f"adding a constant to the output of {prod.op} '{src}'; only the "
                          "bias of a Dense/Conv/BatchNorm used nowhere else can absorb it")
    try:
        if np.broadcast_shapes(c.shape, (1, *shape)) != (1, *shape):
            raise ValueError
        full = np.broadcast_to(c, (1, *shape))[0]
    except ValueError:
        raise Unsupported(f"constant of shape {c.shape} does not fit {shape}") from None
    per_channel = full.reshape(shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        full = per_channel[:, 0]
    elif not isinstance(prod, n.Conv):
        raise Unsupported(f"constant of shape {c.shape} is not per channel")
    if isinstance(prod, n.BatchNorm):
        new = dataclasses.replace(prod, shift=(prod.shift + full).astype(np.float32))
    else:
        old = prod.bias if prod.bias is not None else np.zeros(shape[0], np.float32)
        if old.ndim < full.ndim:
            old = old.reshape(old.shape + (1,) * (full.ndim - old.ndim))
        new = dataclasses.replace(prod, bias=(old + full).astype(np.float32))
    ctx.replace(new)
    return src


@register("Pad")
def _pad(ctx: Ctx, node):
    a = ctx.attrs(node)
    if a.get("mode", "constant") != "constant":
        raise Unsupported(f"mode={a['mode']}; only constant (zero) padding")
    if input_at(node, 1):
        pads = ctx.const_of(node.input[1])
        if pads is None:
            raise Unsupported("pads are computed at run time")
    else:
        pads = a.get("pads")
    value = ctx.const_of(input_at(node, 2)) if input_at(node, 2) else a.get("value", 0.0)
    if value is None or np.any(np.asarray(value) != 0):
        raise Unsupported(f"padding value {value}; only zeros")
    rank = len(ctx.shape(node.input[0])) + 1
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank))
    if input_at(node, 3):  # opset 18: axes
        ax = ctx.const_of(node.input[3])
        if ax is None:
            raise Unsupported("axes are computed at run time")
        axes = [norm_axis(int(v), rank) for v in ax.reshape(-1)]
    per_axis = dict.fromkeys(range(rank), (0, 0))
    for i, ax in enumerate(axes):
        per_axis[ax] = (pads[i], pads[i + len(axes)])
    if per_axis[0] != (0, 0) or per_axis[1] != (0, 0):
        raise Unsupported(f"pads {pads} touch the batch or channel axis")
    return n.Pad(ctx.name(), (ctx.src(node.input[0]),),
                 pads=tuple(per_axis[i] for i in range(2, rank)))


#: (coordinate_transformation_mode, nearest_mode) pairs that equal floor(out / scale)
#: for integer scales (the spec's formulas, worked out for x_out = q*s + r).
_NEAREST_OK = {("asymmetric", "floor"), ("tf_half_pixel_for_nn", "floor"),
               ("half_pixel", "round_prefer_floor"), ("half_pixel", "round_prefer_ceil"),
               ("pytorch_half_pixel", "round_prefer_floor"),
               ("pytorch_half_pixel", "round_prefer_ceil")}


@register("Resize")
def _resize(ctx: Ctx, node):
    a = ctx.attrs(node)
    x = node.input[0]
    full = (ctx.batch, *ctx.shape(x))
    if a.get("mode", "nearest") != "nearest":
        raise Unsupported(f"mode={a['mode']}; only nearest")
    ct = a.get("coordinate_transformation_mode", "half_pixel")
    nm = a.get("nearest_mode", "round_prefer_floor")
    if (ct, nm) not in _NEAREST_OK:
        raise Unsupported(f"coordinate_transformation_mode={ct} with nearest_mode={nm}")
    scales, sizes = ctx.const_of(input_at(node, 2)), ctx.const_of(input_at(node, 3))
    axes = [norm_axis(int(v), len(full)) for v in a.get("axes", range(len(full)))]
    if scales is not None and scales.size:
        factors = [float(v) for v in scales.reshape(-1)]
    elif sizes is not None and sizes.size:
        if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Unsupported(f"keep_aspect_ratio_policy={a['keep_aspect_ratio_policy']}")
        factors = [int(s) / full[ax] for s, ax in zip(sizes.reshape(-1), axes)]
    else:
        raise Unsupported("its scales/sizes are computed at run time")
    per_axis = dict.fromkeys(range(len(full)), 1.0)
    per_axis.update(zip(axes, factors))
    if per_axis[0] != 1 or per_axis[1] != 1:
        raise Unsupported(f"scales {factors} resize the batch or channel axis")
    spatial = [per_axis[i] for i in range(2, len(full))]
    if any(f < 1 or f != int(f) for f in spatial):
        raise Unsupported(f"scales {spatial}; only integer upsampling factors")
    if all(f == 1 for f in spatial):
        return ctx.src(x)
    return n.Upsample(ctx.name(), (ctx.src(x),), scale=tuple(int(f) for f in spatial))


@register("Dropout")
def _dropout(ctx: Ctx, node):
    unused_extra_outputs(ctx, node)
    if input_at(node, 2):
        mode = ctx.const_of(node.input[2])
        if mode is None or bool(mode):
            raise Unsupported("training_mode is not constant False")
    return ctx.src(node.input[0])


@register("Identity")
def _identity(ctx: Ctx, node):
    return ctx.src(node.input[0])
