"""Generated C vs the integer simulator, bit for bit, on random networks that cover
every layer type the C backend supports: every population's current, membrane before
and after reset, and spikes, at every step, for several samples."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NETS, read_csv_trace, run

from ann2snn.backends.c import export_c
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import integer_trace

T, S = 14, 3
SPECS = {
    "8bit": QuantSpec(),
    # coarse weights, per-channel power-of-two thresholds, 12-bit saturating membranes
    "4bit-pc-pow2-sat": QuantSpec(weight_bits=4, state_bits=12, per_channel=True,
                                  scale="pow2"),
}


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_c_trace_equals_integer_simulator(net_name, spec_name, gcc, tmp_path):
    graph = NETS[net_name]()
    q = quantize(graph, SPECS[spec_name])
    x = np.random.default_rng(7).random((S, *graph.input_shape)).astype(np.float32)
    out = tmp_path / "c"
    export_c(q, out, x=x, timesteps=T)
    run(["make", "-s", "-C", str(out)])
    res = run(["./snn_main", "inputs.bin", "--quiet", "--check", "expected.bin",
               "--trace", "trace", "--trace-samples", str(S)], cwd=out)
    assert f"OK: bit-exact on {S} samples x {T} steps" in res.stdout

    want = integer_trace(q, x, T)
    got = read_csv_trace(out / "trace")
    pops = [p.name for p in q.graph.of_type(n.IF)]
    assert set(got) == set(want) == {*pops, *q.graph.inputs}
    for layer, kinds in want.items():
        node = q.graph[layer]
        expect_kinds = {"spikes"} if layer in q.graph.inputs else \
            {"current", "v_pre_reset", "v"} if node.membrane_readout else \
            {"current", "v_pre_reset", "v", "spikes"}
        assert set(kinds) == set(got[layer]) == expect_kinds
        for kind, arr in kinds.items():
            c = got[layer][kind]
            if not np.array_equal(c, arr):
                t, s, *i = np.argwhere(c != arr)[0]
                raise AssertionError(f"{layer}/{kind} differs first at step {t}, sample {s}, "
                                     f"neuron {i}: C {c[t, s][tuple(i)]}, Python "
                                     f"{arr[t, s][tuple(i)]}")
    # the test is only worth something if the populations are active
    for p in pops:
        if not q.graph[p].membrane_readout:
            assert 0 < (want[p]["spikes"] != 0).mean() < 1, p
    if spec_name.endswith("sat"):
        lim = q.graph.quant.v_limit
        assert any((np.abs(want[p]["v_pre_reset"]) == lim).any() for p in pops), \
            "the saturating case should saturate somewhere"


def test_c_model_compiles_without_trace_support(gcc, tmp_path):
    """The model alone (as it goes onto a micro-controller: no SNN_TRACE, no main.c)."""
    q = quantize(NETS["currents"](), QuantSpec())
    export_c(q, tmp_path)
    flags = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    run([*flags, "-c", "snn_model.c", "-o", "snn_model.o"], cwd=tmp_path)
    run([*flags, "main.c", "snn_model.c", "-o", "snn_notrace"], cwd=tmp_path)
    src = (tmp_path / "snn_model.c").read_text()
    for banned in ("malloc", "free(", "(*"):
        assert banned not in src


def test_c_converted_residual_network(gcc, tmp_path):
    """A torch residual network through the real pipeline (batch norm folded, per-channel
    normalization inserting Scale shortcuts, global average pooling), quantized with
    per-channel thresholds: `make check` is bit-exact."""
    import torch
    from torch import nn

    import ann2snn

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)
            self.c2 = nn.Conv2d(6, 6, 3, padding=1)
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.relu(self.c2(y) + y)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))

    torch.manual_seed(0)
    model = Res().eval()
    model.b1.running_var.uniform_(0.5, 2.0)
    x = np.random.default_rng(0).random((32, 1, 6, 6)).astype(np.float32)
    snn = ann2snn.convert(model, x, per_channel=True)
    assert snn.graph.of_type(n.Scale) and snn.graph.of_type(n.Add)
    q = quantize(snn, QuantSpec(per_channel=True))
    export_c(q, tmp_path, x=x[:6], timesteps=T)
    res = run(["make", "-s", "-C", str(tmp_path), "check"])
    assert f"OK: bit-exact on 6 samples x {T} steps" in res.stdout


@pytest.mark.parametrize("net_name", sorted(NETS))
def test_integer_mode_tracks_the_float_network(net_name):
    """The scale rules are right for every layer type: with 12-bit weights the integer
    network's spike counts stay within 5 % of the float network's (mean relative
    difference per population) and its predictions agree on at least 95 % of inputs."""
    import torch

    from ann2snn.sim.simulator import SpikingNetwork

    graph = NETS[net_name]()
    x = np.random.default_rng(9).random((64, *graph.input_shape)).astype(np.float32)
    bf = SpikingNetwork(graph).run_batch(torch.as_tensor(x), 64)
    bi = quantize(graph, QuantSpec(weight_bits=12)).run_batch(x, 64)
    for k, c in bf.counts.items():
        diff = (bi.counts[k].double() - c.double()).abs().mean() / c.double().mean()
        assert diff < 0.05, (k, float(diff))
    assert (bf.predictions[-1] == bi.predictions[-1]).double().mean() >= 0.95
