"""The ONNX op handlers, by op type: registered by frontends/onnx/ops*.py.

A handler gets the conversion context and the ``NodeProto`` and returns the IR node(s)
computing the node's first output, or a string: the IR node it is an alias of (Dropout,
Identity, a bias folded into its producer). It raises :class:`.context.Unsupported`
with a reason when the node, as configured, has no IR equivalent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .context import Ctx

if TYPE_CHECKING:
    import onnx

    from ...ir import nodes as n

Handler = Callable[[Ctx, "onnx.NodeProto"], "n.Node | list[n.Node] | str"]
HANDLERS: dict[str, Handler] = {}


def register(*op_types: str):
    """Register a handler for ONNX op types; registering one twice is an error."""

    def deco(fn: Handler) -> Handler:
        for t in op_types:
            if t in HANDLERS:
                raise ValueError(f"handler for ONNX op {t} registered twice")
            HANDLERS[t] = fn
        return fn

    return deco


def supported_ops() -> list[str]:
    return sorted(HANDLERS)
