"""A spiking Graph -> a NIR graph (and file). The mapping (docs/backends.md, "NIR"):

    Dense        -> Affine (Linear without bias)      Conv -> Conv1d / Conv2d
    AvgPool      -> AvgPool2d                        GlobalAvgPool -> AvgPool2d + Flatten
    Flatten, 1-d Reshape -> Flatten (start_dim 0)    Scale -> Scale (broadcast)
    Add, Identity -> edges (NIR sums the edges into a node)
    IF, reset SUBTRACT -> I(r=1) "<p>.v" -> Threshold(below θ) "<p>" -> Scale(−θ) "<p>.reset"
                          -> back into "<p>.v"
    IF, reset ZERO     -> IF(r=1, v_threshold=below θ, v_reset=0)
    IF, membrane readout (the output) -> I(r=1)

In discrete time with dt = 1 and the recurrent edge read one step later (the usual
reading of a cycle), the I node's v(t) = v(t−1) + I(t) − θ·s(t−1) is ann2snn's membrane
before reset, so every spike is the same (docs/design.md §3).

An integer-mode graph is written with its integers (integer.py): thresholds θ − 1 per
neuron, AvgPool and GlobalAvgPool as SumPool2d (integer mode sums), the input being the
quantized x_int, and the integer-mode record in the metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ... import __version__
from ...errors import Ann2SnnError
from ...files import atomic_path
from ...ir import ResetMode
from ...ir import nodes as n
from ...ir.options import Encoding, coerce
from . import integer as int_mode
from .checks import sources
from .semantics import FORMAT, FORMAT_VERSION, GRAPH_META, below

f32 = np.float32


def _full(shape, value) -> np.ndarray:
    return np.full(tuple(shape), value, dtype=f32)


def _node(nir, x: n.Node, in_shape, out_shape, graph) -> tuple[dict, list, str, str]:
    """NIR nodes for ``x``: ``(nodes, internal edges, entry name, exit name)``."""
    name = x.name
    pool = nir.SumPool2d if graph.quant is not None else nir.AvgPool2d  # integer: sums
    if isinstance(x, n.Dense):
        w = x.weight.astype(f32)
        node = nir.Linear(weight=w) if x.bias is None else \
            nir.Affine(weight=w, bias=x.bias.astype(f32))
        return {name: node}, [], name, name
    if isinstance(x, n.Conv):
        bias = np.zeros(x.weight.shape[0], f32) if x.bias is None else x.bias.astype(f32)
        if x.weight.ndim == 3:
            node = nir.Conv1d(input_shape=int(in_shape[1]), weight=x.weight.astype(f32),
                              stride=int(x.stride[0]), padding=int(x.padding[0]),
                              dilation=int(x.dilation[0]), groups=int(x.groups), bias=bias)
        else:
            node = nir.Conv2d(input_shape=tuple(int(s) for s in in_shape[1:]),
                              weight=x.weight.astype(f32),
                              stride=tuple(int(s) for s in x.stride),
                              padding=tuple(int(s) for s in x.padding),
                              dilation=tuple(int(s) for s in x.dilation),
                              groups=int(x.groups), bias=bias)
        return {name: node}, [], name, name
    if isinstance(x, n.AvgPool):
        node = pool(kernel_size=np.array(x.kernel), stride=np.array(x.stride),
                    padding=np.array(x.padding))
        return {name: node}, [], name, name
    if isinstance(x, n.GlobalAvgPool):
        hw = np.array(in_shape[1:])
        whole = pool(kernel_size=hw, stride=hw, padding=np.zeros(2, int))
        flat = nir.Flatten(input_type={"input": np.array([in_shape[0], 1, 1])}, start_dim=0)
        return {f"{name}.pool": whole, name: flat}, [(f"{name}.pool", name)], \
            f"{name}.pool", name
    if isinstance(x, (n.Flatten, n.Reshape)):
        node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
        return {name: node}, [], name, name
    if isinstance(x, n.Scale):
        factor = np.broadcast_to(x.factor.astype(f32), out_shape).copy()
        return {name: nir.Scale(scale=factor)}, [], name, name
    if isinstance(x, n.IF):
        return _population(nir, x, out_shape, graph)
    raise TypeError(f"no NIR mapping for {x.op} '{name}' (the check should have refused it)")


def _population(nir, x: n.IF, shape, graph) -> tuple[dict, list, str, str]:
    name = x.name
    ones = _full(shape, 1.0)
    if x.membrane_readout:
        return {name: nir.I(r=ones)}, [], name, name
    if graph.quant is not None:  # integer membranes: v >= θ <=> v > θ - 1
        theta = int_mode.thresholds(graph, x, shape)
        fire = theta - np.float32(1)
    else:
        theta = _full(shape, float(x.threshold))
        fire = np.broadcast_to(below(float(x.threshold)), shape).copy()
    if x.reset is ResetMode.ZERO:
        node = nir.IF(r=ones, v_threshold=fire, v_reset=_full(shape, 0.0))
        return {name: node}, [], name, name
    v, reset = f"{name}.v", f"{name}.reset"
    nodes = {v: nir.I(r=ones), name: nir.Threshold(threshold=fire),
             reset: nir.Scale(scale=-theta)}
    return nodes, [(v, name), (name, reset), (reset, v)], v, name


def metadata(graph, encoding: Encoding, timesteps: int | None) -> dict:
    """What a reader needs to reproduce the run (docs/backends.md, "NIR")."""
    norm = graph.meta.get("normalization", {})
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "ann2snn_version": __version__,
        "dt": 1.0, "synaptic_delay": 0, "recurrent_delay": 1,
        "encoding": encoding.value, "readout": graph.readout.value,
        "input_scale": float(norm.get("input_scale", 1.0)),
        "spike_condition": "v >= theta (exported thresholds are the largest float32 below "
                           "theta)",
        "output": graph.output,
        GRAPH_META: json.dumps(graph.meta, default=str),
    }
    if timesteps is not None:
        meta["timesteps"] = int(timesteps)
    if graph.quant is not None:
        meta.update(int_mode.metadata(graph, timesteps))
    return meta


def _unique(name: str, used: set[str]) -> str:
    out, i = name, 1
    while out in used:
        out, i = f"{name}_{i}", i + 1
    return out


def to_nir(snn, *, encoding: Encoding | str = Encoding.ANALOG, timesteps: int | None = None):
    """The ``nir.NIRGraph`` of ``snn`` (an SNN or a spiking Graph; check it first)."""
    import nir

    graph = getattr(snn, "graph", snn).prune()  # what does not reach the output is not written
    encoding = coerce(Encoding, encoding, "encoding")
    src = sources(graph)
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for x in graph:
        if isinstance(x, (n.Add, n.Identity)):
            continue
        if isinstance(x, n.Input):
            nodes[x.name] = nir.Input(input_type={"input": np.array(graph.shapes[x.name])})
            entry[x.name] = exit_[x.name] = x.name
            continue
        in_shape = graph.shapes[x.inputs[0]]
        new, internal, first, last = _node(nir, x, in_shape, graph.shapes[x.name], graph)
        clash = set(new) & (set(nodes) | set(graph.nodes) - {x.name})
        if clash:
            raise ValueError(f"NIR node names {sorted(clash)} of '{x.name}' are taken")
        nodes.update(new)
        edges += internal
        entry[x.name], exit_[x.name] = first, last
        edges += [(exit_[s], first) for i in x.inputs for s in src[i]]
    out = _unique("output", set(nodes))
    nodes[out] = nir.Output(output_type={"output": np.array(graph.output_shape)})
    edges += [(exit_[s], out) for s in src[graph.output]]
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata=metadata(graph, encoding, timesteps), type_check=False)


def export_nir(snn, out: str | os.PathLike, *, encoding: Encoding | str = Encoding.ANALOG,
               timesteps: int | None = None, **_ignored) -> list[Path]:
    """Write ``snn`` to the NIR file ``out`` (atomically); returns ``[out]``."""
    import nir

    out = Path(out)
    if out.is_dir():
        raise Ann2SnnError(f"{out} is a folder; give the file to write, e.g. {out / 'net.nir'}")
    g = to_nir(snn, encoding=encoding, timesteps=timesteps)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        nir.write(tmp, g)
    return [out]
