"""The Graph: a DAG of typed nodes with one or more inputs and one output."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np

from . import nodes as n
from .options import Readout
from .quant import QuantInfo
from .shapes import infer

_SAME = object()  # replace(): keep the graph's QuantInfo


class Graph:
    """An immutable-by-convention DAG of :mod:`ann2snn.ir.nodes`.

    Nodes are kept in topological order; ``shapes[name]`` is each node's output shape
    (without batch), inferred and checked at construction. ``meta`` holds free-form,
    JSON-serializable facts about the graph (source file, normalization scales, ...);
    ``quant`` is the integer-mode record of a quantized graph (ir/quant.py), else None.
    """

    def __init__(self, nodes: Iterable[n.Node], output: str | None = None,
                 meta: dict | None = None, quant: QuantInfo | None = None):
        node_list = list(nodes)
        by_name: dict[str, n.Node] = {}
        for node in node_list:
            if node.name in by_name:
                raise ValueError(f"two nodes are named '{node.name}'")
            by_name[node.name] = node
        for node in node_list:
            for i in node.inputs:
                if i not in by_name:
                    raise ValueError(f"{node.op} '{node.name}' reads '{i}', which is not a node")
        self.nodes: dict[str, n.Node] = {x.name: x for x in _toposort(node_list, by_name)}
        if not self.inputs:
            raise ValueError("graph has no Input node")
        self.output = output if output is not None else node_list[-1].name
        if self.output not in self.nodes:
            raise ValueError(f"output '{self.output}' is not a node")
        self.meta = dict(meta or {})
        if "quant" in self.meta:
            raise ValueError("integer mode is Graph.quant (a QuantInfo), not meta['quant']")
        self.quant = quant
        self.shapes: dict[str, tuple[int, ...]] = {}
        for node in self.nodes.values():
            ins = [self.shapes[i] for i in node.inputs]
            what = ", ".join(f"'{i}' {self.shapes[i]}" for i in node.inputs) or "its input"
            self.shapes[node.name] = infer(node, ins, what)
            for key, arr in node.arrays().items():
                if not np.all(np.isfinite(arr)):
                    from ..errors import ConversionError

                    raise ConversionError(
                        f"{node.op} '{node.name}' has NaN or Inf in its {key}; "
                        "check the trained model"
                    )

    # -- queries -----------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return [k for k, v in self.nodes.items() if isinstance(v, n.Input)]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.inputs[0]]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[self.output]

    @property
    def readout(self) -> Readout:
        """What a spiking graph's prediction is read from: the membrane of a non-spiking
        output layer, else the output's spike counts."""
        out = self.nodes[self.output]
        return Readout.MEMBRANE if getattr(out, "membrane_readout", False) \
            else Readout.SPIKE_COUNT

    def __getitem__(self, name: str) -> n.Node:
        return self.nodes[name]

    def __iter__(self) -> Iterator[n.Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def consumers(self, name: str) -> list[n.Node]:
        return [x for x in self.nodes.values() if name in x.inputs]

    def of_type(self, *types: type) -> list[n.Node]:
        return [x for x in self.nodes.values() if isinstance(x, types)]

    # -- editing (returns new graphs) ---------------------------------------------
    def replace(self, nodes: Iterable[n.Node], output: str | None = None,
                meta: dict | None = None, quant=_SAME) -> Graph:
        """A graph of ``nodes``; output, meta and quant are this one's unless given."""
        return Graph(nodes, output or self.output, self.meta if meta is None else meta,
                     self.quant if quant is _SAME else quant)

    def prune(self) -> Graph:
        """Drop nodes that do not contribute to the output."""
        keep: set[str] = set()
        stack = [self.output]
        while stack:
            k = stack.pop()
            if k not in keep:
                keep.add(k)
                stack.extend(self.nodes[k].inputs)
        return self.replace([x for x in self if x.name in keep or isinstance(x, n.Input)])

    def bypass(self, name: str) -> Graph:
        """Remove the single-input node ``name``, wiring its consumers to its input."""
        node = self.nodes[name]
        (src,) = node.inputs
        out = []
        for x in self:
            if x.name == name:
                continue
            if name in x.inputs:
                x = dataclasses.replace(x, inputs=tuple(src if i == name else i for i in x.inputs))
            out.append(x)
        return self.replace(out, output=src if self.output == name else self.output)

    def summary(self) -> list[dict]:
        """One row per node: name, type, output shape, parameter count."""
        rows = []
        for x in self:
            params = sum(int(a.size) for a in x.arrays().values())
            rows.append({"name": x.name, "type": x.op, "shape": self.shapes[x.name],
                         "params": params})
        return rows


def _toposort(node_list: list[n.Node], by_name: dict[str, n.Node]) -> list[n.Node]:
    order: list[n.Node] = []
    state: dict[str, int] = {}
    for root in node_list:
        if root.name in state:
            continue
        stack = [(root.name, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(by_name[name])
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise ValueError(f"graph has a cycle through '{name}'")
            state[name] = 1
            stack.append((name, True))
            for i in reversed(by_name[name].inputs):
                if state.get(i) != 2:
                    if state.get(i) == 1:
                        raise ValueError(f"graph has a cycle through '{i}'")
                    stack.append((i, False))
    return order
