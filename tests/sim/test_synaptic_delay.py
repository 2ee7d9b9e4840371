"""Synaptic delay 1 (docs/design.md §3): a step-by-step reference with a one-step spike
buffer per connection against the windowed simulators, float and integer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ann2snn.ir import Encoding, Graph, ResetMode, SynapticDelay
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.encoders import element_keys, poisson_window, ttfs_window
from ann2snn.sim.functional import IFParams, IFState, if_init, if_step
from ann2snn.sim.integer import int_if_init, int_if_params, int_if_step, quantize_input
from ann2snn.sim.integer_ops import IntParams, int_apply
from ann2snn.sim.ops import GraphParams, apply
from ann2snn.sim.simulator import SpikingNetwork

f32 = np.float32


def _w(r, *shape, gain=1.5):
    return (r.normal(0.1, 1.0, shape) * gain / np.sqrt(np.prod(shape[1:]))).astype(f32)


def _conv(name, src, w, b=None, pad=1):
    return n.Conv(name, (src,), weight=w, bias=b, padding=(pad, pad), stride=(1, 1),
                  dilation=(1, 1))


def dense_net(seed=0, membrane=False) -> Graph:
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(12,)),
        n.Dense("d1", ("x",), weight=_w(r, 16, 12), bias=np.full(16, 0.05, f32)),
        n.IF("s1", ("d1",)),
        n.Dense("d2", ("s1",), weight=_w(r, 10, 16, gain=3), bias=np.full(10, 0.02, f32)),
        n.IF("s2", ("d2",), reset=ResetMode.ZERO),
        n.Dense("d3", ("s2",), weight=_w(r, 4, 10, gain=3), bias=None),
        n.IF("out", ("d3",), membrane_readout=membrane),
    ], "out", {"readout": "membrane" if membrane else "spike_count"})


def conv_net(seed=1) -> Graph:
    """Conv, SpikingMaxPool, a residual Add (Scale shortcut), AvgPool, Flatten, Dense."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(2, 8, 8)),
        _conv("c1", "x", _w(r, 4, 2, 3, 3), np.full(4, 0.1, f32)),
        n.IF("r1", ("c1",)),
        n.SpikingMaxPool("p1", ("r1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        _conv("c2", "p1", _w(r, 4, 4, 3, 3, gain=3)),
        n.IF("r2", ("c2",)),
        _conv("c3", "r2", _w(r, 4, 4, 3, 3, gain=3)),
        n.Scale("sc", ("p1",), factor=np.full((1, 1, 1), .5, f32)),
        n.Add("add", ("c3", "sc")),
        n.IF("r3", ("add",)),
        n.AvgPool("ap", ("r3",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("f", ("ap",)),
        n.Dense("fc", ("f",), weight=_w(r, 5, 16, gain=3), bias=np.zeros(5, f32)),
        n.IF("out", ("fc",)),
    ], "out")


def concat_net(seed=2) -> Graph:
    """Two branches of different depth joined by a Concat."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        _conv("c1", "x", _w(r, 3, 2, 3, 3), np.full(3, 0.1, f32)),
        n.IF("a", ("c1",)),
        _conv("c2", "a", _w(r, 3, 3, 3, 3, gain=3)),
        n.IF("b", ("c2",)),
        n.Concat("cat", ("a", "b"), axis=1),
        n.AvgPool("ap", ("cat",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("f", ("ap",)),
        n.Dense("fc", ("f",), weight=_w(r, 4, 54, gain=3), bias=None),
        n.IF("out", ("fc",)),
    ], "out")


NETS = {"dense": dense_net, "membrane": lambda: dense_net(3, membrane=True),
        "conv": conv_net, "concat": concat_net}


def _gate(node, cnt: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Spiking max pooling of one step: the spikes of the input with the largest count."""
    _, idx = F.max_pool2d(cnt.double(), node.kernel, node.stride, node.padding,
                          node.dilation, node.ceil_mode, return_indices=True)
    return torch.gather(s.flatten(2), 2, idx.flatten(2)).view(idx.shape)


def reference(graph: Graph, x: torch.Tensor, timesteps: int, delay: int,
              encoding: Encoding = Encoding.ANALOG, integer: bool = False, seed: int = 0):
    """Steps one by one, layers in order; every connection out of a spike source (a
    population, or a spike-encoded input) reads what the source emitted one step before
    (``delay`` 1) or in this step (0). Returns (readout, predictions (T, B), counts)."""
    cpu = torch.device("cpu")
    if integer:
        prm = IntParams(graph, cpu)
        x = quantize_input(x, graph)
    else:
        prm = GraphParams(graph)
    keys = element_keys(seed, torch.arange(len(x)), x[0].numel())
    spiking = {x_.name for x_ in graph if x_.population} | \
        ({graph.inputs[0]} if encoding is not Encoding.ANALOG else set())
    v, cnt, counts, emitted = {}, {}, {}, {}
    readout, preds = None, []
    for t in range(timesteps):
        vals = {}
        for node in graph:
            if not node.inputs:
                vals[node.name] = x if encoding is Encoding.ANALOG else \
                    (poisson_window(x, keys, t, 1, 1.0) if encoding is Encoding.POISSON
                     else ttfs_window(x, t, 1, timesteps))[0]
                continue
            ins = [emitted.get(i, torch.zeros_like(vals[i])) if delay and i in spiking
                   else vals[i] for i in node.inputs]
            if node.population:
                if integer:
                    p = int_if_params(graph, node, cpu)
                    v.setdefault(node.name, int_if_init(ins[0].shape, node, p, cpu))
                    s, _, v[node.name] = int_if_step(ins[0], v[node.name], p)
                else:
                    p = IFParams.of(node)
                    v.setdefault(node.name, if_init(ins[0].shape, p).v)
                    s, st = if_step(ins[0], IFState(v[node.name]), p)
                    v[node.name] = st.v
                if not node.membrane_readout:
                    counts[node.name] = counts.get(node.name, 0) + s
                vals[node.name] = s
            elif isinstance(node, n.SpikingMaxPool):
                cnt[node.name] = cnt.get(node.name, 0) + ins[0]
                vals[node.name] = _gate(node, cnt[node.name], ins[0])
            else:
                vals[node.name] = int_apply(node, ins, prm) if integer else \
                    apply(node, ins, prm)
        emitted = {k: vals[k] for k in spiking}  # the one-step spike buffers
        out = vals[graph.output]
        if graph[graph.output].membrane_readout:
            readout, pred = out, out.argmax(-1)
        else:
            readout = out if readout is None else readout + out
            pred = torch.where(readout.amax(-1) > 0, readout.argmax(-1), -1)
        preds.append(pred)
    return readout, torch.stack(preds), counts


def _check(got, ref):
    readout, preds, counts = ref
    assert torch.equal(got.readout, readout.to(got.readout.dtype))
    assert torch.equal(got.predictions, preds)
    assert got.counts.keys() == counts.keys()
    for k in counts:
        assert torch.equal(got.counts[k], counts[k].to(got.counts[k].dtype)), k


@pytest.mark.parametrize("net", list(NETS))
@pytest.mark.parametrize("encoding", [Encoding.ANALOG, Encoding.POISSON, Encoding.TTFS])
def test_float_windows_equal_the_step_by_step_reference(net, encoding, rng):
    g = NETS[net]()
    sim = SpikingNetwork(g)
    x = torch.as_tensor(rng.random((4, *g.input_shape)), dtype=torch.float32)
    T = 23
    ref = reference(g, x, T, 1, encoding)
    assert (ref[1][-1] >= 0).any(), "the output should spike: the test would be vacuous"
    for w in (1, 3, 8, T):
        _check(sim.run_batch(x, T, encoding, window=w, synaptic_delay=1), ref)
    # delay 0 differs (the test sees the delay), and equals the reference at delay 0
    zero = sim.run_batch(x, T, encoding, window=5)
    _check(zero, reference(g, x, T, 0, encoding))
    assert not torch.equal(zero.predictions, ref[1])


@pytest.mark.parametrize("net", list(NETS))
def test_integer_windows_equal_the_step_by_step_reference(net, rng):
    q = quantize(NETS[net](), QuantSpec())
    x = torch.as_tensor(rng.random((4, *q.graph.input_shape)), dtype=torch.float32)
    T = 21
    ref = reference(q.graph, x, T, 1, integer=True)
    assert (ref[1][-1] >= 0).any()
    for w in (1, 4, T):
        _check(q.run_batch(x, T, window=w, synaptic_delay=SynapticDelay.ONE_STEP), ref)
    zero = q.run_batch(x, T, window=4)
    _check(zero, reference(q.graph, x, T, 0, integer=True))
    assert not torch.equal(zero.predictions, ref[1])


def test_chunked_batches_and_synaptic_ops_do_not_depend_on_the_window(rng, monkeypatch):
    from ann2snn.sim import simulator

    g = conv_net()
    sim = SpikingNetwork(g)
    x = torch.as_tensor(rng.random((6, *g.input_shape)), dtype=torch.float32)
    ref = sim.run_batch(x, 17, Encoding.POISSON, window=1, synaptic_delay=1)
    got = sim.run_batch(x, 17, Encoding.POISSON, window=6, synaptic_delay=1)
    assert ref.sops.keys() == got.sops.keys() and ref.sops
    for k in ref.sops:
        assert torch.equal(got.sops[k], ref.sops[k])
    # the synaptic ops follow the delayed spikes: none reach fc before step 3
    assert float(ref.sops["fc"][:3].sum()) == 0 and float(ref.sops["fc"].sum()) > 0
    monkeypatch.setattr(simulator, "CPU_TENSOR_BYTES", 4096)  # forces chunks of samples
    chunked = sim.run_batch(x, 17, Encoding.POISSON, synaptic_delay=1)
    assert torch.equal(chunked.readout, ref.readout)
    assert torch.equal(chunked.predictions, ref.predictions)
