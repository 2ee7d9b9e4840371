"""What a spiking Graph must satisfy to go to NIR, beyond its node types (no nir import:
the backend checks a network before the package is needed)."""

from __future__ import annotations

from ...ir import nodes as n
from ..base import Problem

#: node types the NIR export maps (others are refused with a hint, base.NODE_HINTS/HINTS)
NODES = frozenset({n.Input, n.Conv, n.Dense, n.AvgPool, n.GlobalAvgPool, n.Flatten,
                   n.Reshape, n.Add, n.Identity, n.Scale, n.IF})

#: what to do instead of a node type NIR has no node for
HINTS = {
    "Concat": "NIR has no concatenation node; join the branches with an addition, or "
              "export the branches as separate networks",
    "Upsample": "NIR has no upsampling node; remove it from the model",
    "ConvTranspose": "NIR has no transposed convolution; use Conv layers",
    "Pad": "NIR has no padding node; use the padding of the next convolution",
    "Transpose": "NIR has no transpose node; flatten in channels-first order instead",
    "SpikingMaxPool": "NIR has no max pooling; convert with max_to_avg_pool=True "
                      "(CLI: convert --max-to-avg)",
    "MaxPool": "NIR has no max pooling; convert with max_to_avg_pool=True "
               "(CLI: convert --max-to-avg)",
}


def _names(xs) -> str:
    return ", ".join(f"'{x.name}'" for x in xs)


def problems(graph) -> list[Problem]:
    """Every instance-level reason ``graph`` cannot be written as NIR, all at once."""
    out: list[Problem] = []
    graph = graph.prune()  # only what reaches the output is written

    def add(bad, text, hint):
        if bad:
            out.append(Problem(f"{_names(bad)}: {text}", hint,
                               tuple((x.name, x.op) for x in bad)))

    nodes = list(graph)
    shapes = graph.shapes
    if len(graph.inputs) > 1:
        out.append(Problem(f"{len(graph.inputs)} inputs ({', '.join(graph.inputs)}): NIR "
                           "readers take one input", "export a network with one input"))
    pools = [x for x in nodes if isinstance(x, n.AvgPool)]
    add([x for x in pools if len(x.kernel) != 2], "1-d average pooling: NIR has AvgPool2d "
        "only", "use 2-d pooling, or a grouped Conv1d with weights 1/k")
    add([x for x in pools if x.ceil_mode or (not x.count_include_pad and any(x.padding))],
        "average pooling with ceil_mode or count_include_pad=False: NIR's AvgPool2d divides "
        "by the full window", "use count_include_pad=True and ceil_mode=False")
    add([x for x in nodes if isinstance(x, n.GlobalAvgPool)
         and len(shapes[x.inputs[0]]) != 3],
        "global average pooling of a non-2-d input: NIR has AvgPool2d only", "use 2-d data")
    add([x for x in nodes if isinstance(x, n.Reshape) and len(x.shape) != 1],
        "reshape to a shape of more than one axis: NIR has Flatten only",
        "flatten instead")
    pops = [x for x in nodes if isinstance(x, n.IF)]
    add([x for x in pops if x.multi_spike > 1], "multi-spike populations: NIR neurons emit "
        "one spike per step at most", "convert with multi_spike=1")
    add([x for x in pops if x.leak], "leaky populations (leak > 0) are not exported",
        "use leak=0")
    add([x for x in pops if x.v0], "v0 != 0: NIR neurons start at v = 0 (no initial state)",
        "convert with v0=0 (CLI: convert --v0 0)")
    add([x for x in pops if x.membrane_readout and x.name != graph.output],
        "a membrane-readout population that is not the output", "read the membrane only "
        "at the output")
    out.extend(_duplicate_sums(graph))
    return out


def sources(graph) -> dict[str, list[str]]:
    """Per node, the nodes whose outputs sum to its value once Add and Identity are
    edges (NIR sums the edges into a node)."""
    src: dict[str, list[str]] = {}
    for x in graph:
        if isinstance(x, n.Add):
            src[x.name] = [s for i in x.inputs for s in src[i]]
        elif isinstance(x, n.Identity):
            src[x.name] = src[x.inputs[0]]
        else:
            src[x.name] = [x.name]
    return src


def _duplicate_sums(graph) -> list[Problem]:
    src = sources(graph)
    bad = [x for x in graph if isinstance(x, n.Add) and len(set(src[x.name])) < len(src[x.name])]
    if not bad:
        return []
    return [Problem(f"{_names(bad)}: adds the same tensor more than once; NIR edges are a "
                    "set, so the sum cannot be written", "scale the branch (a Scale node) "
                    "instead of adding it twice", tuple((x.name, x.op) for x in bad))]
