"""The integer simulator: a quantized spiking graph run with integer arithmetic only.

The graph comes from :func:`ann2snn.quantize.quantize_graph`; its semantics are
in docs/integer-mode.md and are mirrored one function to one function by the C runtime
(``backends/c``). Per population and step, with ``L = 2^(state_bits−1) − 1``:

    v ← clamp(v + I, −L, L)            (saturating add, int64 here, int32 in C)
    s = [v ≥ θ]                        (or min(⌊v/θ⌋, s_max) when v ≥ θ, multi-spike)
    v ← v − θ·s  (SUBTRACT)  or  v ← 0 where s > 0  (ZERO)

Tensors are int64. Convolutions and dense layers run in float64, which is exact here:
every product and every partial sum is an integer of magnitude at most
Σ|w_int|·max|x_int| + |b_int|, which the quantizer proved to be < 2^31 < 2^53, and
float64 represents every integer below 2^53 exactly, so no addition or multiplication
rounds, in whatever order a BLAS or convolution kernel sums (cuDNN is switched off so
that no FFT/Winograd algorithm is picked; TF32 does not apply to float64). Hence CPU,
CUDA and the generated C give the same spikes bit for bit.

The loop is the float simulator's (sim/windows.py): windows of K steps, layer by
layer, the analog input's constant current computed once; the ops are in
sim/integer_ops.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..errors import SimulationError
from ..ir import Graph, QuantInfo, ResetMode, SynapticDelay, coerce, facts
from ..ir import nodes as n
from ..ir.quant import if_thresholds
from . import kernels
from .encoders import Encoding
from .integer_ops import IntParams, int_apply, spiking_maxpool
from .simulator import SpikingNetwork, plan_windows
from .windows import BatchOutput, Probe, WindowOps, run_chunked, run_windows


class IntIFParams(NamedTuple):
    threshold: torch.Tensor  #: int64, shape (1,) or (C, 1, ...) to broadcast over (B, C, ...)
    limit: int  #: saturation bound L
    reset_zero: bool
    multi_spike: int
    membrane_readout: bool


def quant_meta(graph: Graph) -> QuantInfo:
    """The graph's integer-mode record; SimulationError for a float graph."""
    q = graph.quant
    if q is None:
        raise SimulationError("this network is not quantized; run ann2snn quantize first")
    return q


def int_if_params(graph: Graph, node: n.IF, device) -> IntIFParams:
    q = quant_meta(graph)
    th = torch.tensor([int(v) for v in if_thresholds(node)], dtype=torch.int64, device=device)
    rank = len(graph.shapes[node.name])
    if th.numel() > 1:
        th = th.view(-1, *([1] * (rank - 1)))
    return IntIFParams(th, int(q.v_limit), node.reset is ResetMode.ZERO, node.multi_spike,
                       node.membrane_readout)


def int_if_init(shape, node: n.IF, p: IntIFParams, device) -> torch.Tensor:
    """v(0) = clamp(⌊v0·θ + 1/2⌋, −L, L)."""
    v0 = torch.floor(p.threshold.double() * node.v0 + 0.5).to(torch.int64)
    return torch.broadcast_to(v0.clamp(-p.limit, p.limit), tuple(shape)).clone().to(device)


def int_if_step(current: torch.Tensor, v: torch.Tensor, p: IntIFParams
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One integer IF step: returns (spikes, v before reset, v after reset).

    A membrane-readout population returns its membrane as its output.
    """
    pre = torch.clamp(v + current, -p.limit, p.limit)
    if p.membrane_readout:
        return pre, pre, pre
    if p.multi_spike > 1:
        s = torch.div(pre, p.threshold, rounding_mode="floor").clamp(0, p.multi_spike)
        s = torch.where(pre >= p.threshold, s, torch.zeros_like(s))
    else:
        s = (pre >= p.threshold).to(torch.int64)
    post = torch.where(s > 0, torch.zeros_like(pre), pre) if p.reset_zero \
        else pre - p.threshold * s
    return s, pre, post


def quantize_input(x, graph: Graph) -> torch.Tensor:
    """x_int = clamp(⌊x·q + 1/2⌋, q_min, q_max) as int64 (integer input passes as is)."""
    q = quant_meta(graph)
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        x = np.array(x)
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        xi = x.to(torch.int64)
        if xi.numel() and (xi.min() < q.input_min or xi.max() > q.input_max):
            raise SimulationError(f"integer input outside [{q.input_min}, {q.input_max}]")
        return xi
    if not torch.isfinite(x).all():
        raise SimulationError("input contains NaN or Inf")
    xi = torch.floor(x.to(torch.float64) * float(q.input_scale) + 0.5)
    return xi.clamp(q.input_min, q.input_max).to(torch.int64)


def _params(net, dev) -> IntParams:
    cache = net.__dict__.setdefault("_int_params", {})
    if str(dev) not in cache:
        cache[str(dev)] = IntParams(net.graph, dev)
    return cache[str(dev)]


@torch.no_grad()
def run_integer(net, x, timesteps: int, encoding: Encoding | str = Encoding.ANALOG,
                window: int | None = None, seed: int = 0, sample_index=None,
                input_rate: float = 1.0, probe: Probe | None = None, count_ops: bool = True,
                memory_budget: int = 256 << 20,
                synaptic_delay: SynapticDelay | int = SynapticDelay.NONE,
                labels: torch.Tensor | None = None) -> BatchOutput:
    """Simulate one batch of a quantized network; the float simulator's interface.

    ``net`` is a :class:`SpikingNetwork` (for its graph, device and fan-out counts).
    ``x``: float input (quantized here) or already-quantized integers. Analog input only.
    """
    graph: Graph = net.graph
    encoding = coerce(Encoding, encoding, "encoding")
    delay = coerce(SynapticDelay, synaptic_delay, "synaptic_delay")
    if encoding is not Encoding.ANALOG:
        raise SimulationError("integer mode supports analog input only (the input is "
                              "quantized to integers and presented every step)")
    if timesteps < 1:
        raise SimulationError(f"timesteps must be >= 1, got {timesteps}")
    dev = net.params_device()
    xi = quantize_input(x, graph).to(dev)
    if tuple(xi.shape[1:]) != tuple(graph.input_shape):
        raise SimulationError(f"input has shape {tuple(xi.shape[1:])} per sample; the network "
                              f"expects {tuple(graph.input_shape)}")
    prm = _params(net, dev)
    b = xi.shape[0]
    if sample_index is None:
        sample_index = torch.arange(b)
    window, chunk = plan_windows(graph, b, timesteps, window, 8, dev, probe is None,
                                 memory_budget)
    if chunk < b:
        return run_chunked(lambda i, j: run_integer(
            net, xi[i:j], timesteps, encoding, window, seed, sample_index[i:j], input_rate,
            None, count_ops, memory_budget, delay, None if labels is None else labels[i:j]),
            b, chunk)
    ifp = {x_.name: int_if_params(graph, x_, dev) for x_ in facts.populations(graph)}
    ops = WindowOps(
        inputs=lambda t0, k: (xi, True),
        if_init=lambda node, shape: int_if_init(shape, node, ifp[node.name], dev),
        if_scan=lambda node, cur, v, k, st, t0: _scan(cur, v, ifp[node.name], k, st, probe,
                                                      node.name, t0),
        if_scan_counting=lambda node, cur, v, k, st, t0, count: _scan(
            cur, v, ifp[node.name], k, st, probe, node.name, t0, count),
        spiking_maxpool=spiking_maxpool,
        apply=lambda node, xs: int_apply(node, xs, prm),
        fanout=net._fanout_of)
    return run_windows(graph, ops, b, timesteps, window, probe,
                       set() if count_ops else None, int(delay), labels)


def int_if_scan(cur: torch.Tensor, v: torch.Tensor, p: IntIFParams, k: int, static: bool,
                count: torch.Tensor | None = None, inplace: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` steps of :func:`int_if_step` (spikes (k, ...), new v); equal to it. ``count``:
    spike counts to add the window's spikes to, in place; ``inplace``: the new v may be
    ``v`` itself. The fused kernel (sim/kernels/) where it applies, else tensor
    operations per step."""
    args = (cur, v, p.threshold, p.limit, p.multi_spike, p.reset_zero, p.membrane_readout,
            k, static, count, inplace)
    r = kernels.fused("if_scan_i64", cur.device, *args)
    if r is not None:
        return r
    s, v = _int_if_scan_torch(cur, v, p, k, static)
    if count is not None and not p.membrane_readout:
        count += s.sum(0)
    return s, v


def _int_if_scan_torch(cur: torch.Tensor, v: torch.Tensor, p: IntIFParams, k: int,
                       static: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if p.multi_spike > 1 or p.membrane_readout:
        outs = []
        for i in range(k):
            s, _, v = int_if_step(cur if static else cur[i], v, p)
            outs.append(s)
        return torch.stack(outs), v
    v = v.clone()
    out = torch.empty((k, *v.shape), dtype=torch.int64, device=v.device)
    mask = torch.empty(v.shape, dtype=torch.bool, device=v.device)
    for i in range(k):
        v.add_(cur if static else cur[i]).clamp_(-p.limit, p.limit)
        torch.ge(v, p.threshold, out=mask)
        out[i].copy_(mask)
        if p.reset_zero:
            v.masked_fill_(mask, 0)
        else:
            v.sub_(out[i] * p.threshold)
    return out, v


def _scan(cur, v, p: IntIFParams, k: int, static: bool, probe, name: str, t0: int,
          count: torch.Tensor | None = None):
    if probe is None:
        return int_if_scan(cur, v, p, k, static, count, inplace=True)  # the loop's state
    out, pres, posts = [], [], []
    for i in range(k):
        s, pre, v = int_if_step(cur if static else cur[i], v, p)
        out.append(s)
        if probe is not None:
            pres.append(pre)
            posts.append(v)
    s = torch.stack(out)
    if probe is not None:
        probe(name, "v_pre_reset", torch.stack(pres), t0)
        probe(name, "v", torch.stack(posts), t0)
        if not p.membrane_readout:  # a membrane readout does not spike (docs/traces.md)
            probe(name, "spikes", s, t0)
    if count is not None and not p.membrane_readout:
        count += s.sum(0)
    return s, v


class IntegerNetwork(SpikingNetwork):
    """A quantized network as a torch module; ``run_batch`` runs :func:`run_integer`."""

    def run_batch(self, x, timesteps: int, encoding: Encoding | str = Encoding.ANALOG, **kwargs
                  ) -> BatchOutput:
        return run_integer(self, x, timesteps, encoding, **kwargs)


def integer_trace(net, x, timesteps: int, window: int | None = None,
                  synaptic_delay: SynapticDelay | int = SynapticDelay.NONE
                  ) -> dict[str, dict[str, np.ndarray]]:
    """Every population's current, v_pre_reset, v and spikes, and the input as presented:
    ``{layer: {kind: int32 array (T, S, *shape)}}`` — what the C program's trace holds."""
    rec: dict[str, dict[str, list]] = {}

    def probe(name: str, kind: str, t: torch.Tensor, t0: int) -> None:
        rec.setdefault(name, {}).setdefault(kind, []).append(t.to(torch.int64).cpu())

    run_integer(net, x, timesteps, window=window, probe=probe, count_ops=False,
                synaptic_delay=synaptic_delay)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, kinds in rec.items():
        out[name] = {}
        for kind, parts in kinds.items():
            a = torch.cat(parts).numpy()
            if np.abs(a).max(initial=0) > 2**31 - 1:
                raise SimulationError(f"{name}/{kind} exceeds int32")
            out[name][kind] = a.astype(np.int32)
    return out
