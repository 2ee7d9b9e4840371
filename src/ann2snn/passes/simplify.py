"""Canonicalization: drop identities, move max pooling after its ReLU."""

from __future__ import annotations

import dataclasses

from ..ir import Graph
from ..ir import nodes as n


def remove_identities(graph: Graph) -> Graph:
    """Bypass Identity nodes (Dropout at inference)."""
    for node in graph.of_type(n.Identity):
        graph = graph.bypass(node.name)
    return graph


def relu_before_maxpool(graph: Graph) -> Graph:
    """Rewrite ``MaxPool -> ReLU`` as ``ReLU -> MaxPool`` (equal: max commutes with ReLU).

    The ReLU then sits where a spiking population can feed a spiking max pool.
    """
    changed = True
    while changed:
        changed = False
        for pool in graph.of_type(n.MaxPool):
            users = graph.consumers(pool.name)
            if len(users) != 1 or not users[0].rectifier:  # max commutes with QCFS too
                continue
            (src,) = pool.inputs
            if len(graph.consumers(src)) != 1 or isinstance(graph[src], n.Input):
                continue
            relu = users[0]
            new = []
            for x in graph:
                if x.name == pool.name:
                    new.append(dataclasses.replace(relu, inputs=(src,)))
                    new.append(dataclasses.replace(pool, inputs=(relu.name,)))
                elif x.name == relu.name:
                    continue
                else:
                    new.append(dataclasses.replace(
                        x, inputs=tuple(pool.name if i == relu.name else i for i in x.inputs)))
            out = pool.name if graph.output == relu.name else graph.output
            graph = graph.replace(new, output=out)
            changed = True
            break
    return graph


def max_to_avg(graph: Graph) -> Graph:
    """Replace every MaxPool by an AvgPool of the same window (snntoolbox max2avg_pool)."""
    new = []
    for x in graph:
        if isinstance(x, n.MaxPool):
            if any(d != 1 for d in x.dilation):
                from ..errors import ConversionError

                raise ConversionError(f"MaxPool '{x.name}' is dilated; it cannot become AvgPool")
            x = n.AvgPool(x.name, x.inputs, kernel=x.kernel, stride=x.stride, padding=x.padding,
                          count_include_pad=False, ceil_mode=x.ceil_mode)
        new.append(x)
    return graph.replace(new)
