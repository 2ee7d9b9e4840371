"""ONNX frontend: an ``.onnx`` file or ``onnx.ModelProto`` -> Graph (docs/design.md §1).

The graph is read node by node in the file's (topological) order. Nodes whose inputs
are all constants -- the shape arithmetic exporters emit (Shape, Gather, Unsqueeze,
Concat, Cast, ...) -- are evaluated once with onnx's own reference evaluator and become
constants; ``Shape`` of a data tensor is answered from the IR's inferred shapes, with
the batch axis set to the input's static batch size (1 when it is symbolic). Every other
node goes to a small handler (one per op type). Unsupported nodes are collected and
raised at once as :class:`~ann2snn.errors.UnsupportedLayerError`.

Channels-first (NCHW) only, opset 11 and newer. Layer names are the ONNX node names
(``op_type_index`` where a node has none), made unique.

Modules: :mod:`.context` (the conversion state), :mod:`.registry` (handlers by op type),
:mod:`.ops` and :mod:`.ops_shape` (the handlers, registered on import here),
:mod:`.convert` (the node loop, :func:`from_onnx_model`, :func:`load_onnx`).
"""

from __future__ import annotations

from . import ops, ops_shape  # noqa: F401  (register the op handlers)
from .convert import MIN_OPSET, from_onnx_model, load_onnx
from .registry import HANDLERS, supported_ops

__all__ = ["from_onnx_model", "load_onnx", "supported_ops", "HANDLERS", "MIN_OPSET"]
