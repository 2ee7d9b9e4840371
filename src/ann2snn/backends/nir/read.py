"""A NIR file -> a spiking Graph the built-in simulator runs (the inverse of export.py).

Populations are recognised by structure: ``I -> Threshold -> Scale(−θ) -> back into the
I`` is an IF with reset by subtraction; NIR's ``IF`` (``v_reset = 0``) an IF with reset to
zero; an ``I`` feeding the output a membrane readout. NIR fires on ``v > t``: a threshold
``t`` becomes ann2snn's θ = the smallest float32 over ``t`` (semantics.py), exact for
float32 membranes. Several edges into a node become an Add. Everything ann2snn cannot
run exactly (LIF, CubaLIF, LI, Delay, nested graphs, ``r != 1``, a reset other than 0)
is refused, all nodes at once, naming each.

A file ann2snn wrote from an integer-mode network (metadata ``arithmetic = "integer"``,
integer.py) is read back as one: θ = threshold + 1 (integer membranes), per-channel
thresholds kept, SumPool2d as integer mode's window sum, and ``graph.quant`` from the
metadata, so the integer simulator runs it spike for spike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...errors import ModelFileError
from ...ir import Graph, ResetMode
from ...ir import nodes as n
from ...ir.quant import QuantInfo, threshold_fields
from .semantics import FORMAT, GRAPH_META, above

f32 = np.float32


class _Refuse(Exception):
    """One NIR node ann2snn cannot read exactly (collected, then raised together)."""


def _pair(v, k: int = 2) -> tuple[int, ...]:
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    return tuple(int(x) for x in (np.repeat(a, k) if a.size == 1 else a))


def _uniform(arr, what: str) -> float:
    a = np.asarray(arr, dtype=f32).ravel()
    if a.size == 0 or not np.all(a == a[0]):
        raise _Refuse(f"{what} differs between neurons; ann2snn's IF has one value per "
                      "population")
    return float(a[0])


def _ones(node, what: str) -> None:
    if not np.all(np.asarray(node.r) == 1):
        raise _Refuse(f"{what}: r != 1 (ann2snn integrates the current itself; scale the "
                      "incoming weights by r instead)")


def _int_thresholds(fire, reset, what: str) -> dict:
    """IF fields of an integer population whose NIR threshold is ``fire`` (θ − 1 per
    neuron) and whose reset edge is ``reset`` (−θ per neuron; None: reset to zero)."""
    theta = np.asarray(fire, np.float64) + 1
    if reset is not None and not np.array_equal(-np.asarray(reset, np.float64), theta):
        raise _Refuse(f"{what}: the reset (Scale) is not minus the threshold + 1 of an "
                      "integer population")
    per = theta.reshape(theta.shape[0], -1) if theta.ndim > 0 else theta.reshape(1, 1)
    if not np.all(per == per[:, :1]) or not np.all(per == np.rint(per)):
        raise _Refuse(f"{what}: thresholds differ within a channel, or are not integers; "
                      "integer mode has one threshold per population or per channel")
    ch = per[:, 0]
    return threshold_fields(ch if np.any(ch != ch[0]) else ch[:1])


def _populations(nir, nodes, preds, succs) -> dict[str, tuple[str, str, str]]:
    """Threshold name -> (I, Threshold, Scale) of every reset-by-subtraction loop."""
    found = {}
    for t, node in nodes.items():
        if not isinstance(node, nir.Threshold) or len(preds[t]) != 1:
            continue
        v = preds[t][0]
        if not isinstance(nodes[v], nir.I):
            continue
        loops = [s for s in succs[t] if isinstance(nodes[s], nir.Scale)
                 and preds[s] == [t] and succs[s] == [v]]
        if len(loops) == 1:
            found[t] = (v, t, loops[0])
    return found


def _padding(p, kernel, dilation, stride, name: str) -> tuple[int, ...]:
    if isinstance(p, str):
        if p == "valid":
            return (0,) * len(kernel)
        eff = [(k - 1) * d for k, d in zip(kernel, dilation)]
        if any(s != 1 for s in stride) or any(e % 2 for e in eff):
            raise _Refuse(f"padding 'same' with stride {stride} or an even kernel is "
                          "asymmetric; ann2snn pads symmetrically")
        return tuple(e // 2 for e in eff)
    return _pair(p, len(kernel))


def _map(nir, name, node, inputs, integer: bool = False) -> list[n.Node]:
    """The ann2snn nodes of one NIR node reading ``inputs``; the last one is ``name``
    (``integer``: a file of an integer-mode network, whose pools are sums)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight, f32)
        if w.ndim != 2:
            raise _Refuse(f"weight of shape {w.shape}: ann2snn's Dense is 2-d")
        bias = np.asarray(node.bias, f32) if isinstance(node, nir.Affine) else None
        return [n.Dense(name, inputs, weight=w, bias=bias)]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w = np.asarray(node.weight, f32)
        k = len(w.shape) - 2
        stride, dilation = _pair(node.stride, k), _pair(node.dilation, k)
        pad = _padding(node.padding, w.shape[2:], dilation, stride, name)
        bias = None if node.bias is None else np.asarray(node.bias, f32)
        return [n.Conv(name, inputs, weight=w, bias=bias, stride=stride, padding=pad,
                       dilation=dilation, groups=int(node.groups))]
    if isinstance(node, nir.AvgPool2d):
        return [n.AvgPool(name, inputs, kernel=_pair(node.kernel_size),
                          stride=_pair(node.stride), padding=_pair(node.padding))]
    if isinstance(node, nir.SumPool2d) and integer:  # integer mode's AvgPool is the sum
        return [n.AvgPool(name, inputs, kernel=_pair(node.kernel_size),
                          stride=_pair(node.stride), padding=_pair(node.padding))]
    if isinstance(node, nir.SumPool2d):  # the window sum: its average times the window size
        k = _pair(node.kernel_size)
        avg = n.AvgPool(f"{name}.avg", inputs, kernel=k, stride=_pair(node.stride),
                        padding=_pair(node.padding))
        return [avg, n.Scale(name, (avg.name,), factor=np.full((1, 1, 1), k[0] * k[1], f32))]
    if isinstance(node, nir.Flatten):
        out = node.output_type.get("output")
        if node.start_dim == 0 and node.end_dim == -1 or (out is not None and len(out) == 1):
            return [n.Flatten(name, inputs)]
        if out is None:
            raise _Refuse(f"Flatten(start_dim={node.start_dim}, end_dim={node.end_dim}) "
                          "without an input type")
        return [n.Reshape(name, inputs, shape=tuple(int(s) for s in out))]
    if isinstance(node, nir.Scale):
        s = np.asarray(node.scale, f32)
        if s.size and np.all(s == s.flat[0]):
            s = np.full((1,) * max(s.ndim, 1), s.flat[0], f32)
        return [n.Scale(name, inputs, factor=s)]
    if isinstance(node, nir.IF):
        _ones(node, "IF")
        if not np.all(np.asarray(node.v_reset) == 0):
            raise _Refuse("v_reset != 0: ann2snn resets to zero or by subtraction")
        if integer:
            return [n.IF(name, inputs, reset=ResetMode.ZERO,
                         **_int_thresholds(node.v_threshold, None, "IF"))]
        theta = float(above(_uniform(node.v_threshold, "v_threshold")))
        return [n.IF(name, inputs, threshold=theta, reset=ResetMode.ZERO)]
    kind = type(node).__name__
    raise _Refuse(f"no exact ann2snn equivalent of NIR's {kind} (ann2snn reads IF, "
                  "I + Threshold + Scale(-θ) loops, and an I at the output)")


def from_nir(g, source: str = "<NIRGraph>") -> Graph:
    """The spiking Graph of a ``nir.NIRGraph`` (raises ModelFileError listing every node
    it cannot read exactly)."""
    import nir

    nodes = dict(g.nodes)
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    succs: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in dict.fromkeys(tuple(e) for e in g.edges):
        if a not in nodes or b not in nodes:
            raise ModelFileError(f"{source}: edge {a!r} -> {b!r} names a missing node")
        preds[b].append(a)
        succs[a].append(b)
    md = g.metadata or {}
    integer = md.get("format") == FORMAT and md.get("arithmetic") == "integer"
    loops = _populations(nir, nodes, preds, succs)
    inside = {m: t for t, members in loops.items() for m in members}
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    problems: list[str] = []
    built: list[n.Node] = []
    used = set(nodes)

    def reads(name: str, skip: str | None = None) -> tuple[str, ...]:
        ins = [p for p in preds[name] if p != skip]
        for p in ins:
            if p in inside and p != inside[p]:
                problems.append(f"'{name}' reads the inner node '{p}' of population "
                                f"'{inside[p]}'")
        if len(ins) <= 1:
            return tuple(ins)
        add = f"{name}.sum"
        while add in used:
            add += "_"
        used.add(add)
        built.append(n.Add(add, tuple(ins)))
        return (add,)

    for name, node in nodes.items():
        try:
            if isinstance(node, nir.Output):
                continue
            if isinstance(node, nir.Input):
                shape = node.input_type.get("input")
                if shape is None:
                    raise _Refuse("an Input without a shape")
                built.append(n.Input(name, shape=tuple(int(s) for s in shape)))
                continue
            if name in inside and name != inside[name]:
                continue
            if isinstance(node, nir.NIRGraph):
                raise _Refuse("nested NIR graphs are not read; flatten the graph")
            if name in loops:
                v, t, s = loops[name]
                _ones(nodes[v], f"I '{v}'")
                if integer:
                    built.append(n.IF(name, reads(v, skip=s), **_int_thresholds(
                        nodes[t].threshold, nodes[s].scale, f"Threshold '{t}'")))
                    continue
                theta = -_uniform(nodes[s].scale, f"Scale '{s}'")
                thr = _uniform(nodes[t].threshold, f"Threshold '{t}'")
                if float(above(thr)) != theta:
                    raise _Refuse(f"fires on v > {thr:g} and subtracts {theta:g}: ann2snn's IF "
                                  "fires on v >= θ and subtracts θ (write θ's float32 "
                                  "predecessor as the threshold)")
                built.append(n.IF(name, reads(v, skip=s), threshold=theta))
                continue
            if isinstance(node, nir.I):
                _ones(node, "I")
                if succs[name] != outputs[:1] or len(outputs) != 1:
                    raise _Refuse("an integrator (I) that does not feed the output: ann2snn "
                                  "reads a membrane only at the output")
                built.append(n.IF(name, reads(name), membrane_readout=True))
                continue
            ins = reads(name)
            if not ins:
                raise _Refuse("no input edge")
            built.extend(_map(nir, name, node, ins, integer))
        except _Refuse as e:
            problems.append(f"'{name}' ({type(node).__name__}): {e}")
    if len(outputs) != 1:
        problems.append(f"{len(outputs)} Output nodes; ann2snn reads a network with one output")
    if problems:
        raise ModelFileError(f"{source}: cannot read this NIR graph exactly "
                             f"({len(problems)} problem(s)):\n"
                             + "\n".join(f"  - {p}" for p in problems))
    out = reads(outputs[0])
    meta = _meta(md, source)
    quant = QuantInfo.from_json(json.loads(str(md["quant"]))) if integer else None
    try:
        return Graph(built, out[0] if out else None, meta, quant)
    except ValueError as e:
        raise ModelFileError(f"{source}: the NIR graph is not a valid network: {e}") from None


def _meta(md: dict, source: str) -> dict:
    if md.get("format") == FORMAT and GRAPH_META in md:
        meta = json.loads(str(md[GRAPH_META]))
    else:
        meta = {}
    meta["nir_source"] = source
    return meta


def read_nir(path: str | os.PathLike) -> Graph:
    """Read the NIR file ``path`` into a spiking Graph (needs ann2snn[nir])."""
    try:
        import nir
    except ImportError as e:
        from ..base import BackendUnavailable

        raise BackendUnavailable(f"reading {path} needs the nir package ({e}): "
                                 "pip install 'ann2snn[nir]'") from e
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        g = nir.read(str(path), type_check=False)  # nir 1.0.8 mistypes grouped convs
    except Exception as e:  # h5py/nir errors on a corrupt or foreign file
        raise ModelFileError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") \
            from None
    return from_nir(g, str(path))
