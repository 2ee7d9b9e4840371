"""The synaptic delay at the boundaries: traces record it, ann2snn diff refuses to compare
traces of different delays, the CLI, the TOML config and the backends take or refuse it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ann2snn
from ann2snn.analysis.diff import diff_traces
from ann2snn.analysis.trace import record_trace
from ann2snn.analysis.traceio import Trace, TraceError, load_trace
from ann2snn.backends import Arithmetic, Backend, BackendMismatch, Supports
from ann2snn.config import load_config
from ann2snn.errors import ConfigError
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n

f32 = np.float32


def digits_net() -> Graph:
    """Input (1, 8, 8) as the digits data -> two dense populations."""
    r = np.random.default_rng(0)
    return Graph([
        n.Input("x", shape=(1, 8, 8)), n.Flatten("f", ("x",)),
        n.Dense("d1", ("f",), weight=(r.normal(0.05, 1, (20, 64)) / 4).astype(f32),
                bias=np.full(20, 0.05, f32)),
        n.IF("s1", ("d1",)),
        n.Dense("d2", ("s1",), weight=(r.normal(0.1, 1, (10, 20)) / 2).astype(f32), bias=None),
        n.IF("out", ("d2",)),
    ], "out")


@pytest.fixture
def net_file(tmp_path):
    p = tmp_path / "net.snn"
    ann2snn.SNN(digits_net()).save(p)
    return p


def test_a_trace_records_its_delay_and_the_delayed_currents(tmp_path, rng):
    snn = ann2snn.SNN(digits_net())
    x = rng.random((6, 1, 8, 8)).astype(f32)
    tr = record_trace(snn, x, [1, 4], 12, synaptic_delay=1)
    tr.save(tmp_path / "t.npz")
    back = load_trace(tmp_path / "t.npz")
    assert back.synaptic_delay == 1 and back.extra["synaptic_delay"] == 1
    # out's current at step t is W·s1(t−1): spikes as emitted, currents one step late
    s1 = back.get("s1", "spikes").astype(np.float64)
    w = digits_net()["d2"].weight.astype(np.float64)
    want = np.concatenate([np.zeros((1, 2, 10)), s1[:-1] @ w.T])
    assert np.allclose(back.get("out", "current"), want, atol=1e-5)
    assert s1[:-1].sum() > 0
    assert record_trace(snn, x, [1, 4], 12).synaptic_delay == 0


def test_diff_refuses_traces_of_different_delays(tmp_path, rng, cli):
    snn = ann2snn.SNN(digits_net())
    x = rng.random((3, 1, 8, 8)).astype(f32)
    a, b = record_trace(snn, x, [0], 10), record_trace(snn, x, [0], 10, synaptic_delay=1)
    with pytest.raises(TraceError, match="different synaptic delays: A 0 step"):
        diff_traces(a, b)
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    code, out, err = cli("diff", tmp_path / "a.npz", tmp_path / "b.npz")
    assert code == 2 and "--synaptic-delay 1" in err and not out
    # a meta without the key (older traces, the C program's) is delay 0
    old = Trace(a.timesteps, a.samples, a.layers, a.arrays, "old",
                {k: v for k, v in a.extra.items() if k != "synaptic_delay"})
    assert old.synaptic_delay == 0 and diff_traces(old, a).equal
    with pytest.raises(TraceError, match="different synaptic delays"):
        diff_traces(old, b)
    assert diff_traces(b, record_trace(snn, x, [0], 10, synaptic_delay=1)).equal


def test_a_bad_delay_in_a_trace_meta_is_named():
    tr = Trace(1, [0], [], {}, "x", {"synaptic_delay": "2"})
    with pytest.raises(TraceError, match="synaptic_delay '2'"):
        _ = tr.synaptic_delay


def test_cli_simulate_with_delay_1(net_file, tmp_path, cli):
    runs = {}
    for d in (0, 1):
        code, out, err = cli("simulate", net_file, "-d", "digits", "-T", "12", "-q",
                             "--num-samples", "30", "--synaptic-delay", d,
                             "--out", tmp_path / f"run{d}")
        assert code == 0, err
        metrics = json.loads((tmp_path / f"run{d}" / "metrics.json").read_text())
        assert metrics["config"]["synaptic_delay"] == d
        runs[d] = metrics["snn_accuracy_per_step"]
    # depth 1 (d2 has no bias): the delay-1 curve is the delay-0 curve one step later
    assert runs[1][0] == 0 and runs[1][1:] == runs[0][:-1] and max(runs[0]) > 0


def test_cli_refuses_other_delays(net_file, tmp_path, cli):
    code, _, err = cli("simulate", net_file, "-d", "digits", "--synaptic-delay", "2",
                       "--out", tmp_path / "r")
    assert code == 2 and "--synaptic-delay" in err
    assert not (tmp_path / "r").exists()


def test_cli_trace_records_the_delay(net_file, tmp_path, cli):
    code, _, err = cli("trace", net_file, "-d", "digits", "--samples", "0:2", "-T", "6",
                       "--synaptic-delay", "1", "-o", tmp_path / "t.npz")
    assert code == 0, err
    assert load_trace(tmp_path / "t.npz").synaptic_delay == 1


def test_toml_config_key(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('model = { path = "m.pt2" }\n[simulation]\nsynaptic_delay = 1\n')
    assert load_config(p).simulation.synaptic_delay == 1
    p.write_text('model = { path = "m.pt2" }\n[simulation]\n')
    assert load_config(p).simulation.synaptic_delay == 0
    p.write_text('model = { path = "m.pt2" }\n[simulation]\nsynaptic_delay = 2\n')
    with pytest.raises(ConfigError, match="synaptic_delay"):
        load_config(p)


def test_backends_declare_their_delays():
    from ann2snn.backends import get_backend
    from ann2snn.quantize import QuantSpec, quantize

    builtin = get_backend("ann2snn")
    g = digits_net()
    for d in (0, 1, "1"):
        builtin.check(g, synaptic_delay=d)
    with pytest.raises(ConfigError, match="synaptic_delay must be one of 0, 1, got 5"):
        builtin.check(g, synaptic_delay=5)
    q = quantize(ann2snn.SNN(g), QuantSpec())
    builtin.check(q.graph, synaptic_delay=1)
    get_backend("c").check(q.graph, synaptic_delay=1)
    # a backend that declares delay 0 only (the default of Supports) refuses 1, first
    zero_only = Backend("toy", "delay 0 only", {Arithmetic.FLOAT: Supports(
        nodes=frozenset(type(x) for x in g))})
    zero_only.check(g)
    with pytest.raises(BackendMismatch, match=r"synaptic_delay 1 is not supported "
                                              r"\(supported: 0\); use synaptic_delay=0"):
        zero_only.check(g, synaptic_delay="1")
