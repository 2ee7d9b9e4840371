"""Burst spikes (convert(burst=k)): counts on constant currents, and spikes and synaptic
operations counted per spike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import ann2snn
from ann2snn.analysis.counts import fanout, synaptic_ops
from ann2snn.ir import facts

XS = [0.0, 0.0625, 0.375, 0.5, 0.8125, 0.96875, 1.0]  # dyadic: exact float sums


def _model(seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(4, 4, bias=False), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        m[0].weight.copy_(torch.eye(4))
        m[2].weight.copy_(torch.rand(3, 4) + 0.1)  # no zero weight: fan-out 3 each
    return m.eval()


def _convert(k):
    calib = np.concatenate([np.ones((1, 4)), np.random.default_rng(0).random((31, 4))])
    return ann2snn.convert(_model(), calib.astype(np.float32), method="max", burst=k,
                           v0=0.0, per_channel=False)  # the formula's v(0) = 0, one λ


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("steps", [1, 3, 8, 13])
def test_counts_on_constant_currents_equal_the_formula(k, steps):
    """Hidden threshold λ/k = 1/k (max of the calibration activations is 1): input x is
    a constant current k·x per step, so a neuron emits min(⌊k·x·T⌋, k·T) spikes."""
    snn = _convert(k)
    hidden, out = [x for x in snn.graph if x.population]
    assert hidden.multi_spike == k and out.multi_spike == 1
    x = np.array([XS[:4], XS[3:]], np.float32)
    counts = snn.run_batch(x, steps).counts[hidden.name].numpy()
    want = [[min(math.floor(k * v * steps), k * steps) for v in row] for row in x]
    assert counts.tolist() == want
    assert snn.graph.meta.get("burst", 1) == k


def test_burst_lowers_the_rate_error_k_times():
    """|rate/k − x| < 1/(k·T): at T = 4 and k = 4, x = 0.8125 is exact (13/16); binary
    spikes give 3/4."""
    x = np.full((1, 4), 0.8125, np.float32)
    one = _convert(1).run_batch(x, 4)
    four = _convert(4).run_batch(x, 4)
    name = next(p.name for p in _convert(1).graph if p.population)
    assert one.counts[name].numpy().tolist() == [[3] * 4]
    assert four.counts[name].numpy().tolist() == [[13] * 4]


@pytest.mark.parametrize("kernels", ["auto", "torch"])
def test_synaptic_operations_count_every_spike(kernels, monkeypatch):
    """The output layer's SOPs are Σ spikes × fan-out (3 synapses per hidden neuron): a
    burst of m spikes counts m times, with the fused kernel and without."""
    monkeypatch.setenv("ANN2SNN_KERNELS", kernels)
    snn = _convert(3)
    g = snn.graph
    hidden = next(p for p in g if p.population)
    dense = next(x for x in g if x.weighted and x.inputs == (hidden.name,))
    assert facts.burst_nodes(g) == {hidden.name}
    x = np.random.default_rng(1).random((5, 4)).astype(np.float32)
    spikes = []

    def probe(name, kind, v, t0):
        if name == hidden.name and kind == "spikes":
            spikes.append(v.clone())

    bo = snn.run_batch(x, 6, probe=probe)
    counts = bo.counts[hidden.name].numpy()
    assert counts.max() > 6  # bursts happened: more spikes than steps
    fan = fanout(g, dense.name)
    assert fan.tolist() == [3.0] * 4
    assert float(bo.sops[dense.name].sum()) == float((counts * fan).sum())
    ev = torch.cat(spikes).numpy()
    ref = synaptic_ops(g, dense.name, ev, spikes=True)
    assert np.array_equal(bo.sops[dense.name].numpy().astype(np.float64), ref)
    assert ref.sum() > synaptic_ops(g, dense.name, ev).sum()  # more than one per neuron


def test_spikes_per_neuron_count_every_spike(digits, digits_model):
    """The result's spikes per neuron are the populations' spike counts summed (a burst of
    3 is 3 spikes); with burst 2 they exceed the binary network's."""
    train, test = digits
    res = {}
    for k in (1, 2):
        snn = ann2snn.convert(digits_model, train.x[:300], burst=k)
        res[k] = snn.simulate(test.subset(40), timesteps=8, diagnostics=False,
                              example_sample=None, evaluate_ann=False)
        bo = snn.run_batch(test.x[:40], 8)
        pops = [p for p in snn.graph if p.population and not p.membrane_readout]
        total = sum(float(bo.counts[p.name].sum()) for p in pops)
        neurons = sum(int(np.prod(snn.graph.shapes[p.name])) for p in pops)
        got = res[k].metrics()["spikes_per_neuron"]["total"]
        assert got == pytest.approx(total / neurons / 40)
    assert res[2].metrics()["spikes_per_neuron"]["total"] > \
        res[1].metrics()["spikes_per_neuron"]["total"]
