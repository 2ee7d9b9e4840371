"""The state of one ONNX conversion, shared by the op handlers, and what the handlers
read of an ONNX node (its optional inputs, axes, extra outputs)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConversionError
from ...ir import nodes as n
from ...ir.shapes import infer

if TYPE_CHECKING:
    import onnx

#: Consumers that only read a tensor's shape; they do not keep a layer's output alive.
SHAPE_ONLY = frozenset({"Shape", "Size"})


class Unsupported(Exception):
    """Raised by a handler: this node, as configured, has no IR equivalent (the reason)."""


class Ctx:
    """Conversion state shared by the handlers.

    ``value`` maps an ONNX tensor name to the IR node producing it, ``const`` holds
    every tensor known at conversion time (initializers and folded subgraphs).
    """

    def __init__(self, model: onnx.ModelProto, source: str):
        self.source = source
        self.opset = _default_opset(model)
        self.const: dict[str, np.ndarray] = {}
        self.value: dict[str, str] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.built: list[n.Node] = []
        self._index: dict[str, int] = {}
        self.used: set[str] = set()
        self.batch = 1  #: the batch size Shape ops report (the input's, when static)
        self.base = ""  #: the layer name of the node being converted
        self.consumers: Counter[str] = Counter()
        for node in model.graph.node:
            if node.op_type not in SHAPE_ONLY:
                self.consumers.update(i for i in node.input if i)
        self.consumers.update(o.name for o in model.graph.output)

    # -- reading the ONNX node -------------------------------------------------------
    def attrs(self, node: onnx.NodeProto) -> dict:
        """The node's attributes as Python values (strings decoded)."""
        from onnx import helper

        out = {}
        for a in node.attribute:
            v = helper.get_attribute_value(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        return out

    def const_of(self, name: str) -> np.ndarray | None:
        """The constant value of tensor ``name``, or None ("" means an absent input)."""
        return self.const.get(name) if name else None

    def weight(self, name: str, what: str) -> np.ndarray:
        """A constant as float32, or Unsupported when it is computed at run time."""
        v = self.const_of(name)
        if v is None:
            raise Unsupported(f"its {what} is not a constant")
        return np.array(v, dtype=np.float32)  # a writable copy

    def src(self, name: str) -> str:
        """The IR node producing data tensor ``name``."""
        if name not in self.value:
            raise Unsupported(f"input '{name}' is not a tensor produced by a supported layer")
        return self.value[name]

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape (without batch) of data tensor ``name``."""
        return self.shapes[self.src(name)]

    # -- building IR -------------------------------------------------------------------
    def name(self, suffix: str = "") -> str:
        """A fresh, unique IR name for the current layer (``suffix`` for helper nodes)."""
        base = self.base + suffix
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def add(self, node: n.Node) -> None:
        what = ", ".join(f"'{i}' {self.shapes[i]}" for i in node.inputs) or "its input"
        try:
            self.shapes[node.name] = infer(node, [self.shapes[i] for i in node.inputs], what)
        except ValueError as e:
            raise ConversionError(f"{self.source}: {e}") from None
        self._index[node.name] = len(self.built)
        self.built.append(node)

    def producer(self, ir_name: str) -> n.Node:
        return self.built[self._index[ir_name]]

    def uses(self, ir_name: str) -> int:
        """How many ONNX consumers read the output of IR node ``ir_name`` (via any alias)."""
        return sum(self.consumers[t] for t, v in self.value.items() if v == ir_name)

    def replace(self, new: n.Node) -> None:
        """Swap a built node for an edited copy of itself (same name, same shape)."""
        self.built[self._index[new.name]] = new


def _default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return 0


def unused_extra_outputs(ctx: Ctx, node: onnx.NodeProto) -> None:
    """Only the first output is data; the others (indices, masks, stats) must be unused."""
    for o in node.output[1:]:
        if o and ctx.consumers[o]:
            raise Unsupported(f"its output '{o}' is used; only the first output is supported")


def input_at(node: onnx.NodeProto, i: int) -> str:
    """The name of input ``i``, or "" when the optional input is absent."""
    return node.input[i] if len(node.input) > i else ""


def norm_axis(ax: int, rank: int) -> int:
    """A possibly negative ONNX axis as an index into a shape of ``rank`` (batch included)."""
    return ax + rank if ax < 0 else ax
