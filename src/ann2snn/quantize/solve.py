"""Integer mode, first half: choose every population's integer threshold θ and every
tensor's scale σ (build.py then writes the integer weights).

Every tensor of the quantized network holds integers; ``σ_t`` is the factor between a
tensor's integer value and its value in the float network, ``t_int = σ_t · t_float``
(one factor per channel, or one per tensor). Spikes have σ = 1, the analog input
σ = q (``x_int = round(x·q)``, q = 2^b − 1 for inputs in [0, 1]), and the integer sum
that replaces an average pool multiplies σ by the window size k (the 1/k is folded
into whatever the sum feeds).

The neuron population ``l`` chooses its integer threshold ``θ_l`` (per layer or per
channel). Every weighted node ``m`` whose output reaches the population through
linear, weight-free operations (Add, Concat, pooling, padding, reshaping) must then
deliver ``σ_m = θ_l / g`` (g: the product of the pool sizes in between), so

    w_int = round(W · σ_m / σ_in),   b_int = round(b · σ_m),

and θ_l is the largest integer (or power of two) that keeps every |w_int| within
``2^(weight_bits−1) − 1``. A spike tensor that joins such a sum directly (an identity
shortcut) gets an integer Scale node. See docs/integer-mode.md for the semantics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, QuantScale, is_quantized
from ..ir import nodes as n
from .spec import QuantSpec, _bc, _max_ratio, _uniform, check_supported, weight_dtype
from .target_limits import target_bound

log = logging.getLogger(__name__)

@dataclass
class _Tree:
    """The current into one population: weighted members and spike-valued leaves."""

    root: str  # the tensor that is the population's input current
    pop: str | None  # the IF node, or None for a current feeding a weighted node
    channels: int  # number of θ values
    members: list  # (node name, idx, gain)
    leaves: list  # (consumer, input position, tensor, idx, gain)


class _Quantizer:
    def __init__(self, graph: Graph, spec: QuantSpec, calibration: np.ndarray | None):
        self.g, self.spec = graph, spec
        self.fixed: dict[str, np.ndarray] = {}
        self.sigma: dict[str, np.ndarray] = {}
        self.owner: dict[str, str] = {}
        self._check_supported()
        self._input_scale(calibration)

    # -- set-up --------------------------------------------------------------------
    def _check_supported(self) -> None:
        check_supported(self.g, "network (integer mode)")
        for x in self.g.of_type(n.IF):
            if x.leak:
                raise ConversionError(f"IF '{x.name}' has leak {x.leak}; integer mode "
                                      "supports leak = 0 only")
            if x.threshold != 1.0:  # the integer thresholds are chosen for θ = 1
                raise ConversionError(f"IF '{x.name}' has threshold {x.threshold}; integer "
                                      "mode quantizes networks with threshold 1 (scale the "
                                      "weights into it: ann2snn.passes.rescale)")

    def _input_scale(self, calib: np.ndarray | None) -> None:
        s = self.spec
        signed = s.input_signed
        rng = s.input_range
        if calib is not None and len(calib):
            signed = bool(np.min(calib) < 0) if signed is None else signed
            if rng is None:
                rng = float(np.max(np.abs(calib))) or 1.0
        signed = bool(signed)
        rng = 1.0 if rng is None else float(rng)
        if signed and s.input_bits < 2:
            raise ConversionError("signed input needs input_bits >= 2")
        self.qmax = 2 ** (s.input_bits - 1) - 1 if signed else 2**s.input_bits - 1
        self.qmin = -self.qmax if signed else 0
        self.q = self.qmax / rng
        self.signed, self.range = signed, rng

    # -- fixed (spike-valued) tensors: σ known without choosing anything -------------
    def _forward_fixed(self) -> None:
        for x in self.g:
            if isinstance(x, n.Input):
                self.fixed[x.name] = np.array([self.q])
            elif isinstance(x, n.IF):
                self.fixed[x.name] = np.ones(1)
            elif isinstance(x, n.SpikingMaxPool):  # gates its input's values through
                if x.inputs[0] not in self.fixed:
                    raise ConversionError(f"SpikingMaxPool '{x.name}' must pool spikes (or the "
                                          "input), not a current")
                self.fixed[x.name] = self.fixed[x.inputs[0]]
            elif isinstance(x, n.Add) or x.multiplicative:
                continue
            elif all(i in self.fixed for i in x.inputs):
                s = self._propagate(x, [self.fixed[i] for i in x.inputs], exact=False)
                if s is not None:
                    self.fixed[x.name] = s

    def _propagate(self, x: n.Node, ins: list[np.ndarray], exact: bool = True):
        """σ of a weight-free node's output from its inputs' σ (None: not representable)."""
        shp = self.g.shapes
        if isinstance(x, n.AvgPool):
            return ins[0] * math.prod(x.kernel)
        if isinstance(x, n.GlobalAvgPool):
            return ins[0] * math.prod(shp[x.inputs[0]][1:])
        if x.channel_copy:
            return ins[0]
        if isinstance(x, n.Flatten):
            src = shp[x.inputs[0]]
            return ins[0] if ins[0].size == 1 else np.repeat(ins[0], math.prod(src[1:]))
        if x.reorders:  # Reshape, Transpose (Flatten above)
            u = _uniform(ins[0])
            if u.size != 1:
                raise ConversionError(f"{x.op} '{x.name}': integer mode needs one scale for "
                                      "the whole tensor here; use per-layer quantization")
            return u
        if isinstance(x, n.Concat):
            if x.axis == 1:
                return _uniform(np.concatenate([_bc(s, shp[i][0])
                                                for s, i in zip(ins, x.inputs)]))
            c = shp[x.name][0]
            if not all(np.allclose(_bc(s, c), _bc(ins[0], c), rtol=1e-9) for s in ins):
                if exact:
                    raise ConversionError(f"Concat '{x.name}': inputs of different scales")
                return None
            return ins[0]
        if isinstance(x, n.Add):
            return ins[0]
        raise ConversionError(f"no integer scale rule for {x.op} '{x.name}'")

    # -- trees ---------------------------------------------------------------------------
    def _trees(self) -> list[_Tree]:
        trees: list[_Tree] = []
        for x in self.g.of_type(n.IF):
            c = self.g.shapes[x.name][0] if self.spec.per_channel and self.g.shapes[x.name] else 1
            trees.append(self._walk_root(x.inputs[0], x.name, c))
        for x in self.g:
            if x.multiplicative:
                i = x.inputs[0]
                if i not in self.fixed and i not in self.owner:
                    trees.append(self._walk_root(i, None, 1))
        return trees

    def _walk_root(self, root: str, pop: str | None, channels: int) -> _Tree:
        tree = _Tree(root, pop, channels, [], [])
        cons = pop if pop is not None else f"<weights of {root}>"
        c = self.g.shapes[root][0] if self.g.shapes[root] else 1
        idx = np.arange(c) if channels > 1 else np.zeros(c, int)
        try:
            self._walk(root, cons, 0, idx, np.ones(c), tree, set())
        except _PerLayer:
            if channels == 1:
                raise ConversionError(f"cannot quantize the current into '{cons}'") from None
            log.info("population '%s': per-channel thresholds do not fit its inputs; "
                     "using one threshold", pop)
            return self._walk_root(root, pop, 1)
        for t in _tree_tensors(tree, self.g):
            if t in self.owner and self.owner[t] != cons:
                raise ConversionError(
                    f"integer mode: the current '{t}' feeds both '{self.owner[t]}' and "
                    f"'{cons}'; each current must feed one population")
            self.owner[t] = cons
        return tree

    def _walk(self, t: str, cons: str, pos: int, idx, gain, tree: _Tree, seen: set) -> None:
        if t in self.fixed:
            tree.leaves.append((cons, pos, t, idx, gain))
            return
        if t in seen:
            raise ConversionError(f"integer mode: current '{t}' reaches '{tree.pop}' twice")
        seen.add(t)
        x, shp = self.g[t], self.g.shapes
        if x.multiplicative:
            tree.members.append((t, idx, gain))
            return
        ins = x.inputs
        if isinstance(x, n.AvgPool):
            return self._walk(ins[0], t, 0, idx, gain * math.prod(x.kernel), tree, seen)
        if isinstance(x, n.GlobalAvgPool):
            return self._walk(ins[0], t, 0, idx, gain * math.prod(shp[ins[0]][1:]), tree, seen)
        if x.channel_copy:
            return self._walk(ins[0], t, 0, idx, gain, tree, seen)
        if isinstance(x, n.Flatten):
            c = shp[ins[0]][0]
            i2, g2 = idx.reshape(c, -1), gain.reshape(c, -1)
            if np.any(i2 != i2[:, :1]) or np.any(g2 != g2[:, :1]):
                raise _PerLayer
            return self._walk(ins[0], t, 0, i2[:, 0], g2[:, 0], tree, seen)
        if x.reorders:  # Reshape, Transpose (Flatten above)
            if np.any(idx != idx[0]) or np.any(gain != gain[0]):
                raise _PerLayer
            c = shp[ins[0]][0] if shp[ins[0]] else 1
            return self._walk(ins[0], t, 0, np.full(c, idx[0]), np.full(c, gain[0]), tree, seen)
        if isinstance(x, n.Concat) and x.axis == 1:
            start = 0
            for p, i in enumerate(ins):
                c = shp[i][0]
                self._walk(i, t, p, idx[start:start + c], gain[start:start + c], tree, seen)
                start += c
            return
        if x.joins:
            for p, i in enumerate(ins):
                self._walk(i, t, p, idx, gain, tree, seen)
            return
        raise ConversionError(f"integer mode cannot pass a current through {x.op} '{t}'")

    # -- choosing θ and the weights -------------------------------------------------------
    def run(self) -> Graph:
        self._forward_fixed()
        self.sigma.update(self.fixed)
        pending = self._trees()
        self.theta: dict[str, np.ndarray] = {}
        self.inserted: dict[tuple[str, int], n.Node] = {}
        while pending:
            ready = [t for t in pending
                     if all(self.g[m[0]].inputs[0] in self.sigma for m in t.members)]
            if not ready:
                names = ", ".join(t.pop or t.root for t in pending)
                raise ConversionError(f"integer mode: cannot order the scales of {names} "
                                      "(linear layers that depend on each other's scale)")
            tree = ready[0]
            pending.remove(tree)
            self._solve(tree)
            self._forward_all()
        return self._build()

    def _solve(self, tree: _Tree) -> None:
        """Choose θ per channel, then σ of every member and the Scale of every leaf."""
        wmax, spec = self.spec.weight_max, self.spec
        bound = np.full(tree.channels, np.inf)
        for name, idx, gain in tree.members:
            a = _max_ratio(self.g[name], self.sigma[self.g[name].inputs[0]], self.g)
            for c in range(tree.channels):
                sel = (idx == c) & (a > 0)
                if sel.any():
                    bound[c] = min(bound[c], float(np.min(wmax * gain[sel] / a[sel])))
        exact: list[set] = [set() for _ in range(tree.channels)]
        for _, _, t, idx, gain in tree.leaves:
            s = _bc(self.fixed[t], len(idx)) * gain
            for c in range(tree.channels):
                sel = idx == c
                exact[c].update(s[sel].tolist())
                if sel.any():  # a leaf that needs a Scale node must fit the weight width
                    bound[c] = min(bound[c], float(np.min(wmax * s[sel])))
        theta = np.empty(tree.channels)
        for c in range(tree.channels):
            if not tree.members and len(exact[c]) == 1:
                theta[c] = next(iter(exact[c]))  # spikes straight in: no rescaling at all
                continue
            b = bound[c] if np.isfinite(bound[c]) else float(wmax)
            if tree.pop is not None:  # θ ≤ L/2: the membrane has room above θ
                b = min(b, float(spec.v_limit // 2))
                b = min(b, target_bound(self, tree, c))
            if b < 1:
                log.warning("'%s': weights too large for %d bits at threshold 1; clipping",
                            tree.pop or tree.root, spec.weight_bits)
                b = 1.0
            theta[c] = 2.0 ** math.floor(math.log2(b)) if spec.scale is QuantScale.POW2 \
                else math.floor(b)
        if tree.pop is not None:
            theta = np.maximum(np.rint(theta), 1)
            if theta.min() < spec.min_threshold:
                raise ConversionError(
                    f"IF '{tree.pop}': the target's limits (currents, biases, weight width) "
                    f"leave it a threshold of {int(theta.min())}, below the target's minimum "
                    f"{spec.min_threshold}; its weights or bias are too large next to the "
                    "others (docs/integer-mode.md)")
            self.theta[tree.pop] = theta
        for name, idx, gain in tree.members:
            self.sigma[name] = _uniform(theta[idx] / gain)
        for cons, pos, t, idx, gain in tree.leaves:
            want = theta[idx] / gain
            have = _bc(self.fixed[t], len(idx))
            if np.allclose(want, have, rtol=1e-9):
                continue
            factor = _uniform(np.rint(want / have))
            if np.all(factor == 1):
                continue  # only a rounding of a non-integer input scale: nothing to insert
            shape = (factor.size,) + (1,) * (len(self.g.shapes[t]) - 1) if factor.size > 1 \
                else (1,) * len(self.g.shapes[t])
            node = n.Scale(f"{t}.q_{cons}_{pos}", (t,), factor=factor.reshape(shape)
                           .astype(weight_dtype(spec.weight_bits)))
            self.inserted[(cons, pos)] = node
            self.sigma[node.name] = want

    def _forward_all(self) -> None:
        for x in self.g:
            if x.name in self.sigma or x.multiplicative:
                continue
            ins = []
            for p, i in enumerate(x.inputs):
                ins_node = self.inserted.get((x.name, p))
                ins.append(self.sigma.get(ins_node.name if ins_node else i))
            if all(s is not None for s in ins):
                self.sigma[x.name] = self._propagate(x, ins)

    def _build(self) -> Graph:
        from .build import build_quantized

        return build_quantized(self)


class _PerLayer(Exception):
    """Internal: per-channel thresholds impossible for this population."""


def _tree_tensors(tree: _Tree, g: Graph) -> set[str]:
    out = {m[0] for m in tree.members}
    stack = [tree.root]
    while stack:
        t = stack.pop()
        if t in out or any(leaf[2] == t for leaf in tree.leaves):
            continue
        out.add(t)
        stack.extend(g[t].inputs)
    return out


def quantize_graph(graph: Graph, spec: QuantSpec, calibration: np.ndarray | None = None,
                   target: str | None = None) -> Graph:
    """Return the integer-mode version of the spiking ``graph`` (see module docstring);
    ``target`` is recorded in ``graph.quant.target``."""
    spec.validate()
    if is_quantized(graph):
        raise ConversionError("the network is already quantized")
    if not graph.of_type(n.IF):
        raise ConversionError("quantize a spiking network (after conversion), not an ANN")
    q = _Quantizer(graph, spec, calibration)
    q.target = target
    return q.run()


__all__ = ["QuantSpec", "quantize_graph"]
