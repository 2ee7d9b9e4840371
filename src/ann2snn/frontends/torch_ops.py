"""PyTorch frontend, the ATen handlers: one small function per op, in a registry.

Each handler reads one torch.export node and returns IR node(s), an alias (a str: the
op is a no-op), or None (unsupported with these arguments; reported with the rest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import nodes as n

log = logging.getLogger(__name__)
aten = torch.ops.aten

Handler = Callable[["_Ctx", torch.fx.Node], "n.Node | list[n.Node] | str | None"]
_HANDLERS: dict[object, Handler] = {}


def register(*targets):
    """Register a handler for ATen overloads; registering a target twice is an error."""

    def deco(fn: Handler) -> Handler:
        for t in targets:
            if t in _HANDLERS:
                raise ValueError(f"handler for {t} registered twice")
            _HANDLERS[t] = fn
        return fn

    return deco


def supported_ops() -> list[str]:
    return sorted({str(t).replace("aten.", "").split(".")[0] for t in _HANDLERS})


class _Ctx:
    """Conversion state: constants (parameters), the value -> IR-name map, names used."""

    def __init__(self, ep: torch.export.ExportedProgram):
        self.ep = ep
        sig = ep.graph_signature
        state = dict(ep.state_dict)
        state.update(getattr(ep, "constants", {}) or {})
        self.const: dict[str, torch.Tensor] = {}
        for ph, target in {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                           **getattr(sig, "inputs_to_lifted_tensor_constants", {})}.items():
            self.const[ph] = state[target]
        self.value: dict[str, str] = {}  # fx node name -> IR node name producing it
        self.used: set[str] = set()
        self.module_ops: set[str] = set()
        self.batch: int | None = None

    def arr(self, node) -> np.ndarray | None:
        if node is None:
            return None
        if isinstance(node, torch.fx.Node) and node.name in self.const:
            return self.const[node.name].detach().cpu().double().numpy().astype(np.float32)
        raise ConversionError(f"expected a constant weight, got {node}")

    def _first(self, path: str) -> bool:
        return path not in self.module_ops

    def src(self, node: torch.fx.Node) -> str:
        if not isinstance(node, torch.fx.Node) or node.name not in self.value:
            raise ConversionError(f"'{node}' is not a tensor produced by a supported layer")
        return self.value[node.name]

    def name(self, node: torch.fx.Node, own_module: bool) -> str:
        """IR name: the module path when the op is a torch.nn layer's own (or own_module)."""
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        if stack and not own_module:
            t = list(stack.values())[-1][1]
            t = t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}"
            own_module = t.startswith("torch.nn.modules.") and self._first(path)
        path = path.replace("L['self'].", "").replace("L__self___", "")
        base = path if (own_module and path) else (f"{path}.{node.name}" if path else node.name)
        name, k = base, 1
        self.module_ops.add(path)
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def _module_type(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        t = list(stack.values())[-1][1]
        t = t if isinstance(t, str) else getattr(t, "__name__", str(t))
        return t.rsplit(".", 1)[-1]
    return ""


def _pair(v, nd: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * nd
    v = tuple(int(x) for x in v)
    return v * nd if len(v) == 1 else v


def _arg(node, i, key, default):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


@register(aten.conv1d.default, aten.conv2d.default, aten.conv1d.padding, aten.conv2d.padding,
          aten.convolution.default)
def _conv(ctx: _Ctx, node):
    x, w = node.args[0], ctx.arr(node.args[1])
    b = ctx.arr(_arg(node, 2, "bias", None))
    nd = w.ndim - 2
    if node.target is aten.convolution.default:
        stride, padding, dilation, transposed, out_pad, groups = node.args[3:9]
        if transposed:
            return n.ConvTranspose(ctx.name(node, True), (ctx.src(x),), weight=w, bias=b,
                                   stride=_pair(stride, nd), padding=_pair(padding, nd),
                                   output_padding=_pair(out_pad, nd),
                                   dilation=_pair(dilation, nd), groups=int(groups))
    else:
        stride = _arg(node, 3, "stride", 1)
        padding = _arg(node, 4, "padding", 0)
        dilation = _arg(node, 5, "dilation", 1)
        groups = _arg(node, 6, "groups", 1)
    dilation = _pair(dilation, nd)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        else:  # "same" with stride 1: symmetric when the total padding is even
            tot = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
            if any(t % 2 for t in tot):
                raise ConversionError(f"{node.name}: padding='same' with an even kernel "
                                      "is asymmetric; pad explicitly with nn.ZeroPad2d")
            padding = [t // 2 for t in tot]
    return n.Conv(ctx.name(node, True), (ctx.src(x),), weight=w, bias=b,
                  stride=_pair(stride, nd), padding=_pair(padding, nd), dilation=dilation,
                  groups=int(groups))


@register(aten.conv_transpose1d.default, aten.conv_transpose2d.input)
def _conv_t(ctx: _Ctx, node):
    w = ctx.arr(node.args[1])
    nd = w.ndim - 2
    return n.ConvTranspose(
        ctx.name(node, True), (ctx.src(node.args[0]),), weight=w,
        bias=ctx.arr(_arg(node, 2, "bias", None)), stride=_pair(_arg(node, 3, "stride", 1), nd),
        padding=_pair(_arg(node, 4, "padding", 0), nd),
        output_padding=_pair(_arg(node, 5, "output_padding", 0), nd),
        groups=int(_arg(node, 6, "groups", 1)), dilation=_pair(_arg(node, 7, "dilation", 1), nd))


@register(aten.linear.default)
def _linear(ctx: _Ctx, node):
    return n.Dense(ctx.name(node, True), (ctx.src(node.args[0]),), weight=ctx.arr(node.args[1]),
                   bias=ctx.arr(_arg(node, 2, "bias", None)))


@register(aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default)
def _bn(ctx: _Ctx, node):
    x, w, b, mean, var = node.args[:5]
    if node.target is aten.batch_norm.default:
        training, eps = node.args[5], node.args[7]
        if training:
            raise ConversionError(
                f"{ctx.name(node, True)}: batch norm runs in training mode; call model.eval() "
                "before converting")
    else:
        eps = node.args[6]
    mean, var = ctx.arr(mean), ctx.arr(var)
    gamma = ctx.arr(w) if w is not None else np.ones_like(mean)
    beta = ctx.arr(b) if b is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(var.astype(np.float64) + eps)
    shift = beta - mean * scale
    return n.BatchNorm(ctx.name(node, True), (ctx.src(x),), scale=scale.astype(np.float32),
                       shift=shift.astype(np.float32))


@register(aten.relu.default, aten.relu_.default)
def _relu(ctx: _Ctx, node):
    return n.ReLU(ctx.name(node, _module_type(node) == "ReLU"), (ctx.src(node.args[0]),))


@register(aten.hardtanh.default, aten.hardtanh_.default, aten.clamp.default)
def _clip(ctx: _Ctx, node):
    lo = _arg(node, 1, "min_val" if "hardtanh" in str(node.target) else "min", -1.0)
    hi = _arg(node, 2, "max_val" if "hardtanh" in str(node.target) else "max", 1.0)
    if lo is None or float(lo) != 0.0:
        return None
    return n.ReLU(ctx.name(node, True), (ctx.src(node.args[0]),),
                  max_value=None if hi is None else float(hi))


@register(aten.add.Tensor, aten.add_.Tensor)
def _add(ctx: _Ctx, node):
    a, b = node.args[:2]
    if not (isinstance(a, torch.fx.Node) and isinstance(b, torch.fx.Node)):
        return None
    if node.kwargs.get("alpha", 1) != 1 or a.name in ctx.const or b.name in ctx.const:
        return None
    return n.Add(ctx.name(node, False), (ctx.src(a), ctx.src(b)))


@register(aten.max_pool1d.default, aten.max_pool2d.default,
          aten.max_pool2d_with_indices.default)
def _maxpool(ctx: _Ctx, node):
    k = node.args[1]
    nd = len(k) if not isinstance(k, int) else (1 if "1d" in str(node.target) else 2)
    k = _pair(k, nd)
    stride = _arg(node, 2, "stride", None) or k
    return n.MaxPool(ctx.name(node, True), (ctx.src(node.args[0]),), kernel=k,
                     stride=_pair(stride, nd), padding=_pair(_arg(node, 3, "padding", 0), nd),
                     dilation=_pair(_arg(node, 4, "dilation", 1), nd),
                     ceil_mode=bool(_arg(node, 5, "ceil_mode", False)))


@register(aten.avg_pool1d.default, aten.avg_pool2d.default)
def _avgpool(ctx: _Ctx, node):
    k = node.args[1]
    nd = 1 if "1d" in str(node.target) else 2
    k = _pair(k, nd)
    stride = _arg(node, 2, "stride", None) or k
    if len(node.args) > 6 and node.args[6] is not None:
        return None  # divisor_override
    return n.AvgPool(ctx.name(node, True), (ctx.src(node.args[0]),), kernel=k,
                     stride=_pair(stride, nd), padding=_pair(_arg(node, 3, "padding", 0), nd),
                     ceil_mode=bool(_arg(node, 4, "ceil_mode", False)),
                     count_include_pad=bool(_arg(node, 5, "count_include_pad", True)))


@register(aten.adaptive_avg_pool1d.default, aten.adaptive_avg_pool2d.default,
          aten._adaptive_avg_pool2d.default, aten.mean.dim)
def _gap(ctx: _Ctx, node):
    src = ctx.src(node.args[0])
    shape = tuple(node.args[0].meta["val"].shape[1:])
    if node.target is aten.mean.dim:
        dims = sorted(d % (len(shape) + 1) for d in node.args[1])
        if dims != list(range(2, len(shape) + 1)):
            return None
        keep = bool(_arg(node, 2, "keepdim", False))
    else:
        outs = _pair(node.args[1], len(shape) - 1)
        if any(int(s) != 1 for s in outs):
            if any(i % o for i, o in zip(shape[1:], outs)):
                return None  # not a plain pooling: windows overlap or differ in size
            k = tuple(i // o for i, o in zip(shape[1:], outs))
            return n.AvgPool(ctx.name(node, True), (src,), kernel=k, stride=k,
                             padding=(0,) * len(k))
        keep = True
    name = ctx.name(node, True)
    if not keep:
        return n.GlobalAvgPool(name, (src,))
    return [n.GlobalAvgPool(name + ".gap", (src,)),
            n.Reshape(name, (name + ".gap",), shape=(shape[0],) + (1,) * (len(shape) - 1))]


@register(aten.flatten.using_ints)
def _flatten(ctx: _Ctx, node):
    start = _arg(node, 1, "start_dim", 0)
    end = _arg(node, 2, "end_dim", -1)
    rank = len(node.args[0].meta["val"].shape)
    if start % rank == 0:
        raise ConversionError(f"{node.name}: flattening the batch axis is not supported; "
                              "use torch.flatten(x, 1)")
    if start % rank == 1 and end % rank == rank - 1:
        return n.Flatten(ctx.name(node, False), (ctx.src(node.args[0]),))
    return _reshape_to(ctx, node)


def _reshape_to(ctx: _Ctx, node):
    out = tuple(int(s) for s in node.meta["val"].shape)
    inp = tuple(int(s) for s in node.args[0].meta["val"].shape)
    if out[0] != inp[0]:
        raise ConversionError(f"{node.name}: reshape {inp} -> {out} mixes the batch axis with "
                              "others; keep the batch axis first")
    return n.Reshape(ctx.name(node, False), (ctx.src(node.args[0]),), shape=out[1:])


register(aten.view.default, aten.reshape.default, aten._unsafe_view.default,
         aten.unflatten.int)(_reshape_to)


@register(aten.dropout.default, aten.dropout_.default, aten.clone.default,
          aten.contiguous.default, aten.alias.default, aten.detach.default,
          aten.feature_dropout.default, aten.native_dropout.default)
def _identity(ctx: _Ctx, node):
    return ctx.src(node.args[0])  # alias: no node


@register(aten.cat.default)
def _cat(ctx: _Ctx, node):
    tensors = node.args[0]
    dim = _arg(node, 1, "dim", 0)
    rank = len(node.meta["val"].shape)
    return n.Concat(ctx.name(node, False), tuple(ctx.src(t) for t in tensors), axis=dim % rank)


@register(aten.softmax.int, aten._softmax.default)
def _softmax(ctx: _Ctx, node):
    rank = len(node.meta["val"].shape)
    if node.args[1] % rank != rank - 1:
        return None
    return n.Softmax(ctx.name(node, False), (ctx.src(node.args[0]),))


@register(aten.upsample_nearest2d.vec, aten.upsample_nearest2d.default,
          aten.upsample_nearest1d.vec)
def _upsample(ctx: _Ctx, node):
    inp = tuple(node.args[0].meta["val"].shape[2:])
    out = tuple(node.meta["val"].shape[2:])
    if any(o % i for o, i in zip(out, inp)):
        return None
    return n.Upsample(ctx.name(node, True), (ctx.src(node.args[0]),),
                      scale=tuple(o // i for o, i in zip(out, inp)))


@register(aten.constant_pad_nd.default, aten.pad.default)
def _pad(ctx: _Ctx, node):
    pad = list(node.args[1])
    value = _arg(node, 3 if node.target is aten.pad.default else 2, "value", 0) or 0
    if node.target is aten.pad.default and _arg(node, 2, "mode", "constant") != "constant":
        return None
    if value != 0:
        return None
    rank = len(node.meta["val"].shape)
    nsp = rank - 2
    pads = [(0, 0)] * nsp
    for i in range(len(pad) // 2):  # torch order: last axis first
        axis = nsp - 1 - i
        if axis < 0:
            return None
        pads[axis] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return n.Pad(ctx.name(node, True), (ctx.src(node.args[0]),), pads=tuple(pads))


@register(aten.permute.default)
def _permute(ctx: _Ctx, node):
    rank = len(node.meta["val"].shape)
    perm = tuple(int(p) % rank for p in node.args[1])
    return n.Transpose(ctx.name(node, False), (ctx.src(node.args[0]),), perm=perm)


def _getitem(ctx: _Ctx, node):
    src, idx = node.args
    if idx != 0:  # max_pool2d_with_indices / batch_norm: only the first output is data
        if any(u.op != "output" for u in node.users) and node.users:
            return None
        return "__unused__"
    return ctx.src(src)
