"""One generic serialization path for graphs: to_dict/from_dict plus a single .npz.

A saved file is an ``.npz`` (written with ``allow_pickle=False``) holding every node
array under ``"<node>/<field>"`` and a JSON header under ``"__header__"`` (UTF-8 bytes
as uint8) with the format version, the nodes' scalar fields, the graph's meta and, for
a quantized graph, its QuantInfo under ``"quant"``. Nothing is ever unpickled: a model
file from a stranger cannot run code.

Format versions: 2 (this one) keeps integer mode in ``"quant"`` and the per-channel
thresholds on the IF nodes; 1 kept both in ``meta["quant"]`` and is still read.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..files import atomic_file
from . import nodes as n
from .graph import Graph
from .quant import QuantInfo, upgrade_v1

FORMAT = "ann2snn-graph"
FORMAT_VERSION = 2


def _plain(v):
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def _tupled(v):
    return tuple(_tupled(x) for x in v) if isinstance(v, list) else v


def to_dict(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """Split a graph into a JSON-able header and a flat dict of arrays."""
    header_nodes, arrays = [], {}
    for node in graph:
        entry: dict = {"op": node.op}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, np.ndarray):
                arrays[f"{node.name}/{f.name}"] = v
                entry[f.name] = {"array": f"{node.name}/{f.name}"}
            else:
                entry[f.name] = _plain(v)
        header_nodes.append(entry)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "output": graph.output,
              "nodes": header_nodes, "meta": graph.meta}
    if graph.quant is not None:
        header["quant"] = graph.quant.to_json()
    return header, arrays


def from_dict(header: dict, arrays: dict[str, np.ndarray], source: str = "graph") -> Graph:
    """Rebuild a graph from :func:`to_dict`'s output, validating as it goes."""
    if header.get("format") != FORMAT:
        raise ModelFileError(
            f"{source} is not an ann2snn network (format={header.get('format')!r})")
    if header.get("version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} was written by a newer ann2snn (format version {header['version']}, "
            f"this one reads {FORMAT_VERSION}); upgrade ann2snn"
        )
    built = []
    for entry in header["nodes"]:
        entry = dict(entry)
        op = entry.pop("op")
        cls = n.NODE_TYPES.get(op)
        if cls is None:
            raise ModelFileError(f"{source}: unknown node type {op!r}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in entry:
                continue
            v = entry.pop(f.name)
            if isinstance(v, dict) and "array" in v:
                if v["array"] not in arrays:
                    raise ModelFileError(f"{source}: array {v['array']!r} is missing")
                v = arrays[v["array"]]
            elif f.name == "reset":
                v = n.ResetMode(v)
            else:
                v = _tupled(v)
            kwargs[f.name] = v
        if entry:
            raise ModelFileError(f"{source}: node {op} has unknown fields {sorted(entry)}")
        built.append(cls(**kwargs))
    meta, quant = header.get("meta", {}), header.get("quant")
    try:
        if header.get("version", 0) < 2:
            meta, quant, built = upgrade_v1(meta, built)
        elif quant is not None:
            quant = QuantInfo.from_json(quant)
        return Graph(built, header["output"], meta, quant)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{source} is inconsistent: {e}") from None


def save_bundle(path: str | os.PathLike, graphs: dict[str, Graph],
                extra: dict | None = None) -> Path:
    """Write several named graphs and an ``extra`` dict to one file, atomically."""
    path = Path(path)
    header: dict = {"format": FORMAT, "version": FORMAT_VERSION, "graphs": {},
                    "extra": extra or {}}
    arrays: dict[str, np.ndarray] = {}
    for key, graph in graphs.items():
        h, arr = to_dict(graph)
        for entry in h["nodes"]:
            for v in entry.values():
                if isinstance(v, dict) and "array" in v:
                    v["array"] = f"{key}:{v['array']}"
        header["graphs"][key] = h
        arrays.update({f"{key}:{k}": a for k, a in arr.items()})
    blob = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        np.savez(fh, __header__=blob, **arrays)
    return path


def load_bundle(path: str | os.PathLike) -> tuple[dict[str, Graph], dict]:
    """Read a file written by :func:`save_bundle`: (graphs by name, extra)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ModelFileError(
            f"{path} is not a readable ann2snn network file (truncated or corrupt: {e})"
        ) from None
    if "__header__" not in data:
        raise ModelFileError(f"{path} is an .npz file but not an ann2snn network (no header)")
    try:
        header = json.loads(data.pop("__header__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: corrupt header ({e})") from None
    if header.get("format") != FORMAT or not isinstance(header.get("graphs"), dict):
        raise ModelFileError(f"{path} is not an ann2snn network file")
    graphs = {}
    for key, h in header["graphs"].items():
        h = {**h, "format": header["format"], "version": header["version"]}
        graphs[key] = from_dict(h, data, str(path))
    return graphs, header.get("extra", {})


def save_graph(graph: Graph, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write one graph (see :func:`save_bundle`)."""
    return save_bundle(path, {"graph": graph}, extra)


def load_graph(path: str | os.PathLike) -> tuple[Graph, dict]:
    """Read the single graph of a file written by :func:`save_graph`."""
    graphs, extra = load_bundle(path)
    if len(graphs) != 1:
        raise ModelFileError(f"{path} holds {len(graphs)} graphs; use load_bundle")
    return next(iter(graphs.values())), extra
