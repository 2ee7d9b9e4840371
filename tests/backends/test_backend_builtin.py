"""The built-in simulator and the C backend through the backend interface: the same
results and the same files as calling them directly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NETS

import ann2snn
from ann2snn import backends
from ann2snn.backends import BackendMismatch
from ann2snn.backends.c import export_c
from ann2snn.quantize import QuantSpec, quantize


def _same_result(a, b) -> None:
    assert np.array_equal(a.snn_predictions, b.snn_predictions)
    assert np.array_equal(a.snn_readout, b.snn_readout)
    assert a.spike_counts == b.spike_counts and a.neurons == b.neurons
    assert a.sops_per_step.keys() == b.sops_per_step.keys()
    for k, v in a.sops_per_step.items():
        assert np.array_equal(v, b.sops_per_step[k]), k
    ma, mb = a.metrics(), b.metrics()
    for m in (ma, mb):
        m.pop("wall_time_s")
    assert ma == mb


def _data(graph, n=12, seed=3):
    r = np.random.default_rng(seed)
    return r.random((n, *graph.input_shape)).astype(np.float32), r.integers(0, 3, n)


@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_builtin_backend_run_equals_simulate(encoding):
    snn = ann2snn.SNN(NETS["currents"]())
    x, y = _data(snn.graph)
    opts = dict(timesteps=10, encoding=encoding, batch_size=5, seed=4)
    want = snn.simulate(x, y, **opts)
    got = backends.simulate(snn, x, labels=y, **opts)
    assert type(got) is type(want)
    _same_result(got, want)
    assert got.spike_counts["s1"] > 0
    # and the default backend, given a Graph
    _same_result(backends.get_backend("ann2snn").run(snn.graph, x, labels=y, **opts), want)


def test_builtin_backend_runs_integer_networks():
    q = quantize(NETS["conv1d"](), QuantSpec())
    x, y = _data(q.graph)
    want = q.simulate(x, y, timesteps=9)
    _same_result(backends.simulate(q, x, labels=y, timesteps=9), want)
    # integer mode takes analog input only: refused before simulating
    with pytest.raises(BackendMismatch, match="encoding 'poisson' is not supported"):
        backends.simulate(q, x, labels=y, timesteps=9, encoding="poisson")


def test_probe_reaches_the_builtin_simulator():
    snn = ann2snn.SNN(NETS["conv1d"]())
    x, y = _data(snn.graph, 2)
    seen = set()
    backends.simulate(snn, x, labels=y, timesteps=3, diagnostics=False,
                      probe=lambda name, kind, t, t0: seen.add((name, kind)))
    assert ("s1", "spikes") in seen and ("out", "current") in seen


@pytest.mark.parametrize("net_name", ["conv2d", "input_pool"])
def test_c_export_through_the_registry_writes_the_same_files(net_name, tmp_path):
    q = quantize(NETS[net_name](), QuantSpec())
    x, _ = _data(q.graph, 3)
    direct = export_c(q, tmp_path / "direct", x=x, timesteps=6)
    via = backends.export(q, "c", tmp_path / "via", x=x, timesteps=6)
    assert [p.name for p in via] == [p.name for p in direct]
    assert {"snn_model.c", "expected.bin"} <= {p.name for p in via}
    for a, b in zip(direct, via):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_c_export_refuses_what_it_cannot_express(tmp_path):
    snn = ann2snn.SNN(NETS["currents"]())
    with pytest.raises(BackendMismatch, match="run 'ann2snn quantize' first"):
        backends.export(snn, "c", tmp_path / "a")
    files = backends.export(snn, "c", tmp_path / "b", float_mode=True)
    assert (tmp_path / "b" / "snn_model.c") in files
    q = quantize(snn, QuantSpec())
    with pytest.raises(BackendMismatch, match="needs the float network"):
        backends.export(q, "c", tmp_path / "c", float_mode=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
    with pytest.raises(backends.UnknownBackend, match="cannot export; backends that can: c"):
        backends.export(q, "ann2snn", tmp_path / "d")
