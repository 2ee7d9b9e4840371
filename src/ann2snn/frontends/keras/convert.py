"""A Keras model (a file or a ``keras.Model``) -> Graph: the Keras graph walked layer by
layer (Functional and Sequential, nested models flattened as ``outer.inner`` names),
the tensor layout decided, each layer through its handler (see the package doc)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import (
    Ann2SnnError,
    ConversionError,
    ModelFileError,
    UnsupportedLayerError,
    install_hint,
)
from ...ir import Graph
from ...ir import nodes as n
from ...ir.shapes import infer
from .context import KLayer, Layout, Unsupported
from .files import (
    check_config,
    compat_objects,
    drop_legacy_keys,
    first_line,
    read_config,
    write_keras_zip,
)
from .registry import HANDLERS, supported_layers

log = logging.getLogger(__name__)

#: Layer types whose ``data_format`` fixes the model's layout (Flatten's does not).
_FORMAT_KINDS = ("Conv", "Pooling", "UpSampling", "ZeroPadding", "Cropping")
#: 1-d layers without a data_format argument: always (batch, steps, channels).
_ALWAYS_LAST = ("UpSampling1D", "Cropping1D")


def _keras():
    """Import Keras 3 (torch backend unless the user chose another)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise ModelFileError(
            f"reading Keras models needs Keras 3 and h5py ({type(e).__name__}: {e}; "
            f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}): {install_hint('keras')}, "
            "which runs Keras on the torch backend") from None
    if not str(getattr(keras, "__version__", "0")).startswith(("3.", "4.")):
        raise ModelFileError(f"Keras {keras.__version__} is installed; ann2snn needs Keras 3 "
                             f"({install_hint('keras')})")
    return keras


def load_keras(path: str | os.PathLike) -> Graph:
    """Read a ``.keras`` (Keras 3) or legacy ``.h5`` (Keras 3 or tf.keras 2.x) model."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    cfg, container = read_config(path)
    check_config(cfg, str(path))
    keras = _keras()
    suffix = ".keras" if container == "keras" else ".h5"
    objs = compat_objects(keras) if container == "h5" else None
    fixed = drop_legacy_keys(cfg, keras) if container == "keras" else []
    if fixed:
        log.info("%s: dropping config keys Keras %s rejects: %s", path, keras.__version__,
                 "; ".join(fixed))
    try:
        with warnings.catch_warnings(record=True) as caught:  # Keras' deserialization
            warnings.simplefilter("always")  # chatter goes to the debug log, not stderr
            model = _load(keras, path, suffix, cfg if fixed else None, objs)
    except Ann2SnnError:
        raise
    except Exception as e:  # Keras raises many types for broken files; all are user errors
        raise ModelFileError(
            f"{path}: Keras could not load the model ({first_line(e)}). The file may be "
            "truncated, corrupt, or written by an incompatible Keras version") from None
    for w in caught:
        log.debug("keras: %s", w.message)
    return from_keras_model(model, str(path))


def _load(keras, path: Path, suffix: str, cfg: dict | None, objs: dict | None):
    """``keras.saving.load_model``; Keras picks its reader by the suffix, so a misnamed
    file, or an archive whose config was fixed (``cfg``), goes through a temporary copy."""
    if path.suffix.lower() == suffix and cfg is None:
        return keras.saving.load_model(str(path), custom_objects=objs, compile=False,
                                       safe_mode=True)
    with tempfile.TemporaryDirectory(prefix="ann2snn-keras-") as tmp:
        copy = Path(tmp) / f"model{suffix}"
        if cfg is not None:
            write_keras_zip(path, copy, cfg)
        else:
            shutil.copyfile(path, copy)
        return keras.saving.load_model(str(copy), custom_objects=objs, compile=False,
                                       safe_mode=True)


# --- walking a live model ---------------------------------------------------------------


def _function(model, keras):
    """The functional graph of a Functional or Sequential model (None if subclassed)."""
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise ConversionError(
                f"Sequential model '{model.name}' is not built; give it an Input "
                "(keras.Input(shape)) or call model.build(input_shape)")
        return fn
    if hasattr(model, "_nodes_by_depth") and getattr(model, "inputs", None) is not None:
        return model
    return None


def _kind(op, keras) -> str | None:
    """The Keras class name handled for ``op``; None for a custom (user) class."""
    t = type(op)
    if getattr(t, "_ann2snn_compat", False):
        return t.__bases__[0].__name__
    if not isinstance(op, keras.layers.Layer):
        return None
    return t.__name__ if t.__module__.startswith("keras.") else None


def _all_layers(fn, keras):
    for op in fn.operations:
        sub = _function(op, keras) if isinstance(op, keras.Model) else None
        if sub is not None:
            yield from _all_layers(sub, keras)
        else:
            yield op


def _detect_layout(fn, keras) -> Layout:
    """The model's data format: from its conv/pool/... layers and BatchNormalization
    axes; failing those, from Flatten (image inputs only); else channels_last for image
    inputs and no transposition at all for (steps, features) or flat inputs."""
    strong: dict[str, list[str]] = {}
    weak: set[str] = set()
    for op in _all_layers(fn, keras):
        kind = _kind(op, keras) or ""
        fmt = getattr(op, "data_format", None) or (
            "channels_last" if kind in _ALWAYS_LAST else None)
        if kind == "BatchNormalization":
            fmt = _bn_format(op)
        elif kind == "Flatten":
            weak.add(str(fmt))
            continue
        elif not any(k in kind for k in _FORMAT_KINDS):
            continue
        if fmt:
            strong.setdefault(fmt, []).append(op.name)
    if len(strong) > 1:
        raise ConversionError("the model mixes data formats: " + "; ".join(
            f"{k}: {', '.join(v[:5])}" for k, v in strong.items()) + ". Use one throughout")
    if strong:
        return Layout(next(iter(strong)))
    if not any(len(t.shape) >= 4 for t in fn.inputs):
        return Layout(None)
    return Layout("channels_first" if weak == {"channels_first"} else "channels_last")


def _bn_format(op) -> str | None:
    """channels_first/last as told by a BatchNormalization's axis on an image tensor."""
    try:
        rank = len(op.input.shape)
    except Exception:  # no or several inbound nodes: the layer is reported elsewhere
        return None
    axis = op.axis[0] if isinstance(op.axis, (list, tuple)) and len(op.axis) == 1 else op.axis
    if rank < 3 or not isinstance(axis, int):
        return None
    return {1: "channels_first", rank - 1: "channels_last"}.get(axis % rank)


class _Builder:
    """Conversion state: nodes built so far, their shapes, and what was unsupported."""

    def __init__(self, keras, layout: Layout, source: str):
        self.keras = keras
        self.layout = layout
        self.source = source
        self.nodes: list[n.Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.bad: list[tuple[str, str]] = []

    def add(self, node: n.Node, layer: str) -> None:
        what = ", ".join(f"'{i}' {self.shapes[i]}" for i in node.inputs) or "its input"
        try:
            self.shapes[node.name] = infer(node, [self.shapes[i] for i in node.inputs], what)
        except ValueError as e:
            raise ConversionError(f"{self.source}: layer '{layer}': {e}") from None
        self.nodes.append(node)

    def run(self, fn, prefix: str, feeds: list[str] | None) -> list[str | None]:
        """Convert the functional graph ``fn``; returns the IR names of its outputs."""
        vals: dict[int, str | None] = {}
        for i, t in enumerate(fn.inputs):
            if feeds is not None:
                vals[id(t)] = feeds[i]
                continue
            shape = tuple(t.shape[1:])
            name = prefix + t._keras_history[0].name
            if any(s is None for s in shape):
                raise ConversionError(f"{self.source}: input '{name}' has an unknown size "
                                      f"{(None, *shape)}; give the Input a fixed shape")
            self.add(n.Input(name, shape=self.layout.ir_shape(shape)), name)
            vals[id(t)] = name
        nodes = [x for d in sorted(fn._nodes_by_depth, reverse=True)
                 for x in fn._nodes_by_depth[d]]
        uses = Counter(id(x.operation) for x in nodes)
        reported: set[int] = set()
        for node in nodes:
            op = node.operation
            if isinstance(op, self.keras.layers.InputLayer):
                continue
            name = prefix + op.name
            ins = [vals.get(id(t)) for t in node.input_tensors]
            outs: list[str | None] = [None] * len(node.output_tensors)
            if uses[id(op)] > 1:
                if id(op) not in reported:
                    reported.add(id(op))
                    self.bad.append((name, f"{type(op).__name__}: shared layer, called "
                                     f"{uses[id(op)]} times; give each call its own layer"))
            elif any(i is None for i in ins):  # downstream of an unsupported layer:
                self.check_only(op, name)  # still report what the config alone shows
            elif isinstance(op, self.keras.Model):
                sub = _function(op, self.keras)
                if sub is None:
                    self.bad.append((name, f"{type(op).__name__}: subclassed model"))
                else:
                    outs = self.run(sub, name + ".", ins)
            else:
                outs = [self.layer(op, name, ins, node)]
            for t, o in zip(node.output_tensors, outs):
                vals[id(t)] = o
        return [vals.get(id(t)) for t in fn.outputs]

    def check_only(self, op, name: str) -> None:
        if isinstance(op, self.keras.Model):
            sub = _function(op, self.keras)
            for inner in _all_layers(sub, self.keras) if sub is not None else [op]:
                self.check_only(inner, f"{name}.{inner.name}")
            return
        kind = _kind(op, self.keras)
        if kind not in HANDLERS:
            self.bad.append((name, type(op).__name__ if kind else
                             f"{type(op).__name__}: custom layer"))
            return
        check = HANDLERS[kind][1]
        why = check(op.get_config()) if check else None
        if why:
            self.bad.append((name, f"{kind}: {why}"))

    def layer(self, op, name: str, ins: list[str], node) -> str | None:
        kind = _kind(op, self.keras)
        entry = HANDLERS.get(kind or "")
        if entry is None:
            self.bad.append((name, type(op).__name__ if kind else
                             f"{type(op).__name__}: custom layer"))
            return None
        handler, check = entry
        try:
            cfg = op.get_config()
            why = check(cfg) if check else None
            if why:
                raise Unsupported(why)
            weights = [np.asarray(w) for w in op.get_weights()]
            res = handler(self.layout, KLayer(name, kind, cfg, list(ins),
                                              [self.shapes[i] for i in ins], weights))
        except Unsupported as e:
            self.bad.append((name, f"{kind}: {e}"))
            return None
        if isinstance(res, str):
            return res
        for x in res:
            self.add(x, name)
        out = res[-1].name
        self._check_shape(name, kind, out, node)
        return out

    def _check_shape(self, name: str, kind: str, out: str, node) -> None:
        """Guard: the IR shape must be the Keras output shape in IR order."""
        if len(node.output_tensors) != 1:
            return
        want = tuple(node.output_tensors[0].shape[1:])
        got = self.layout.keras_shape(self.shapes[out])
        if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
            raise ConversionError(f"{self.source}: layer '{name}' ({kind}) gives shape "
                                  f"{(None, *got)} in ann2snn but {(None, *want)} in Keras; "
                                  "please report this as a bug")


def from_keras_model(model: Any, source: str = "model") -> Graph:
    """Convert a built Functional or Sequential ``keras.Model`` to a Graph.

    Unsupported layers are all reported in one UnsupportedLayerError. The graph's input
    is channels-first; ``graph.meta['keras_input_perm']`` is the permutation that takes
    the Keras input to it (``(0, 3, 1, 2)`` for a channels_last image model).
    """
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise ConversionError(f"{source}: expected a keras.Model, got {type(model).__name__}")
    fn = _function(model, keras)
    if fn is None:
        raise ConversionError(
            f"{source}: '{type(model).__name__}' is a subclassed Keras model, which cannot be "
            "converted; rebuild it with the functional API or keras.Sequential")
    if len(fn.outputs) != 1:
        raise ConversionError(f"{source}: the model has {len(fn.outputs)} outputs; ann2snn "
                              "needs exactly one")
    b = _Builder(keras, _detect_layout(fn, keras), source)
    (out,) = b.run(fn, "", None)
    if b.bad:
        raise UnsupportedLayerError(b.bad, supported_layers(), source)
    if out is None:
        raise ConversionError(f"{source}: could not find the model's output tensor")
    if out in [x.name for x in b.nodes if isinstance(x, n.Input)]:
        raise ConversionError(f"{source}: the model's output is its input; nothing to convert")
    rank = len(fn.inputs[0].shape)
    meta = {"source": source, "frontend": "keras", "keras_data_format": b.layout.fmt,
            "keras_input_perm": list(b.layout.to_ir(rank))}
    try:
        return Graph(b.nodes, out, meta).prune()
    except ValueError as e:
        raise ConversionError(f"{source}: {e}") from None
