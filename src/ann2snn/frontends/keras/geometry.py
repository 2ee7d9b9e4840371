"""Window geometry shared by the Keras handlers: tuples of sizes, TensorFlow's
``padding='same'`` (the odd extra pixel at the end), explicit Pad nodes."""

from __future__ import annotations

import math

import numpy as np

from ...ir import nodes as n
from .context import KLayer, Pads, Shape, Unsupported


def tup(v, nd: int) -> tuple[int, ...]:
    if v is None:
        return (1,) * nd
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    v = tuple(int(x) for x in v)
    return v * nd if len(v) == 1 else v


def same_pads(size: Shape, k_eff: Shape, stride: Shape) -> Pads:
    """TensorFlow 'same' padding per axis: total = max((ceil(i/s)-1)*s + k - i, 0),
    before = total // 2, the extra pixel after."""
    out = []
    for i, k, s in zip(size, k_eff, stride):
        total = max((math.ceil(i / s) - 1) * s + k - i, 0)
        out.append((total // 2, total - total // 2))
    return tuple(out)


def layer_pads(L: KLayer, size: Shape, k_eff: Shape, stride: Shape) -> Pads:
    """The pads of a layer's ``padding`` (valid, same or causal) per spatial axis."""
    mode = str(L.cfg.get("padding", "valid")).lower()
    if mode == "valid":
        return ((0, 0),) * len(size)
    if mode == "same":
        return same_pads(size, k_eff, stride)
    if mode == "causal":
        return tuple((k - 1, 0) for k in k_eff)
    raise Unsupported(f"padding='{mode}'")


def pad_then(L: KLayer, pads: Pads) -> tuple[list[n.Node], str, tuple[int, ...]]:
    """Symmetric pads go into the op; otherwise an explicit Pad node comes first."""
    if all(a == b for a, b in pads):
        return [], L.inputs[0], tuple(a for a, _ in pads)
    pad = n.Pad(f"{L.name}.pad", (L.inputs[0],), pads=pads)
    return [pad], pad.name, (0,) * len(pads)


def check_padding(cfg: dict) -> str | None:
    mode = str(cfg.get("padding", "valid")).lower()
    return None if mode in ("valid", "same", "causal") else f"padding='{mode}'"


def spatial_in(L: KLayer, nd: int) -> Shape:
    shape = L.shapes[0]
    if len(shape) != nd + 1:
        raise Unsupported(f"expects a {nd + 2}-d input, got shape {(None, *shape)}")
    return shape[1:]
