"""The loihi backend (nengo-loihi's emulator) against ann2snn's integer simulator at
synaptic delay 1, spike for spike (docs/backends.md, "Loihi"); chip.py's figures
against nengo-loihi's own constants."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("nengo_loihi")

_spec = importlib.util.spec_from_file_location(  # the Dense chain of the profile tests
    "loihi_nets", Path(__file__).parents[1] / "backends" / "test_loihi_profile.py")
_nets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_nets)

import nengo_loihi.block as nlb  # noqa: E402
import nengo_loihi.builder.discretize as nld  # noqa: E402
from torch import nn  # noqa: E402

import ann2snn  # noqa: E402
from ann2snn import SNN  # noqa: E402
from ann2snn.analysis.diff import diff_traces  # noqa: E402
from ann2snn.analysis.trace import record_trace  # noqa: E402
from ann2snn.backends import BackendMismatch  # noqa: E402
from ann2snn.backends.loihi import chip  # noqa: E402
from ann2snn.backends.loihi.build import synapse  # noqa: E402
from ann2snn.backends.loihi.resources import synapse_bits  # noqa: E402
from ann2snn.backends.loihi.runner import LoihiSNN  # noqa: E402
from ann2snn.backends.projections import integer_expand, projections  # noqa: E402
from ann2snn.quantize import quantize  # noqa: E402


def test_the_chip_figures_are_nengo_loihis():
    assert chip.COMPARTMENTS_PER_CORE == nlb.MAX_COMPARTMENTS
    assert chip.IN_AXONS_PER_CORE == nlb.MAX_IN_AXONS
    assert chip.OUT_AXONS_PER_CORE == nlb.MAX_OUT_AXONS
    assert chip.SYNAPSE_BITS_PER_CORE == nlb.MAX_SYNAPSE_BITS
    assert (chip.VTH_MAN_MAX, chip.BIAS_MAN_MAX, chip.Q_BITS, chip.U_BITS) == \
        (nld.VTH_MAN_MAX, nld.BIAS_MAN_MAX, nld.Q_BITS, nld.U_BITS)
    assert chip.UNIT == 2**nld.VTH_EXP


def test_synapse_memory_is_nengo_loihis_count():
    g = quantize(_nets.chain(fan_in=70), target="loihi").graph
    for p in projections(g, integer_expand).values():
        for c in p.incoming.values():
            syn = synapse(c, "s")
            n_per_axon = np.bincount(c.pre, minlength=c.n_pre)
            assert syn.bits() == int(synapse_bits(n_per_axon).sum())
            assert syn.synapse_cfg.shift_bits == 1  # a 7-bit mantissa and the sign


def run_both(q, x, steps):
    ref = q.run_batch(torch.as_tensor(x), steps, synaptic_delay=1)
    net = LoihiSNN(q.graph)
    got = net.run_batch(torch.as_tensor(x), steps)
    return ref, got


def assert_same(ref, got):
    assert torch.equal(ref.readout, got.readout)
    assert torch.equal(ref.predictions, got.predictions)
    for k in ref.counts:
        assert torch.equal(ref.counts[k], got.counts[k]), k
    for k in ref.sops:
        assert torch.equal(ref.sops[k].double(), got.sops[k].double()), k


@pytest.mark.parametrize("seed", [0, 1])
def test_a_dense_chain_spikes_as_the_integer_simulator(seed):
    q = quantize(_nets.chain(fan_in=600, seed=seed), target="loihi")
    x = np.random.default_rng(seed).random((3, 6)).astype(np.float32)
    ref, got = run_both(q, x, 60)
    assert int(ref.counts["s2"].sum()) > 0 and int(ref.counts["out"].sum()) > 0
    assert_same(ref, got)


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def cnn(digits):
    train, test = digits
    return quantize(ann2snn.convert(small_cnn(), train.x[:100]), calibration=train.x[:100],
                    target="loihi"), test


def test_a_cnn_and_its_traces_match_layer_by_layer(cnn):
    q, test = cnn
    ref, got = run_both(q, test.x[:4], 48)
    assert_same(ref, got)
    ta = record_trace(q, test.x, [0, 1], 48, synaptic_delay=1)
    tb = record_trace(LoihiSNN(q.graph), test.x, [0, 1], 48, synaptic_delay=1)
    d = diff_traces(ta, tb)
    assert d.equal, d.first


def test_the_saturating_membrane_matches_the_emulator():
    """Membranes that saturate at the negative limit (ann2snn's −(2^17 − 1), Loihi's
    −(2^23 − 1)) keep the same spikes afterwards."""
    from ann2snn.ir import nodes as n

    q = quantize(_nets.chain(seed=3), target="loihi").graph
    w = np.full_like(q["d2"].weight, -127)
    w[:4, :3] = 127  # neurons 0-3: inhibited into saturation
    w[4:] = 3  # neurons 4-7: spike
    g = q.replace([n.Dense("d2", ("s1",), weight=w, bias=np.full(8, 100, np.int32))
                   if x.name == "d2" else x for x in q])
    x = np.full((1, 6), 0.9, np.float32)
    rec = {}
    SNN(g).run_batch(torch.as_tensor(x), 400, synaptic_delay=1,
                     probe=lambda name, kind, t, t0: rec.setdefault(kind + name, []).append(t))
    assert int(torch.cat(rec["vs2"]).min()) == -g.quant.v_limit
    ref, got = run_both(SNN(g), x, 400)
    assert int(ref.counts["s2"][0, 4:].min()) > 0 and int(ref.counts["out"].sum()) > 0
    assert_same(ref, got)
    ta = record_trace(SNN(g), x, [0], 400, synaptic_delay=1)
    tb = record_trace(LoihiSNN(g), x, [0], 400, synaptic_delay=1)
    d = diff_traces(ta, tb)  # the membranes too: Loihi's −(2^23 − 1) is ann2snn's −L
    assert d.equal, d.first


def test_simulate_through_the_registry(cnn):
    q, digits = cnn
    kw = dict(timesteps=32, evaluate_ann=False, num_samples=4)
    a = q.simulate(digits, synaptic_delay=1, **kw)
    b = ann2snn.simulate(q, digits, backend="loihi", **kw)
    assert b.config["synaptic_delay"] == 1
    assert np.array_equal(a.snn_readout, b.snn_readout)
    assert np.array_equal(a.snn_predictions, b.snn_predictions)
    with pytest.raises(BackendMismatch, match="synaptic_delay 0"):
        ann2snn.simulate(q, digits, backend="loihi", synaptic_delay=0, **kw)


def test_mnist_lenet_output_spike_counts_are_identical():
    """A converted LeNet-5 with average pooling (its weights untrained: the semantics
    do not depend on training; benchmarks/loihi_lenet.py runs the trained one) on real
    MNIST digits."""
    data = os.environ.get("ANN2SNN_DATA")
    if not data or not (Path(data) / "mnist").is_dir():
        pytest.skip("MNIST not found: set ANN2SNN_DATA to a folder with mnist/")
    from ann2snn.data import load_dataset

    torch.manual_seed(0)
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    train = load_dataset("mnist", "train", data_dir=data)
    test = load_dataset("mnist", "test", data_dir=data)
    # one threshold per layer on the chip: scales per layer, membranes from 0 (docs/backends.md)
    snn = ann2snn.convert(lenet, train.x[:200], per_channel=False, v0=0.0)
    q = quantize(snn, calibration=train.x[:200], target="loihi")
    ref, got = run_both(q, test.x[:3], 40)
    assert int(ref.counts[q.graph.output].sum()) > 0
    assert_same(ref, got)
