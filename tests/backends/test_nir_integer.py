"""Integer-mode networks in NIR (backends/nir/integer.py): the file holds the integer
weights and thresholds (θ − 1: NIR fires on v > t), sum pools and the integer-mode
record; reading it back gives an integer-mode graph with identical spikes; what NIR
cannot hold exactly (a membrane that may saturate within T) is refused by name."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_nir import net_1d, net_2d

import ann2snn
from ann2snn.backends import BackendMismatch
from ann2snn.ir import ResetMode
from ann2snn.network import SNN
from ann2snn.quantize import QuantSpec, quantize

nir = pytest.importorskip("nir")
f32 = np.float32
T = 40


def _net_2d(**kw):
    g = net_2d(**kw)  # integer mode needs θ = 1: the 0.7 of 's2' becomes 1
    return g.replace([dataclasses.replace(x, threshold=1.0) if x.name == "s2" else x
                      for x in g])


CASES = {
    "2d-subtract": lambda: quantize(SNN(_net_2d())),
    "2d-zero-per-channel": lambda: quantize(SNN(_net_2d(reset=ResetMode.ZERO)),
                                            QuantSpec(per_channel=True)),
    "2d-membrane-pow2": lambda: quantize(SNN(_net_2d(membrane=True)),
                                         QuantSpec(scale="pow2", weight_bits=6)),
    "1d-per-channel": lambda: quantize(SNN(net_1d()), QuantSpec(per_channel=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_integer_round_trip_gives_identical_spikes(case, tmp_path):
    q = CASES[case]()
    path = ann2snn.export(q, "nir", tmp_path / "q.nir", timesteps=T)[0]
    back = ann2snn.load(path)
    assert back.graph.quant == q.graph.quant  # read back as an integer-mode network
    x = np.random.default_rng(5).random((9, *q.graph.input_shape)).astype(f32)
    a, b = q.run_batch(x, T), back.run_batch(x, T)
    assert set(b.counts) == set(a.counts)
    for k in a.counts:
        assert torch.equal(a.counts[k], b.counts[k]), k
        assert a.counts[k].sum() > 0, f"population {k} never spikes: a weak test"
    assert torch.equal(a.readout, b.readout) and torch.equal(a.predictions, b.predictions)


def test_the_file_holds_the_integers(tmp_path):
    q = quantize(SNN(_net_2d()), QuantSpec(per_channel=True))
    ann2snn.export(q, "nir", tmp_path / "q.nir", timesteps=T)
    h = nir.read(str(tmp_path / "q.nir"), type_check=False)
    g = q.graph
    assert type(h.nodes["ap"]).__name__ == "SumPool2d"  # integer mode's pools are sums
    assert type(h.nodes["gap.pool"]).__name__ == "SumPool2d"
    np.testing.assert_array_equal(h.nodes["c1"].weight, g["c1"].weight.astype(f32))
    th = np.asarray(g["s1"].thresholds or (g["s1"].threshold,), f32)
    fire = h.nodes["s1"].threshold  # per neuron: θ − 1 of the neuron's channel
    assert np.array_equal(fire[:, 0, 0] + 1, np.broadcast_to(th, fire.shape[:1]))
    assert np.array_equal(h.nodes["s1.reset"].scale, -(fire + 1))
    md = h.metadata
    assert md["arithmetic"] == "integer" and md["membrane_limit"] == 2**31 - 1
    iq = json.loads(md["input_quantization"])
    assert iq["scale"] == g.quant.input_scale and (iq["min"], iq["max"]) == (0, 255)
    bound = max(g.quant.bounds[p.inputs[0]] for p in g if p.population)
    assert md["exact_timesteps"] == (2**31 - 1) // bound


def test_a_membrane_that_may_saturate_is_refused_by_name(tmp_path):
    q = quantize(SNN(_net_2d()), QuantSpec(state_bits=16))
    limit = q.graph.quant.v_limit
    b = {p.name: q.graph.quant.bounds[p.inputs[0]] for p in q.graph if p.population}
    fine = min(limit // v for v in b.values())
    ann2snn.export(q, "nir", tmp_path / "ok.nir", timesteps=fine)  # within the proof
    with pytest.raises(BackendMismatch) as e:
        ann2snn.export(q, "nir", tmp_path / "no.nir", timesteps=fine + 1)
    msg = str(e.value)
    worst = [k for k, v in b.items() if (fine + 1) * v > limit]
    assert worst and all(f"'{k}'" in msg for k in worst)
    assert "--state-bits" in msg and "saturation" in msg
    assert not (tmp_path / "no.nir").exists()
