"""ONNX op handlers: the weighted layers, activations and pooling.

The ops that move data around (reshapes, Concat, Add, Pad, Resize, ...) are in
:mod:`.ops_shape`; the handler contract is in :mod:`.registry`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...ir import nodes as n
from .context import Ctx, Unsupported, input_at, norm_axis, unused_extra_outputs
from .registry import register

if TYPE_CHECKING:
    import onnx


# --- windows: kernel, strides, pads (Conv and pooling) ------------------------------------


def _window(ctx: Ctx, node: onnx.NodeProto, spatial: tuple[int, ...],
            kernel: tuple[int, ...]):
    """Strides, dilations and (begin, end) pads per spatial axis, auto_pad resolved."""
    a = ctx.attrs(node)
    nd = len(spatial)
    strides = tuple(a.get("strides", [1] * nd))
    dil = tuple(a.get("dilations", [1] * nd))
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dil):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto == "SAME_UPPER" else (big, small))
    else:
        pads = _explicit_pads(a, auto, nd)
    return strides, dil, pads


def _split_pads(pads) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Symmetric part (for the op itself) and the rest (for a separate Pad node)."""
    sym = tuple(min(b, e) for b, e in pads)
    rest = tuple((b - s, e - s) for (b, e), s in zip(pads, sym))
    return sym, rest


def _explicit_pads(a: dict, auto: str, nd: int) -> list[tuple[int, int]]:
    """(begin, end) per spatial axis for auto_pad VALID or NOTSET (the ``pads`` attribute)."""
    if auto == "VALID":
        return [(0, 0)] * nd
    if auto == "NOTSET":
        p = list(a.get("pads", [0] * 2 * nd))
        return list(zip(p[:nd], p[nd:]))
    raise Unsupported(f"auto_pad={auto}")


# --- weighted layers ---------------------------------------------------------------------


def _conv_inputs(ctx: Ctx, node, what: str):
    """(input name, weight, bias or None, spatial dims) of a Conv or ConvTranspose."""
    w = ctx.weight(node.input[1], "weight")
    b = ctx.weight(node.input[2], "bias") if input_at(node, 2) else None
    nd = w.ndim - 2
    if nd not in (1, 2):
        raise Unsupported(f"{nd}-d {what} (only 1-d and 2-d)")
    return node.input[0], w, b, nd


@register("Conv")
def _conv(ctx: Ctx, node):
    x, w, b, _ = _conv_inputs(ctx, node, "convolution")
    stride, dil, pads = _window(ctx, node, ctx.shape(x)[1:], w.shape[2:])
    sym, rest = _split_pads(pads)
    src, out = ctx.src(x), []
    if any(r != (0, 0) for r in rest):  # asymmetric padding: pad first, then convolve
        out.append(n.Pad(ctx.name(".pad"), (src,), pads=rest))
        src = out[-1].name
    out.append(n.Conv(ctx.name(), (src,), weight=w, bias=b, stride=stride, padding=sym,
                      dilation=dil, groups=int(ctx.attrs(node).get("group", 1))))
    return out


@register("ConvTranspose")
def _conv_t(ctx: Ctx, node):
    x, w, b, nd = _conv_inputs(ctx, node, "transposed convolution")
    a = ctx.attrs(node)
    spatial, kernel = ctx.shape(x)[1:], w.shape[2:]
    stride = tuple(a.get("strides", [1] * nd))
    dil = tuple(a.get("dilations", [1] * nd))
    opad = tuple(a.get("output_padding", [0] * nd))
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = a.get("output_shape") or [s * st for s, st in zip(spatial, stride)]
        target = list(target)[-nd:]
        pads = []
        for i in range(nd):
            total = (stride[i] * (spatial[i] - 1) + opad[i] + (kernel[i] - 1) * dil[i] + 1
                     - target[i])
            if total < 0:
                raise Unsupported(f"output_shape {target} is larger than the full output")
            half = total // 2
            pads.append((half, total - half) if auto == "SAME_UPPER" else (total - half, half))
    else:
        pads = _explicit_pads(a, auto, nd)
    if any(o >= max(s, d) for o, s, d in zip(opad, stride, dil)):
        raise Unsupported(f"output_padding {opad} must be smaller than stride or dilation")
    sym, rest = _split_pads(pads)
    conv = n.ConvTranspose(ctx.name(), (ctx.src(x),), weight=w, bias=b, stride=stride,
                           padding=sym, output_padding=opad, dilation=dil,
                           groups=int(a.get("group", 1)))
    if all(r == (0, 0) for r in rest):
        return conv
    crop = tuple((-bb, -ee) for bb, ee in rest)  # asymmetric: crop the extra afterwards
    return [conv, n.Pad(ctx.name(".crop"), (conv.name,), pads=crop)]


def _dense(ctx: Ctx, x: str, w: np.ndarray, b: np.ndarray | None) -> n.Dense:
    shape = ctx.shape(x)
    if len(shape) != 1:
        raise Unsupported(f"its input has shape {shape}; a Dense layer needs a flat input "
                          "(flatten first)")
    return n.Dense(ctx.name(), (ctx.src(x),), weight=np.ascontiguousarray(w), bias=b)


@register("Gemm")
def _gemm(ctx: Ctx, node):
    a = ctx.attrs(node)
    if a.get("transA", 0):
        raise Unsupported("transA=1")
    w = ctx.weight(node.input[1], "weight (B)")
    if w.ndim != 2:
        raise Unsupported(f"weight of shape {w.shape}")
    w = (w if a.get("transB", 0) else w.T) * np.float32(a.get("alpha", 1.0))
    b = None
    if input_at(node, 2):
        c = ctx.weight(node.input[2], "bias (C)") * np.float32(a.get("beta", 1.0))
        try:
            b = np.broadcast_to(c, (1, w.shape[0]))[0].copy()
        except ValueError:
            raise Unsupported(f"bias C of shape {c.shape} is not per output unit") from None
    return _dense(ctx, node.input[0], w, b)


@register("MatMul")
def _matmul(ctx: Ctx, node):
    w = ctx.weight(node.input[1], "right operand")
    if w.ndim != 2:
        raise Unsupported(f"right operand of shape {w.shape}; only x @ W with a 2-d W")
    return _dense(ctx, node.input[0], w.T, None)


@register("BatchNormalization")
def _bn(ctx: Ctx, node):
    a = ctx.attrs(node)
    if a.get("training_mode", 0):
        raise Unsupported("training_mode=1; export the model in eval mode")
    unused_extra_outputs(ctx, node)
    gamma, beta, mean, var = (ctx.weight(node.input[i], w) for i, w in
                              enumerate(("scale", "bias", "mean", "var"), start=1))
    scale = gamma / np.sqrt(var.astype(np.float64) + a.get("epsilon", 1e-5))
    shift = beta - mean * scale
    return n.BatchNorm(ctx.name(), (ctx.src(node.input[0]),), scale=scale.astype(np.float32),
                       shift=shift.astype(np.float32))


# --- activations -------------------------------------------------------------------------


@register("Relu")
def _relu(ctx: Ctx, node):
    return n.ReLU(ctx.name(), (ctx.src(node.input[0]),))


@register("Clip")
def _clip(ctx: Ctx, node):
    a = ctx.attrs(node)

    def bound(i: int, key: str) -> float | None:
        if input_at(node, i):
            return float(ctx.weight(node.input[i], key))
        return a.get(key)  # opset < 11 attributes

    lo, hi = bound(1, "min"), bound(2, "max")
    if lo != 0.0:
        raise Unsupported(f"min={lo}; only Clip(min=0) is a ReLU")
    return n.ReLU(ctx.name(), (ctx.src(node.input[0]),), max_value=hi)


@register("Softmax")
def _softmax(ctx: Ctx, node):
    rank = len(ctx.shape(node.input[0])) + 1
    ax = ctx.attrs(node).get("axis", -1 if ctx.opset >= 13 else 1)
    if norm_axis(ax, rank) != rank - 1:
        raise Unsupported(f"axis={ax}; only softmax over the last axis")
    return n.Softmax(ctx.name(), (ctx.src(node.input[0]),))


# --- pooling -----------------------------------------------------------------------------


def _pool_args(ctx: Ctx, node):
    a = ctx.attrs(node)
    x = node.input[0]
    spatial = ctx.shape(x)[1:]
    kernel = tuple(a["kernel_shape"])
    if len(kernel) not in (1, 2) or len(kernel) != len(spatial):
        raise Unsupported(f"{len(kernel)}-d pooling on input {ctx.shape(x)}")
    stride, dil, pads = _window(ctx, node, spatial, kernel)
    sym, rest = _split_pads(pads)
    if any(2 * p > k for p, k in zip(sym, kernel)):
        raise Unsupported(f"padding {sym} larger than half the kernel {kernel}")
    return a, x, kernel, stride, dil, sym, rest


@register("MaxPool")
def _maxpool(ctx: Ctx, node):
    unused_extra_outputs(ctx, node)
    a, x, kernel, stride, dil, sym, rest = _pool_args(ctx, node)
    if any(r != (0, 0) for r in rest):
        raise Unsupported("asymmetric padding (pad with -inf has no IR equivalent)")
    return n.MaxPool(ctx.name(), (ctx.src(x),), kernel=kernel, stride=stride, padding=sym,
                     dilation=dil, ceil_mode=bool(a.get("ceil_mode", 0)))


@register("AveragePool")
def _avgpool(ctx: Ctx, node):
    a, x, kernel, stride, dil, sym, rest = _pool_args(ctx, node)
    if any(d != 1 for d in dil):
        raise Unsupported(f"dilations {dil}")
    include = bool(a.get("count_include_pad", 0))
    ceil = bool(a.get("ceil_mode", 0))
    src, out = ctx.src(x), []
    if any(r != (0, 0) for r in rest):
        if not include or ceil:
            raise Unsupported("asymmetric padding (only with count_include_pad=1, ceil_mode=0)")
        out.append(n.Pad(ctx.name(".pad"), (src,), pads=rest))
        src = out[-1].name
    out.append(n.AvgPool(ctx.name(), (src,), kernel=kernel, stride=stride, padding=sym,
                         count_include_pad=include, ceil_mode=ceil))
    return out


def _gap(ctx: Ctx, x: str, keepdims: bool):
    shape = ctx.shape(x)
    if len(shape) < 2:
        raise Unsupported(f"global pooling of a flat input {shape}")
    gap = n.GlobalAvgPool(ctx.name(), (ctx.src(x),))
    if not keepdims:
        return gap
    return [gap, n.Reshape(ctx.name(".reshape"), (gap.name,),
                           shape=(shape[0],) + (1,) * (len(shape) - 1))]


@register("GlobalAveragePool")
def _global_avg(ctx: Ctx, node):
    return _gap(ctx, node.input[0], keepdims=True)


@register("ReduceMean")
def _reduce_mean(ctx: Ctx, node):
    """ReduceMean over every spatial axis is a global average pool (torch.mean(x, (2, 3)))."""
    a = ctx.attrs(node)
    rank = len(ctx.shape(node.input[0])) + 1
    axes = a.get("axes")
    if input_at(node, 1):  # opset 18: axes is an input
        axes = ctx.const_of(node.input[1])
        if axes is None:
            raise Unsupported("axes are computed at run time")
    if axes is None or sorted(norm_axis(int(x), rank) for x in axes) != list(range(2, rank)):
        raise Unsupported(f"axes={None if axes is None else list(axes)}; only the mean over "
                          "all spatial axes")
    return _gap(ctx, node.input[0], bool(a.get("keepdims", 1)))
