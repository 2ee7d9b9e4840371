"""Graph IR: typed nodes, the Graph, and its serialization. Imports no torch."""

from . import facts, nodes
from .graph import Graph
from .nodes import NODE_TYPES
from .options import (
    Encoding,
    NormMethod,
    QuantScale,
    Readout,
    ResetMode,
    SoftmaxReadout,
    SynapticDelay,
    coerce,
)
from .quant import QuantInfo, is_quantized
from .registry import MissingHandler, Registry
from .serialize import from_dict, load_bundle, load_graph, save_bundle, save_graph, to_dict

__all__ = ["Graph", "nodes", "facts", "NODE_TYPES", "ResetMode", "Encoding", "NormMethod",
           "QuantScale", "Readout", "SoftmaxReadout", "coerce", "Registry", "MissingHandler",
           "QuantInfo", "is_quantized", "to_dict", "from_dict", "save_graph", "save_bundle",
           "load_bundle", "load_graph"]
__all__ += ["SynapticDelay"]
