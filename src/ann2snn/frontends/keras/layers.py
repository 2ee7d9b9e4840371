"""Keras layer handlers: one small function per Keras layer type -> IR nodes.

This module: convolutions, Dense, BatchNormalization and activations; pooling,
resampling, padding, reshaping and merging are in :mod:`.layers_shape`.

Each handler reads a layer's config (``layer.get_config()``), its weights
(``layer.get_weights()``) and the IR shapes of its inputs, and returns the IR nodes
that compute it (the last one is the layer's output), or the name of an existing IR
value when the layer is the identity at inference (Dropout). Handlers know nothing of
Keras objects, so the same code serves a live ``keras.Model`` and a loaded file.

Layout. The IR is channels-first. When the Keras model is ``channels_last``, every
image-like tensor (rank >= 3 with the batch axis) is held in the IR transposed:
``IR = keras.permute(to_ir)``, ``to_ir = (0, r-1, 1, ..., r-2)``. Kernels are
transposed to torch's layout; axes (Concatenate, BatchNormalization, Softmax) are
mapped; Flatten and Reshape get explicit Transpose nodes where the element order
differs, so the weights of a following Dense layer stay valid. ``padding='same'``
follows TensorFlow: the odd extra pixel goes at the end, and pooling averages over
the valid elements only.
"""

from __future__ import annotations

import logging

import numpy as np

from ...ir import nodes as n
from .context import KLayer, Layout, Shape, Unsupported
from .geometry import check_padding, layer_pads, pad_then, spatial_in, tup
from .registry import register

log = logging.getLogger(__name__)

# --- activations and weights ------------------------------------------------------------


def _act_name(act) -> str | None:
    if act is None:
        return None
    if isinstance(act, str):
        return act.lower()
    if isinstance(act, dict):  # a serialized activation object
        inner = act.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
        return str(name or act.get("class_name", act)).lower()
    return str(act).lower()


_ACTS = ("relu", "relu6", "softmax", "linear", None)


def _check_activation(cfg: dict) -> str | None:
    act = _act_name(cfg.get("activation"))
    if act not in _ACTS:
        return f"activation '{act}' (supported: relu, relu6, softmax, linear)"
    return None


def _softmax_ok(layout: Layout, ndim: int, axis: int) -> bool:
    """The IR softmax runs over the last axis; is that Keras axis ``axis``?"""
    return layout.ir_axis(axis, ndim + 1) == ndim


def _activation(layout: Layout, L: KLayer, nodes: list[n.Node], ndim: int,
                act=None) -> list[n.Node]:
    """Append the node of a fused ``activation=`` (named ``<layer>.relu`` / ``.softmax``)."""
    act = _act_name(L.cfg.get("activation") if act is None else act)
    src = (nodes[-1].name,)
    if act in (None, "linear"):
        return nodes
    if act in ("relu", "relu6"):
        return [*nodes, n.ReLU(f"{L.name}.relu", src, max_value=6.0 if act == "relu6" else None)]
    if act == "softmax":
        if not _softmax_ok(layout, ndim, -1):
            raise Unsupported("softmax over the channels of an image tensor")
        return [*nodes, n.Softmax(f"{L.name}.softmax", src)]
    raise Unsupported(f"activation '{act}'")


def _check_conv(cfg: dict) -> str | None:
    return check_padding(cfg) or _check_activation(cfg)


def _bias(L: KLayer, i: int) -> np.ndarray | None:
    if L.cfg.get("use_bias", True) and len(L.weights) > i:
        return np.asarray(L.weights[i], np.float32)
    return None


def _kernel_to_ir(kernel: np.ndarray) -> np.ndarray:
    """Keras conv kernel (*k, C_in/g, C_out) -> IR (C_out, C_in/g, *k)."""
    nd = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (nd + 1, nd, *range(nd)))).astype(np.float32)


def _depthwise_to_ir(kernel: np.ndarray) -> np.ndarray:
    """Keras depthwise kernel (*k, C_in, M) -> IR (C_in*M, 1, *k); channel c*M+m."""
    ks = kernel.shape[:-2]
    flat = kernel.reshape(*ks, -1)
    return np.ascontiguousarray(np.moveaxis(flat, -1, 0)[:, None]).astype(np.float32)


# --- convolutions -----------------------------------------------------------------------


def _conv_geometry(L: KLayer, nd: int, ks: Shape):
    stride = tup(L.cfg.get("strides", 1), nd)
    dil = tup(L.cfg.get("dilation_rate", 1), nd)
    k_eff = tuple(d * (k - 1) + 1 for d, k in zip(dil, ks))
    pads = layer_pads(L, spatial_in(L, nd), k_eff, stride)
    return stride, dil, pads


@register("Conv1D", "Conv2D", check=_check_conv)
def _conv(layout: Layout, L: KLayer):
    kernel = np.asarray(L.weights[0])
    nd = kernel.ndim - 2
    stride, dil, pads = _conv_geometry(L, nd, kernel.shape[:nd])
    groups = int(L.cfg.get("groups", 1) or 1)
    nodes, src, padding = pad_then(L, pads)
    conv = n.Conv(L.name, (src,), weight=_kernel_to_ir(kernel), bias=_bias(L, 1), stride=stride,
                  padding=padding, dilation=dil, groups=groups)
    return _activation(layout, L, [*nodes, conv], nd + 1)


@register("DepthwiseConv1D", "DepthwiseConv2D", check=_check_conv)
def _depthwise(layout: Layout, L: KLayer):
    kernel = np.asarray(L.weights[0])
    nd = kernel.ndim - 2
    stride, dil, pads = _conv_geometry(L, nd, kernel.shape[:nd])
    nodes, src, padding = pad_then(L, pads)
    conv = n.Conv(L.name, (src,), weight=_depthwise_to_ir(kernel), bias=_bias(L, 1),
                  stride=stride, padding=padding, dilation=dil, groups=kernel.shape[-2])
    return _activation(layout, L, [*nodes, conv], nd + 1)


@register("SeparableConv1D", "SeparableConv2D", check=_check_conv)
def _separable(layout: Layout, L: KLayer):
    """Depthwise conv (``<name>.depthwise``, no bias) then the 1x1 pointwise conv."""
    dw, pw = np.asarray(L.weights[0]), np.asarray(L.weights[1])
    nd = dw.ndim - 2
    stride, dil, pads = _conv_geometry(L, nd, dw.shape[:nd])
    nodes, src, padding = pad_then(L, pads)
    depth = n.Conv(f"{L.name}.depthwise", (src,), weight=_depthwise_to_ir(dw), bias=None,
                   stride=stride, padding=padding, dilation=dil, groups=dw.shape[-2])
    point = n.Conv(L.name, (depth.name,), weight=_kernel_to_ir(pw), bias=_bias(L, 2),
                   stride=(1,) * nd, padding=(0,) * nd, dilation=(1,) * nd)
    return _activation(layout, L, [*nodes, depth, point], nd + 1)


def _check_conv_t(cfg: dict) -> str | None:
    mode = str(cfg.get("padding", "valid")).lower()
    if mode not in ("valid", "same"):
        return f"padding='{mode}'"
    return _check_activation(cfg)


@register("Conv1DTranspose", "Conv2DTranspose", check=_check_conv_t)
def _conv_transpose(layout: Layout, L: KLayer):
    """Keras' output window of the full transposed convolution, as torch padding,
    output_padding and (when the window ends early) a crop at the end."""
    kernel = np.asarray(L.weights[0])  # (*k, C_out, C_in)
    nd = kernel.ndim - 2
    ks = kernel.shape[:nd]
    size = spatial_in(L, nd)
    stride = tup(L.cfg.get("strides", 1), nd)
    dil = tup(L.cfg.get("dilation_rate", 1), nd)
    opad = L.cfg.get("output_padding")
    opad = None if opad is None else tup(opad, nd)
    same = str(L.cfg.get("padding", "valid")).lower() == "same"
    pads, outpads, crops = [], [], []
    for ax in range(nd):
        k = dil[ax] * (ks[ax] - 1) + 1
        s, i = stride[ax], size[ax]
        op = None if opad is None else opad[ax]
        if not same:  # output (i-1)*s + k + op, window starts at 0
            out = (i - 1) * s + k + (max(k, s) - k if op is None else op)
            left = 0
        else:  # as keras.src.backend.common.backend_utils (JAX/TF convention)
            out = i * s if op is None else (i - 1) * s + k % 2 + op
            pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
            left = (k - 1) - min(pad_len // 2 + pad_len % 2, k - 1)
        full = (i - 1) * s + k
        extra = out + 2 * left - full  # torch output_padding that would give `out`
        if extra >= max(s, dil[ax]):
            raise Unsupported(f"output size {out} needs output_padding {extra} >= stride {s}")
        pads.append(left)
        outpads.append(max(extra, 0))
        crops.append((0, min(extra, 0)))
    w = np.ascontiguousarray(np.transpose(kernel, (nd + 1, nd, *range(nd)))).astype(np.float32)
    name = L.name if not any(c for _, c in crops) else f"{L.name}.full"
    nodes: list[n.Node] = [n.ConvTranspose(name, (L.inputs[0],), weight=w, bias=_bias(L, 1),
                                           stride=stride, padding=tuple(pads),
                                           output_padding=tuple(outpads), dilation=dil)]
    if name != L.name:
        nodes.append(n.Pad(L.name, (name,), pads=tuple(crops)))
    return _activation(layout, L, nodes, nd + 1)


@register("Dense", check=_check_activation)
def _dense(layout: Layout, L: KLayer):
    if len(L.shapes[0]) != 1:
        raise Unsupported(f"Dense on a {len(L.shapes[0]) + 1}-d input (applied per position); "
                          "add a Flatten before it")
    kernel = np.asarray(L.weights[0], np.float32)
    dense = n.Dense(L.name, (L.inputs[0],), weight=np.ascontiguousarray(kernel.T),
                    bias=_bias(L, 1))
    return _activation(layout, L, [dense], 1)


# --- normalization and activations --------------------------------------------------------


@register("BatchNormalization")
def _batchnorm(layout: Layout, L: KLayer):
    """``y = gamma (x - mean) / sqrt(var + eps) + beta`` as scale/shift per channel."""
    axis = L.cfg.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise Unsupported(f"normalizes over several axes {axis}")
        axis = axis[0]
    rank = len(L.shapes[0]) + 1
    if layout.ir_axis(int(axis), rank) != 1:
        raise Unsupported(f"axis={axis} is not the channel axis")
    w = [np.asarray(x, np.float64) for x in L.weights]
    gamma = w.pop(0) if L.cfg.get("scale", True) else None
    beta = w.pop(0) if L.cfg.get("center", True) else None
    mean, var = w[0], w[1]
    eps = float(L.cfg.get("epsilon", 1e-3))
    scale = (gamma if gamma is not None else 1.0) / np.sqrt(var + eps)
    shift = (beta if beta is not None else 0.0) - mean * scale
    return [n.BatchNorm(L.name, (L.inputs[0],), scale=scale.astype(np.float32),
                        shift=shift.astype(np.float32))]


def _check_relu(cfg: dict) -> str | None:
    slope = float(cfg.get("negative_slope", cfg.get("alpha", 0.0)) or 0.0)
    thr = float(cfg.get("threshold", 0.0) or 0.0)
    if slope != 0.0:
        return f"negative_slope={slope:g} (leaky)"
    if thr != 0.0:
        return f"threshold={thr:g}"
    return None


@register("ReLU", check=_check_relu)
def _relu(layout: Layout, L: KLayer):
    mv = L.cfg.get("max_value")
    return [n.ReLU(L.name, (L.inputs[0],), max_value=None if mv is None else float(mv))]


@register("Activation", check=_check_activation)
def _activation_layer(layout: Layout, L: KLayer):
    act = _act_name(L.cfg.get("activation"))
    if act in (None, "linear"):
        return L.inputs[0]
    if act == "softmax":
        if not _softmax_ok(layout, len(L.shapes[0]), -1):
            raise Unsupported("softmax over the channels of an image tensor")
        return [n.Softmax(L.name, (L.inputs[0],))]
    return [n.ReLU(L.name, (L.inputs[0],), max_value=6.0 if act == "relu6" else None)]


@register("Softmax")
def _softmax(layout: Layout, L: KLayer):
    axis = L.cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or not _softmax_ok(layout, len(L.shapes[0]), axis):
        raise Unsupported(f"softmax over axis {axis}; only the last (class) axis is supported")
    return [n.Softmax(L.name, (L.inputs[0],))]


@register("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout",
          "GaussianNoise", "AlphaDropout", "ActivityRegularization", "Identity")
def _identity(layout: Layout, L: KLayer):
    return L.inputs[0]  # the identity at inference: no node


# The remaining handlers (pooling, padding, reshaping, merging) register themselves:
