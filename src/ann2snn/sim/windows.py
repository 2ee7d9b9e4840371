"""The simulation loop shared by the float and the integer simulator (docs/design.md §5).

Time is processed in windows of K steps. Within a window the network runs layer by
layer: each synaptic operation is one batched call over (K × batch), then each neuron
population is an elementwise scan over K. With synaptic delay 0 this equals the
step-by-step order exactly. With delay 1 (docs/design.md §3) every spike source (a
population, or a spike-encoded input) is read by its consumers one step late: the
window's spikes at steps t0..t0+K-1 are presented at t0+1..t0+K, the window's first step
getting the previous window's last (zeros before step 0); a step-by-step loop with a
one-step spike buffer per connection gives the same (tested). Tensors that depend only
on an analog input are "static": they are computed once per batch (the first layer's
constant current).
What differs between the simulators is passed in as :class:`WindowOps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..ir import Graph, facts
from ..ir import nodes as n
from .sops import sop_counts

#: Called per window: (node name, kind, tensor (K, B, ...), first step index).
#: kind is "current", "v_pre_reset", "v" (after reset) or "spikes".
Probe = Callable[[str, str, torch.Tensor, int], None]


@dataclass
class BatchOutput:
    """What one simulated batch returns (tensors on CPU)."""

    readout: torch.Tensor  #: (B, classes) spike counts (or membrane) at the last step
    #: (T, B) int64 argmax per step; -1: no output spike yet. None when the run was given
    #: ``labels``: then only ``correct`` and ``final`` are kept, O(T + B) for any T
    predictions: torch.Tensor | None
    counts: dict[str, torch.Tensor]  #: per IF population, spike counts per sample (B, ...)
    sops: dict[str, torch.Tensor]  #: per synaptic op, events × fan-out per step (T,), summed
    extra: dict = field(default_factory=dict)
    correct: torch.Tensor | None = None  #: (T,) int64: samples predicted right per step
    final: torch.Tensor | None = None  #: (B,) int64: the prediction at the last step

    def final_predictions(self) -> torch.Tensor:
        """(B,) the prediction at the last step."""
        return self.final if self.final is not None else self.predictions[-1]

    def correct_per_step(self, labels: torch.Tensor) -> torch.Tensor:
        """(T,) int64: per step, the samples whose prediction equals ``labels`` (B,)."""
        if self.correct is not None:
            return self.correct
        return (self.predictions == labels.to(self.predictions.device)[None]).sum(1)


@dataclass
class WindowOps:
    """What differs between the float and the integer simulator; the loop is shared."""

    inputs: Callable  #: (t0, k) -> (input tensor, static?)
    if_init: Callable  #: (IF node, shape) -> state
    if_scan: Callable  #: (IF node, current, state, k, static, t0) -> (spikes, state); probes
    spiking_maxpool: Callable  #: (node, spikes (k, B, ...), state dict) -> gated spikes
    apply: Callable  #: (node, inputs) -> output, for every other node
    fanout: Callable  #: (node, input shape) -> synapses per input element (numel,)
    #: as ``if_scan`` with a last argument ``count``: the population's spike counts
    #: (zeros before the first window, in the layout of its current), to which the scan
    #: adds the window's spikes in place (the fused kernels, in the same pass). None: the
    #: loop sums the spikes itself
    if_scan_counting: Callable | None = None
    #: (IF node, its only reader: a spiking max pool or an average pool, current, IF
    #: state, the loop's state dict (a max pool's counts), k, static, count, fan) -> (the
    #: pool's output, IF state, SOPs per step (k,) or None) in one fused pass, or None
    #: where it does not apply; None: never fused. ``fan`` (None: no SOP counts): an
    #: average pool's own fan-out (its SOPs), or that of the synaptic node that alone
    #: reads a max pool (that node's SOPs, :func:`pool_readers`); the SOPs are Σ s·fan,
    #: which counts every spike of a burst
    if_pool: Callable | None = None


def run_chunked(run: Callable[[int, int], BatchOutput], b: int, chunk: int) -> BatchOutput:
    """Run samples [i, j) in chunks with ``run(i, j)`` and merge the outputs."""
    parts = [run(i, min(i + chunk, b)) for i in range(0, b, chunk)]
    sops: dict[str, torch.Tensor] = {}
    for p in parts:
        for k, v in p.sops.items():
            sops[k] = sops[k] + v if k in sops else v
    reduced = parts[0].predictions is None
    return BatchOutput(readout=torch.cat([p.readout for p in parts]),
                       predictions=None if reduced else
                       torch.cat([p.predictions for p in parts], 1),
                       counts={k: torch.cat([p.counts[k] for p in parts])
                               for k in parts[0].counts},
                       sops=sops,
                       correct=sum(p.correct for p in parts) if reduced else None,
                       final=torch.cat([p.final_predictions() for p in parts]))


def fold_time(ins: list[tuple[torch.Tensor, bool]], k: int, b: int) -> list[torch.Tensor]:
    """Inputs as (k·b, ...) tensors: static ones (b, ...) repeated over the k steps."""
    return [(v.expand(k, *v.shape) if st else v).reshape(k * b, *v.shape[2 - st:])
            for v, st in ins]


def readout_window(s_out: torch.Tensor, prev: torch.Tensor | None, membrane: bool
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The readout after the window and the prediction at each of its steps.

    Spike counts accumulate over steps (``prev`` carries them between windows); the
    prediction is the argmax (ties: the lower index, as torch.argmax) and -1 while no
    output neuron has spiked. A membrane readout's ``s_out`` already is the membrane.
    """
    if membrane:
        return s_out[-1], s_out.argmax(-1)
    run = torch.cumsum(s_out, 0)
    if prev is not None:
        run += prev
    pred = run.argmax(-1)
    pred = torch.where(run.amax(-1) > 0, pred, torch.full_like(pred, -1))
    return run[-1], pred


def delayed(s: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
    """The window's spikes ``s`` (K, ...) one step late: ``prev`` (the previous window's
    last step; None: zeros) first, then ``s[:-1]``. Keeps ``s``'s memory layout."""
    out = torch.empty_like(s)
    if prev is None:
        out[0].zero_()
    else:
        out[0].copy_(prev)
    out[1:].copy_(s[:-1])
    return out


def delay_depth(graph: Graph, delay: int, spike_input: bool) -> int:
    """Steps before a spike can first reach the output population: the fewest delayed
    connections on a path from the input (``delay`` each; the input's own connections
    count when ``spike_input``, an analog input being a current). Until then the output
    sees only its bias (prediction -1 for a spike-count readout without one)."""
    d: dict[str, int] = {}
    for x in graph:
        if not x.inputs:
            d[x.name] = 0
            continue
        d[x.name] = min(d[i] + (delay if graph[i].population or
                                (spike_input and not graph[i].inputs) else 0)
                        for i in x.inputs)
    return d[graph.output]


def _readers(graph: Graph) -> dict[str, list[n.Node]]:
    """{node name: the nodes that read it}."""
    readers: dict[str, list] = {}
    for x in graph:
        for i in x.inputs:
            readers.setdefault(i, []).append(x)
    return readers


def fusable_pools(graph: Graph) -> dict[str, object]:
    """IF populations whose spikes only a spiking max pool or an average pool reads:
    {population: pool}. Not the output, not a membrane readout (the caller adds: no
    probe, no delay; the fused kernel may still decline a pool it does not cover)."""
    readers = _readers(graph)
    out = {}
    for x in graph:
        r = readers.get(x.name, [])
        if x.population and not x.membrane_readout and x.name != graph.output \
                and len(r) == 1 and isinstance(r[0], (n.SpikingMaxPool, n.AvgPool)) \
                and r[0].inputs == (x.name,):
            out[x.name] = r[0]
    return out


def pool_readers(graph: Graph, fused: dict[str, object]) -> dict[str, n.Node]:
    """{max pool: the synaptic node that is its only reader and reads nothing else}, for
    the fused max pools (values of ``fused``): the fused kernel counts that node's SOPs
    from the pool's output while it is in cache."""
    readers = _readers(graph)
    out = {}
    for pool in fused.values():
        r = readers.get(pool.name, [])
        if isinstance(pool, n.SpikingMaxPool) and pool.name != graph.output and len(r) == 1 \
                and r[0].synaptic and r[0].inputs == (pool.name,):
            out[pool.name] = r[0]
    return out


def run_windows(graph: Graph, ops: WindowOps, b: int, timesteps: int, window: int,
                probe: Probe | None, binary: set[str] | None, delay: int = 0,
                labels: torch.Tensor | None = None) -> BatchOutput:
    """Run ``graph`` for ``timesteps`` steps in windows of ``window`` (docs/design.md §5).

    Static tensors (functions of an analog input only) are computed once. ``binary``:
    the nodes whose outputs are 0/1 spikes; None skips the synaptic-operation counts.
    Dispatch is by node trait: the input (a node without inputs), neuron populations
    (scanned; with ``ops.if_pool``, a population that only a pool reads is run fused
    with it, :func:`fusable_pools`), other stateful nodes on spikes (spiking max
    pooling), and every other node through ``ops.apply``; the events into synaptic
    nodes are counted. ``delay``: the synaptic delay in steps (0 or 1, :func:`delayed`);
    the readout and the probes see the spikes when they are emitted. ``labels`` (B,):
    instead of the (T, B) predictions, keep per step the number of samples predicted
    right and the last prediction, so that nothing of the batch grows with T beyond the
    window (docs/scale-out.md).
    """
    state: dict[str, object] = {}
    counts: dict[str, torch.Tensor] = {}
    # every per-window result goes into buffers allocated once: a long-lived small
    # block allocated per window fragments the heap between the window's large
    # temporaries, and the process then grows with T (measured: 0.1 to 2 GB at T = 10^4)
    sops: dict[str, torch.Tensor] = {}
    static: dict[str, torch.Tensor] = {}
    carry: dict[str, torch.Tensor] = {}  # delay 1: each spike source's last step
    read = {i for x in graph for i in x.inputs} if delay else set()  # sources with readers
    emitted = None  # delay 1: the output population's own spikes, for the readout
    preds, out_acc, pred = None, None, None
    correct = None if labels is None else torch.zeros(timesteps, dtype=torch.int64)
    out_node = graph[graph.output]
    burst = facts.burst_nodes(graph) if binary is not None else set()  # spikes: x·fan-out
    fuse = fusable_pools(graph) if (ops.if_pool is not None and ops.if_scan_counting
                                    is not None and probe is None and not delay) else {}
    pooled: dict[str, torch.Tensor] = {}  # a fused pool's output, until its turn
    ahead = pool_readers(graph, fuse) if binary is not None else {}
    for t0 in range(0, timesteps, window):
        k = min(window, timesteps - t0)
        vals: dict[str, tuple[torch.Tensor, bool]] = {}
        counted_ahead: set[str] = set()  # nodes whose SOPs a fused kernel counted
        for node in graph:
            name = node.name
            source = not node.inputs  # the Input
            if name in static:
                vals[name] = (static[name], True)
            elif source:
                vals[name] = ops.inputs(t0, k)
                if vals[name][1]:
                    static[name] = vals[name][0]
            if source or name in static:
                v, st = vals[name]
                if probe is not None and source:
                    probe(name, "spikes", v.expand(k, *v.shape) if st else v, t0)
                if name in read and not st:  # a spike-encoded input, delay 1
                    vals[name] = (delayed(v, carry.get(name)), False)
                    carry[name] = v[-1].clone()
                continue
            ins = [vals[i] for i in node.inputs]
            if node.population:
                cur, st = ins[0]
                if name not in state:
                    state[name] = ops.if_init(node, cur.shape[0 if st else 1:])
                if probe is not None:
                    probe(name, "current", cur.expand(k, *cur.shape) if st else cur, t0)
                if not node.membrane_readout and name not in counts and \
                        ops.if_scan_counting is not None:  # in place: no new block per window
                    counts[name] = torch.zeros_like(cur if st else cur[0])
                if name in fuse:  # the population and its pool in one pass
                    rd = fuse[name]
                    shape = tuple(cur.shape[1 if st else 2:])
                    fan, key = None, rd.name  # the pool's own SOPs
                    if binary is not None and rd.synaptic:
                        fan = ops.fanout(rd, shape)
                    elif rd.name in ahead:  # its reader's, from the pooled spikes
                        key = ahead[rd.name].name  # (windows tile: kernel = stride; a
                        # partial window at the edge is declined by the kernel)
                        fan = ops.fanout(ahead[rd.name], (shape[0], *(
                            d // kk for d, kk in zip(shape[1:], rd.kernel))))
                    r = ops.if_pool(node, rd, cur, state[name], state, k, st, counts[name],
                                    fan)
                    if r is not None:
                        pooled[rd.name], state[name], r_sops = r
                        if r_sops is not None:
                            if key not in sops:
                                sops[key] = r_sops.new_zeros(timesteps)
                            sops[key][t0:t0 + k] = r_sops
                            counted_ahead.add(key)
                        vals[name] = (None, False)  # its spikes are read by nobody else
                        continue
                if node.membrane_readout:
                    s, state[name] = ops.if_scan(node, cur, state[name], k, st, t0)
                elif ops.if_scan_counting is not None:
                    s, state[name] = ops.if_scan_counting(node, cur, state[name], k, st, t0,
                                                          counts[name])
                else:
                    s, state[name] = ops.if_scan(node, cur, state[name], k, st, t0)
                    c = s.sum(0)
                    if name in counts:
                        counts[name] += c
                    else:
                        counts[name] = c
                vals[name] = (s, False)
                if name in read:  # delay 1
                    vals[name] = (delayed(s, carry.get(name)), False)
                    carry[name] = s[-1].clone()
                    if name == graph.output:
                        emitted = s
            elif name in pooled:  # computed with its population
                vals[name] = (pooled.pop(name), False)
            elif node.stateful and not ins[0][1]:  # state besides a population's: max pooling
                vals[name] = (ops.spiking_maxpool(node, ins[0][0], state), False)
            elif all(st for _, st in ins):
                static[name] = ops.apply(node, [v for v, _ in ins])
                vals[name] = (static[name], True)
            else:
                flat = fold_time(ins, k, b)
                if binary is not None and node.synaptic and name not in counted_ahead:
                    fan = ops.fanout(node, flat[0].shape[1:])
                    r = sop_counts(flat[0], fan, k, b, node.inputs[0] in binary,
                                   node.inputs[0] in burst)
                    if name not in sops:
                        sops[name] = r.new_zeros(timesteps)
                    sops[name][t0:t0 + k] = r
                y = ops.apply(node, flat)
                vals[name] = (y.reshape(k, b, *y.shape[1:]), False)
        s_out = vals[graph.output][0] if emitted is None else emitted
        out_acc, pred = readout_window(s_out, out_acc, out_node.membrane_readout)
        if labels is None:
            if preds is None:
                preds = pred.new_empty((timesteps, *pred.shape[1:]))
            preds[t0:t0 + k] = pred
        else:
            correct[t0:t0 + k] = (pred == labels.to(pred.device)[None]).sum(1).cpu()
    return BatchOutput(readout=out_acc.cpu(),
                       predictions=preds.cpu() if labels is None else None,
                       counts={k_: v.cpu() for k_, v in counts.items()},
                       sops={k_: v.cpu() for k_, v in sops.items()},
                       correct=correct, final=pred[-1].cpu())
