"""PyTorch frontend: torch.export program -> Graph (docs/design.md §1).

One path only: an ``nn.Module`` is exported with a sample input, a ``.pt2`` file
already is an ExportedProgram; either way we read a small ATen vocabulary (the handlers
in :mod:`.torch_ops`). Layer names come from each node's ``nn_module_stack`` metadata
(``blocks.0.bn``).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import zipfile
from pathlib import Path

import torch

from ..errors import ConversionError, ModelFileError, UnsupportedLayerError
from ..ir import Graph
from ..ir import nodes as n
from . import torch_qcfs  # noqa: F401  (registers the ann2snn::qcfs operator and its handler)
from .torch_ops import _HANDLERS, _Ctx, _getitem, _module_type, register, supported_ops

__all__ = ["from_exported", "from_module", "load_program", "load_pt2", "register",
           "supported_ops"]


def _describe(node: torch.fx.Node) -> tuple[str, str, str]:
    """(layer path, module type or "", ATen op) of an unsupported node."""
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else node.name
    op = str(node.target).replace("aten.", "")
    return (path or node.name, _module_type(node) or "", op)


def _layers(bad: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """One entry per layer: the ATen ops of one module (an LSTM's zeros and lstm) are
    listed together as that module, ``l (LSTM: zeros.default, lstm.input)``."""
    ops: dict[tuple[str, str], list[str]] = {}
    for path, mtype, op in bad:
        key = (path, mtype) if mtype else (path, op)
        ops.setdefault(key, [])
        if mtype and op not in ops[key]:
            ops[key].append(op)
    return [(path, f"{kind}: {', '.join(o)}" if o else kind) for (path, kind), o in ops.items()]


def from_exported(ep: torch.export.ExportedProgram, source: str = "model") -> Graph:
    """Convert an ExportedProgram to a Graph; all unsupported ops are listed at once."""
    ctx = _Ctx(ep)
    built: list[n.Node] = []
    bad: list[tuple[str, str]] = []
    user_inputs = [s.arg.name for s in ep.graph_signature.input_specs
                   if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    output_name = None
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node.name in user_inputs:
                shape = tuple(int(s) for s in node.meta["val"].shape)
                name = "input" if len(user_inputs) == 1 else node.name
                built.append(n.Input(name, shape=shape[1:]))
                ctx.value[node.name] = name
            continue
        if node.op == "output":
            outs = node.args[0]
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            if len(outs) != 1:
                raise ConversionError(f"{source} returns {len(outs)} outputs; ann2snn needs one")
            output_name = ctx.value.get(outs[0].name) if isinstance(outs[0], torch.fx.Node) \
                else None
            continue
        if node.op != "call_function":
            bad.append(_describe(node))
            continue
        if node.target is operator.getitem:
            handler = _getitem
        else:
            handler = _HANDLERS.get(node.target)
        try:
            res = handler(ctx, node) if handler else None
        except ConversionError as e:
            if "not a tensor produced" in str(e) and bad:
                continue  # downstream of an unsupported op: already reported
            raise
        if res is None:
            bad.append(_describe(node))
            continue
        if isinstance(res, str):
            ctx.value[node.name] = res
            continue
        res = res if isinstance(res, list) else [res]
        built.extend(res)
        ctx.value[node.name] = res[-1].name
    if bad:
        raise UnsupportedLayerError(_layers(bad), supported_ops(), source)
    if output_name is None:
        raise ConversionError(f"{source}: could not find the model's output tensor")
    try:
        return Graph(built, output_name, {"source": source}).prune()
    except ValueError as e:
        raise ConversionError(f"{source}: {e}") from None


def from_module(model: torch.nn.Module, sample: torch.Tensor, source: str | None = None) -> Graph:
    """Export ``model`` (in eval mode) with ``sample`` and convert it."""
    source = source or type(model).__name__
    was_training = model.training
    model.eval()
    try:
        sample = torch.as_tensor(sample, dtype=torch.float32)[:2].cpu()
        try:
            ep = torch.export.export(model.cpu(), (sample,), strict=False)
        except Exception as e:  # torch raises many types here; report the cause plainly
            raise ConversionError(
                f"{source}: torch.export could not capture the model ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else e}). The forward must be traceable "
                "with a single tensor input.") from None
    finally:
        model.train(was_training)
    return from_exported(ep, source)


def load_pt2(path: str | Path) -> Graph:
    """Read a ``.pt2`` file written by ``torch.export.save``."""
    return from_exported(load_program(path), str(path))


def load_program(path: str | Path) -> torch.export.ExportedProgram:
    """The ExportedProgram of a ``.pt2`` file (ModelFileError if it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a readable torch.export program (.pt2): not a zip archive "
            "(truncated or another format). Save one with "
            "torch.export.save(torch.export.export(model, (x,)), 'model.pt2').")
    try:
        with _quiet_torch_export():
            ep = torch.export.load(str(path))
    except Exception as e:  # corrupt zip, wrong format, truncated: all user errors here
        raise ModelFileError(
            f"{path} is not a readable torch.export program (.pt2): {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}. Save one with "
            "torch.export.save(torch.export.export(model, (x,)), 'model.pt2').") from None
    return ep


@contextlib.contextmanager
def _quiet_torch_export():
    """torch.export.load logs its own traceback before failing on a bad file; our
    error says what is wrong, so that log is held back."""
    logger = logging.getLogger("torch.export")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was
