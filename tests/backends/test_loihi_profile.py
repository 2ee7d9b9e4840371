"""The quantization target "loihi", checked against Loihi's documented compartment
equations with hand-computed traces, and the chip resources of ``ann2snn info``.
Needs no nengo-loihi (tests/equivalence/test_loihi.py runs the emulator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn import SNN
from ann2snn.backends import BACKENDS, BackendMismatch
from ann2snn.backends.loihi import chip
from ann2snn.backends.loihi.profile import problems, split
from ann2snn.backends.loihi.resources import resources, synapse_bits
from ann2snn.errors import ConversionError
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize

f32 = np.float32


def chain(fan_in: int = 40, seed: int = 0) -> Graph:
    """Input → Dense → IF (host) → Dense (fan-in ``fan_in``, all weights positive) →
    IF → Dense → IF (the output)."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(6,)),
        n.Dense("d1", ("x",), weight=r.uniform(0, 0.5, (fan_in, 6)).astype(f32),
                bias=np.full(fan_in, 0.05, f32)),
        n.IF("s1", ("d1",)),
        n.Dense("d2", ("s1",), weight=r.uniform(0.2, 1.0, (8, fan_in)).astype(f32) / 8,
                bias=r.normal(0, 0.05, 8).astype(f32)),
        n.IF("s2", ("d2",)),
        n.Dense("d3", ("s2",), weight=r.normal(0.1, 0.5, (3, 8)).astype(f32),
                bias=None),
        n.IF("out", ("d3",)),
    ], "out", {"readout": "spike_count"})


def test_the_profile_meets_every_register_limit():
    q = quantize(chain(), target="loihi").graph
    assert q.quant.target == "loihi" and q.meta["synaptic_delay"] == 1
    assert q.quant.v_limit == 2**17 - 1 and q.quant.weight_bits == 8
    assert split(q) == (["s1"], ["s2", "out"])
    for p in ("s2", "out"):
        assert q[p].reset is ResetMode.ZERO
        assert chip.THRESHOLD_MIN <= q[p].threshold <= q.quant.v_limit // 2
        assert q.quant.bounds[q[p].inputs[0]] <= chip.CURRENT_MAX
    for d in ("d2", "d3"):
        assert np.abs(q[d].weight).max() <= chip.WEIGHT_MAX
    assert problems(q) == []


def test_the_current_limit_binds_where_plain_integer_mode_overflows_loihi():
    """A fan-in of 600 positive 8-bit weights sums to far beyond 2^15: plain integer
    mode's current exceeds Loihi's 21-bit accumulator; the profile lowers θ to fit."""
    g = chain(fan_in=600)
    plain = quantize(g, QuantSpec(weight_bits=8, state_bits=18)).graph
    assert plain.quant.bounds["d2"] > chip.CURRENT_MAX
    assert any("21-bit synaptic input" in p.text for p in problems(plain))
    q = quantize(g, target="loihi").graph
    assert q.quant.bounds["d2"] <= chip.CURRENT_MAX < 2 * q.quant.bounds["d2"]
    assert q["s2"].threshold < plain["s2"].threshold
    assert problems(q) == []


def test_the_bias_limit_binds():
    g = chain()
    big = g.replace([x if x.name != "d3" else n.Dense("d3", ("s2",), weight=x.weight,
                                                         bias=np.full(3, 40.0, f32))
                     for x in g])
    q = quantize(big, target="loihi").graph
    assert 0 < np.abs(q["d3"].bias).max() <= chip.BIAS_MAX
    assert problems(q) == []


def test_neuron_options_loihi_lacks_are_refused_at_once():
    g = chain()
    bad = g.replace([n.IF("s2", ("d2",), leak=0.1, multi_spike=2) if x.name == "s2" else
                     n.IF("out", ("d3",), v0=0.5) if x.name == "out" else x for x in g])
    with pytest.raises(ConversionError) as e:
        quantize(bad, target="loihi")
    msg = str(e.value)
    assert "leak 0.1" in msg and "2 spikes per step" in msg and "'out'" not in msg


def test_v0_is_set_to_zero_with_a_warning(caplog):
    g = chain()
    shifted = g.replace([n.IF("out", ("d3",), v0=0.5) if x.name == "out" else x for x in g])
    with caplog.at_level("WARNING"):
        q = quantize(shifted, target="loihi").graph
    assert q["out"].v0 == 0 and "start at v0 = 0" in caplog.text and "out" in caplog.text


def test_the_target_fixes_its_widths():
    with pytest.raises(ConversionError, match="fixes weight_bits"):
        quantize(chain(), target="loihi", weight_bits=6)


def loihi_reference(g: Graph, x_int: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    """The spikes of Loihi's compartment equations (nengo_loihi/emulator/interface.py,
    CompartmentState.update, with full current decay and no voltage decay), written out
    in Loihi's own units, for a chain of Dense layers whose first population runs on
    the host with ann2snn's step:

        u(t) = q(t) = Σ 64·w · s_pre(t − 1)
        v(t) = clip(v(t−1) + u(t) + 64·b, −(2^23 − 1), 2^23 − 1)
        s(t) = v(t) > 64·(θ − 1);  v(t) ← 0 where s(t)
    """
    q = g.quant
    w1, b1, th1 = g["d1"].weight.astype(np.int64), g["d1"].bias.astype(np.int64), \
        int(g["s1"].threshold)
    cur = w1 @ x_int + b1  # the host population: ann2snn's integer step
    v = np.zeros_like(cur)
    host = []
    for _ in range(steps):
        v = np.clip(v + cur, -q.v_limit, q.v_limit)
        s = (v >= th1).astype(np.int64)
        v[s > 0] = 0
        host.append(s)
    out = {"s1": np.array(host)}
    prev = out["s1"]
    for d, p in (("d2", "s2"), ("d3", "out")):
        w = g[d].weight.astype(np.int64) * 64
        b = (g[d].bias.astype(np.int64) * 64) if g[d].bias is not None else 0
        vth = 64 * (int(g[p].threshold) - 1)
        v = np.zeros(w.shape[0], np.int64)
        spikes = []
        for t in range(steps):
            u = w @ prev[t - 1] if t > 0 else np.zeros(w.shape[0], np.int64)
            v = np.clip(v + u + b, -(2**23 - 1), 2**23 - 1)
            s = v > vth
            v[s] = 0
            spikes.append(s.astype(np.int64))
        out[p] = prev = np.array(spikes)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_integer_simulator_follows_loihis_compartment_equations(seed):
    q = quantize(chain(seed=seed), target="loihi")
    x = np.random.default_rng(seed).random((1, 6)).astype(f32)
    x_int = np.rint(x[0] * q.graph.quant.input_scale).astype(np.int64)
    ref = loihi_reference(q.graph, x_int, 40)
    rec = {}
    q.run_batch(torch.as_tensor(x), 40, synaptic_delay=1,
                probe=lambda name, kind, t, t0: rec.setdefault((name, kind), []).append(t))
    for p in ("s1", "s2", "out"):
        got = torch.cat(rec[(p, "spikes")]).numpy()[:, 0]
        assert got.sum() > 0 and np.array_equal(got, ref[p]), p


def test_negative_saturation_matches_loihis_asymmetric_units():
    """A strongly inhibited membrane saturates: ann2snn at −(2^17 − 1), Loihi at
    −(2^23 − 1) = 64·(−(2^17 − 1)) − 63; the spikes afterwards still agree."""
    q = quantize(chain(seed=3), target="loihi").graph
    inhib = np.full_like(q["d2"].weight, -127)
    inhib[:4, :3] = 127  # neurons 0-3: three excitatory inputs, the rest inhibit
    inhib[4:] = 3  # neurons 4-7 spike
    d2 = n.Dense("d2", ("s1",), weight=inhib, bias=np.full(8, 100, np.int32))
    g = q.replace([d2 if x.name == "d2" else x for x in q])
    x = np.full((1, 6), 0.9, f32)
    x_int = np.rint(x[0] * g.quant.input_scale).astype(np.int64)
    steps = 400
    ref = loihi_reference(g, x_int, steps)
    rec = {}
    SNN(g).run_batch(torch.as_tensor(x), steps, synaptic_delay=1,
                     probe=lambda name, kind, t, t0: rec.setdefault((name, kind), []).append(t))
    v = torch.cat(rec[("s2", "v")]).numpy()[:, 0]
    assert v.min() == -g.quant.v_limit  # it saturated
    assert ref["s2"][:, 4:].sum(0).min() > 0 and ref["out"].sum() > 0
    for p in ("s2", "out"):
        assert np.array_equal(torch.cat(rec[(p, "spikes")]).numpy()[:, 0], ref[p]), p


def test_resources_are_counted_per_core():
    g = quantize(chain(fan_in=40), target="loihi").graph
    layers, cores = resources(g)
    by = {lay.name: lay for lay in layers}
    assert by["s1"].host and cores == 2
    s2 = by["s2"]  # 8 compartments, 40 host axons with 8 synapses each
    assert (s2.cores, s2.in_axons, s2.out_axons) == (1, 40, 8)
    assert s2.synapse_bits == 40 * 128  # 8·8 + 10 bits, rounded up to two 64-bit words
    assert list(synapse_bits([1, 64, 65])) == [64, 576, 576 + 64]  # 18, 522, 522 + 18 bits


def test_a_layer_with_too_large_a_fan_in_is_named(tmp_path, cli):
    g = chain(fan_in=4200)
    layers, _ = resources(g)
    bad = [lay for lay in layers if lay.problem]
    assert [lay.name for lay in bad] == ["s2"] and "4200 input axons" in bad[0].problem
    path = SNN(g).save(tmp_path / "net.snn")
    code, out, _ = cli("info", path, "--target", "loihi")
    assert code == 2 and "layer 's2' does not fit" in out and "not quantized" in out


def test_info_and_quantize_on_the_command_line(tmp_path, cli):
    src = SNN(chain()).save(tmp_path / "net.snn")
    code, out, err = cli("quantize", src, "--target", "loihi", "-o", tmp_path / "q.snn")
    assert code == 0 and "synaptic delay 1" in out, err
    code, out, _ = cli("info", tmp_path / "q.snn", "--target", "loihi")
    assert code == 0 and "2 cores on 1 chip" in out and "fits Loihi 1" in out
    code, _, err = cli("quantize", src, "--target", "loihi", "--pow2", "-o", tmp_path / "r.snn")
    assert code == 2 and "leave out --pow2" in err and not (tmp_path / "r.snn").exists()


def test_the_backend_refuses_what_does_not_fit_all_at_once():
    b = BACKENDS.get("loihi")
    with pytest.raises(BackendMismatch) as e:
        b.check(chain(fan_in=600))
    assert "integer networks" not in str(e.value) and "quantize it first" in str(e.value)
    plain = quantize(chain(fan_in=600), QuantSpec(weight_bits=8, state_bits=32))
    with pytest.raises(BackendMismatch) as e:
        b.check(plain.graph)
    msg = str(e.value)
    assert "reset 'subtract'" in msg and "synaptic_delay 0" in msg and "±131071" not in msg \
        and "21-bit synaptic input" in msg and "membranes saturate" in msg


def test_missing_nengo_loihi_says_which_extra_to_install(cli, tmp_path, monkeypatch):
    q = quantize(chain(), target="loihi").save(tmp_path / "q.snn")
    monkeypatch.setattr(BACKENDS.get("loihi"), "requires", ("ann2snn_no_such_module",))
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((2, 6), f32), y=np.zeros(2, np.int64))
    code, _, err = cli("simulate", q, "-d", x, "--backend", "loihi")
    assert code == 2 and "ann2snn[loihi]" in err
