"""Graph IR: typed nodes, the Graph, and its serialization. Imports no torch."""

from . import nodes
from .graph import Graph
from .nodes import NODE_TYPES, ResetMode
from .serialize import from_dict, load_bundle, load_graph, save_bundle, save_graph, to_dict

__all__ = ["Graph", "nodes", "NODE_TYPES", "ResetMode", "to_dict", "from_dict", "save_graph",
           "save_bundle", "load_bundle", "load_graph"]
