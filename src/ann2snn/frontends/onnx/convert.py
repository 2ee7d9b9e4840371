"""An ONNX model -> Graph: constants folded, every other node through its handler.

See the package doc (frontends/onnx/__init__.py) for what is read and how.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConversionError, ModelFileError, UnsupportedLayerError, install_hint
from ...ir import Graph
from ...ir import nodes as n
from .context import SHAPE_ONLY, Ctx, Unsupported
from .registry import HANDLERS, supported_ops

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

MIN_OPSET = 11
#: Unsupported activations keep their input's shape: conversion carries on past them
#: (as if they were identities) so that later unsupported layers are reported too.
_ELEMENTWISE = frozenset({"LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu",
                          "Gelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Mish",
                          "Abs", "Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Erf",
                          "ThresholdedRelu", "Shrink", "LpNormalization", "Clip"})


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ModelFileError("reading .onnx files needs the onnx package: "
                             + install_hint("onnx")) from None
    return onnx


def _fold(ctx: Ctx, node: onnx.NodeProto) -> bool:
    """Evaluate ``node`` now if its value does not depend on the input; True if done."""
    ins = [i for i in node.input if i]
    if node.op_type in SHAPE_ONLY and ins and ins[0] in ctx.value:
        full = (ctx.batch, *ctx.shape(ins[0]))
        if node.op_type == "Size":
            ctx.const[node.output[0]] = np.array(int(np.prod(full)), np.int64)
            return True
        a = ctx.attrs(node)
        start, end = a.get("start", 0), a.get("end", len(full))
        ctx.const[node.output[0]] = np.array(full[start:end], np.int64)
        return True
    if not all(i in ctx.const for i in ins):
        return False
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    # A one-node graph, so the evaluator picks the op version of the model's opset.
    ins = list(dict.fromkeys(ins))  # an input may be read twice (Mul(a, a))
    graph = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(i) for i in ins],
                              [helper.make_empty_tensor_value_info(o) for o in node.output if o])
    try:
        outs = ReferenceEvaluator(graph, opsets={"": ctx.opset}).run(
            None, {i: ctx.const[i] for i in ins})
    except Exception as e:  # the reference runtime raises many types; report plainly
        raise Unsupported(f"could not fold this constant ({type(e).__name__}: {e})") from None
    for name, v in zip([o for o in node.output if o], outs):
        ctx.const[name] = np.asarray(v)
    return True


def _add_inputs(ctx: Ctx, model: onnx.ModelProto) -> list[str]:
    from onnx import TensorProto

    names = []
    real = [i for i in model.graph.input if i.name not in ctx.const]
    if not real:
        raise ConversionError(f"{ctx.source}: the model has no input")
    for vi in real:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
            raise ConversionError(f"{ctx.source}: input '{vi.name}' has no tensor shape; "
                                  "export with a fixed input shape")
        if tt.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            raise ConversionError(f"{ctx.source}: input '{vi.name}' is not a float tensor")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
            shown = [d if d is not None else "?" for d in dims]
            raise ConversionError(
                f"{ctx.source}: input '{vi.name}' has shape {shown}; ann2snn needs "
                "(batch, C, ...) with every dimension but the batch fixed (channels-first). "
                "Re-export with a static input shape.")
        if dims[0]:
            ctx.batch = int(dims[0])
        ctx.base = "input" if len(real) == 1 else vi.name
        name = ctx.name()
        ctx.add(n.Input(name, shape=tuple(int(d) for d in dims[1:])))
        ctx.value[vi.name] = name
        names.append(name)
    return names


def from_onnx_model(model: onnx.ModelProto, source: str = "ONNX model") -> Graph:
    """Convert an ONNX model to a Graph; all unsupported nodes are listed at once."""
    _import_onnx()
    from onnx import numpy_helper

    ctx = Ctx(model, source)
    if ctx.opset < MIN_OPSET:
        raise ConversionError(
            f"{source} uses ONNX opset {ctx.opset or 'unknown'}; ann2snn reads opset "
            f"{MIN_OPSET} and newer. Re-export (torch.onnx.export(..., opset_version=17)) or "
            "upgrade it with onnx.version_converter.convert_version.")
    for init in model.graph.initializer:
        try:
            ctx.const[init.name] = numpy_helper.to_array(init)
        except Exception as e:  # missing external data, bad raw data
            raise ModelFileError(f"{source}: cannot read weight '{init.name}': {e}") from None
    _add_inputs(ctx, model)
    if len(model.graph.output) != 1:
        raise ConversionError(f"{source} has {len(model.graph.output)} outputs; "
                              "ann2snn needs exactly one")
    bad: list[tuple[str, str]] = []
    poisoned: set[str] = set()  # data tensors downstream of an unsupported node
    unknown: set[str] = set()  # constants that depend on a poisoned tensor's shape
    for idx, node in enumerate(model.graph.node):
        ctx.base = node.name or f"{node.op_type}_{idx}"
        kind = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        ins = [i for i in node.input if i]
        if any(i in poisoned or i in unknown for i in ins):
            # Downstream of an unsupported node: report it only if it is unsupported too.
            if node.op_type in SHAPE_ONLY or all(i in unknown or i in ctx.const for i in ins):
                unknown.update(node.output)
                continue
            if handler is None and any(i in poisoned for i in ins):
                bad.append((ctx.base, kind))
            poisoned.update(node.output)
            continue
        try:
            if _fold(ctx, node):
                continue
            if handler is None:
                raise Unsupported("")
            res = handler(ctx, node)
        except Unsupported as e:
            bad.append((ctx.base, f"{kind}: {e}" if str(e) else kind))
            if node.op_type in _ELEMENTWISE and node.input[0] in ctx.value:
                ctx.value[node.output[0]] = ctx.value[node.input[0]]
            else:
                poisoned.update(node.output)
            continue
        if isinstance(res, str):
            ctx.value[node.output[0]] = res
            continue
        for x in res if isinstance(res, list) else [res]:
            ctx.add(x)
            ctx.value[node.output[0]] = x.name
    if bad:
        raise UnsupportedLayerError(bad, supported_ops(), source)
    out = model.graph.output[0].name
    if out not in ctx.value:
        raise ConversionError(f"{source}: the output '{out}' does not depend on the input")
    try:
        graph = Graph(ctx.built, ctx.value[out], {"source": source}).prune()
    except ValueError as e:
        raise ConversionError(f"{source}: {e}") from None
    log.info("%s: %d ONNX nodes -> %d IR nodes", source, len(model.graph.node), len(graph))
    return graph


def load_onnx(path: str | Path) -> Graph:
    """Read and convert an ``.onnx`` file; unreadable files raise ModelFileError."""
    onnx = _import_onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError, missing external data, ...: all user errors
        raise ModelFileError(
            f"{path} is not a readable ONNX model ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'truncated or corrupt'}).") from None
    if not model.graph.node or not model.graph.input:
        raise ModelFileError(f"{path} is not an ONNX model (empty, truncated, or another "
                             "format: no graph nodes or inputs)")
    try:  # the checker refuses protos over 2 GB; it reads those from the path instead
        onnx.checker.check_model(model if model.ByteSize() < 2**31 - 1 else str(path))
    except Exception as e:  # ValidationError, and a few others for broken protos
        raise ModelFileError(f"{path} is not a valid ONNX model: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return from_onnx_model(model, str(path))
