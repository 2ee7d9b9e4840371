"""QCFS fine-tuning's model side: replace a torch model's ReLUs by QCFS activations.

``qcfs(model, levels=L)`` returns a copy of ``model`` in which every ReLU, ReLU6,
hardtanh or clamp at 0 (as an ``nn`` module, or as a function call in ``forward`` when
the model can be traced with torch.fx, or in a ``torch.export`` program's module) is a
:class:`QCFS` module with a trainable threshold λ (per layer, or per channel). Any other
activation (GELU, SiLU, Sigmoid, ...) is refused, all of them named in one error.
The activation is the operator ``ann2snn::qcfs`` (frontends/torch_qcfs.py), which
``torch.export`` keeps as one node and the converter reads (docs/low-latency.md).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UnsupportedLayerError
from ..frontends.torch_qcfs import qcfs_op
from ..validate import positive_int

log = logging.getLogger(__name__)
aten = torch.ops.aten

__all__ = ["QCFS", "qcfs", "SUPPORTED"]

#: what qcfs() replaces (named in its error)
SUPPORTED = ["ReLU", "ReLU6", "Hardtanh(min_val=0)", "relu()", "relu6()", "hardtanh(x, 0, m)",
             "clamp(x, min=0)"]
_BAD_MODULES = (nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU,
                nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softplus, nn.PReLU, nn.RReLU,
                nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Threshold, nn.GLU, nn.Hardshrink,
                nn.Softshrink)
_RELU_FNS = {F.relu, torch.relu, torch.relu_, F.relu_, F.relu6, aten.relu.default,
             aten.relu_.default}
_CLIP_FNS = {F.hardtanh, F.hardtanh_, torch.clamp, torch.clip, aten.hardtanh.default,
             aten.hardtanh_.default, aten.clamp.default}
_BAD_FNS = {F.gelu, F.silu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.leaky_relu, F.elu,
            F.selu, F.celu, F.hardswish, F.hardsigmoid, F.mish, F.softplus, F.prelu, F.glu,
            aten.gelu.default, aten.silu.default, aten.sigmoid.default, aten.tanh.default,
            aten.leaky_relu.default, aten.elu.default, aten.hardswish.default,
            aten.hardsigmoid.default, aten.mish.default, aten.softplus.default}
_RELU_METHODS = {"relu", "relu_"}
_CLIP_METHODS = {"clamp", "clamp_", "clip", "clip_"}
_BAD_METHODS = {"sigmoid", "tanh", "sigmoid_", "tanh_"}


class QCFS(nn.Module):
    """φ(x) = λ/L · clip(floor(x·L/λ + 1/2), 0, L), λ trainable (``lam``: ``(1,)`` or
    ``(C,)`` for channel axis 1); straight-through gradient (frontends/torch_qcfs.py)."""

    def __init__(self, levels: int, lam: float = 8.0, channels: int = 1,
                 max_value: float | None = None) -> None:
        super().__init__()
        self.levels = positive_int(levels, "levels")
        self.max_value = max_value  # a ReLU6's 6: the initial λ is at most this
        self.lam = nn.Parameter(torch.full((channels,), float(lam)))
        self._record: list[np.ndarray] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._record is not None:  # initialisation (qcfs(..., sample=)): act as a ReLU
            y = x.clamp(0, self.max_value)
            self._record.append(y.detach().transpose(0, 1).reshape(y.shape[1] if y.ndim > 1
                                                                   else 1, -1).cpu().numpy())
            return y
        return qcfs_op(x, self.lam, self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, channels={self.lam.numel()}"


def qcfs(model: nn.Module, levels: int = 4, per_channel: bool = False, *, sample=None,
         lam: float = 8.0, percentile: float = 99.9) -> nn.Module:
    """A copy of ``model`` with QCFS activations of ``levels`` steps in place of its ReLUs.

    ``sample`` (an input batch, e.g. a few hundred training images) sets each λ to the
    ``percentile`` of that layer's positive ReLU outputs (per channel when
    ``per_channel``) and is needed for ``per_channel``; without it every λ starts at
    ``lam``. Raises :class:`~ann2snn.errors.UnsupportedLayerError` naming every
    activation QCFS cannot replace (GELU, SiLU, Sigmoid, ...)."""
    levels = positive_int(levels, "levels")
    if per_channel and sample is None:
        from ..errors import ConfigError

        raise ConfigError("qcfs(..., per_channel=True) needs sample= (an input batch) to know "
                          "each layer's channels")
    model = copy.deepcopy(model)
    bad = [(name, type(m).__name__) for name, m in model.named_modules()
           if isinstance(m, _BAD_MODULES)
           or (isinstance(m, nn.Hardtanh) and float(m.min_val) != 0.0)]
    if bad:
        raise UnsupportedLayerError(bad, SUPPORTED, "model (QCFS replaces ReLU-like activations)")
    _replace_modules(model, levels, lam)
    model = _replace_functions(model, levels, lam, sample)
    if sample is not None:
        _initialise(model, torch.as_tensor(np.asarray(sample), dtype=torch.float32),
                    per_channel, percentile)
    return model


def _replace_modules(model: nn.Module, levels: int, lam: float) -> None:
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(m, child_name, QCFS(levels, lam))
            elif isinstance(child, nn.Hardtanh):  # ReLU6 too; min 0 checked before
                mv = float(child.max_val)
                setattr(m, child_name, QCFS(levels, min(lam, mv), max_value=mv))


def _clip_bounds(node: torch.fx.Node) -> tuple[float | None, float | None] | None:
    """(min, max) of a hardtanh/clamp call with constant bounds; None if not constant."""
    target = node.target
    names = ("min_val", "max_val") if "hardtanh" in str(target) else ("min", "max")
    defaults = (-1.0, 1.0) if "hardtanh" in str(target) else (None, None)
    args = list(node.args[1:3])
    vals = []
    for i, key in enumerate(names):
        v = args[i] if len(args) > i else node.kwargs.get(key, defaults[i])
        if isinstance(v, torch.fx.Node):
            return None
        vals.append(None if v is None else float(v))
    return vals[0], vals[1]


def _where(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return f"{path}.{node.name}" if path else node.name


class _Tracer(torch.fx.Tracer):
    """Keeps the QCFS modules already placed as modules (fx would trace into them)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


def _replace_functions(model: nn.Module, levels: int, lam: float, sample) -> nn.Module:
    """Function-call activations: traced with torch.fx (or read from an export program's
    graph) and replaced by QCFS submodules."""
    if isinstance(model, torch.fx.GraphModule):
        gm = model
    else:
        try:
            gm = torch.fx.GraphModule(model, _Tracer().trace(model))
        except Exception as e:  # not traceable: check what torch.export sees instead
            log.info("torch.fx cannot trace %s (%s)", type(model).__name__, e)
            _check_exported(model, sample)
            return model
    bad, found = [], []
    for node in gm.graph.nodes:
        kind = _classify(node, gm)
        if kind == "bad":
            bad.append((_where(node), str(getattr(node.target, "__name__", node.target))))
        elif kind is not None:
            found.append((node, kind))
    if bad:
        raise UnsupportedLayerError(bad, SUPPORTED, "model (QCFS replaces ReLU-like activations)")
    if not found:
        return model if not isinstance(model, torch.fx.GraphModule) else gm
    for node, (_, mv) in found:
        name = f"qcfs_{node.name}"
        while hasattr(gm, name):
            name += "_"
        gm.add_submodule(name, QCFS(levels, lam if mv is None else min(lam, mv), max_value=mv))
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def _classify(node: torch.fx.Node, gm) -> object:
    """None: not an activation; "bad": one QCFS cannot replace; else ``("act", max)``,
    the clip's upper bound (None for a plain ReLU)."""
    if node.op == "call_function":
        relu, clip, bad = node.target in _RELU_FNS, node.target in _CLIP_FNS, _BAD_FNS
        is_bad = node.target in bad
    elif node.op == "call_method":
        relu, clip = node.target in _RELU_METHODS, node.target in _CLIP_METHODS
        is_bad = node.target in _BAD_METHODS
    else:
        return None
    if relu:
        return ("act", 6.0 if node.target is F.relu6 else None)
    if clip:
        b = _clip_bounds(node)
        return None if b is None or b[0] != 0.0 else ("act", b[1])
    return "bad" if is_bad else None


def _check_exported(model: nn.Module, sample) -> None:
    """An untraceable model: export it (needs ``sample``) and name every activation left
    as a function call, which qcfs() could not replace."""
    if sample is None:
        log.warning("%s cannot be traced with torch.fx: function-call activations "
                    "(F.relu in forward) were not checked; pass sample= to check them",
                    type(model).__name__)
        return
    x = torch.as_tensor(np.asarray(sample), dtype=torch.float32)[:2]
    try:
        ep = torch.export.export(model.eval(), (x,), strict=False)
    except Exception as e:  # the converter needs torch.export too: say so now
        from ..errors import ConversionError

        raise ConversionError(
            f"{type(model).__name__}: neither torch.fx nor torch.export can capture the "
            f"model ({type(e).__name__}), so its activations cannot be replaced; the forward "
            "must be traceable with a single tensor input") from None
    left = [(_where(nd), str(nd.target).replace("aten.", "")) for nd in ep.graph.nodes
            if nd.op == "call_function" and (nd.target in _RELU_FNS | _CLIP_FNS | _BAD_FNS)]
    if left:
        raise UnsupportedLayerError(
            left, SUPPORTED, "model (activations called as functions in a forward that "
            "torch.fx cannot trace: use nn.ReLU modules there)")


@torch.no_grad()
def _initialise(model: nn.Module, x: torch.Tensor, per_channel: bool, percentile: float) -> None:
    """λ of every QCFS module from its ReLU outputs on ``x`` (per channel optionally)."""
    mods = [m for m in model.modules() if isinstance(m, QCFS)]
    for m in mods:
        m._record = []
    was = model.training
    model.eval()
    try:
        for i in range(0, len(x), 256):
            model(x[i:i + 256])
    finally:
        model.train(was)
        recs = {id(m): m._record for m in mods}
        for m in mods:
            m._record = None
    for m in mods:
        acts = np.concatenate(recs[id(m)], axis=1) if recs[id(m)] else np.zeros((1, 0))
        rows = acts if per_channel else acts.reshape(1, -1)
        lam = [_stat(r, percentile, m.max_value) for r in rows]
        m.lam = nn.Parameter(torch.tensor(lam, dtype=torch.float32))


def _stat(values: np.ndarray, percentile: float, max_value: float | None) -> float:
    pos = values[values > 0]
    if pos.size == 0:
        return 1.0 if max_value is None else min(1.0, max_value)
    return max(float(np.percentile(pos, percentile)), 1e-3)

