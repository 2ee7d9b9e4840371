"""The "nest" backend (NEST through PyNN) against the built-in simulator at synaptic delay 1.

Small networks, spike for spike: weights and inputs are dyadic (multiples of 1/64 and
1/16), so every sum is exact in the built-in simulator's float32 and in NEST's float64
and the two must agree exactly; integer mode is exact by construction.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ann2snn import SNN
from ann2snn.backends import BackendMismatch, BackendUnavailable, simulate
from ann2snn.backends.nest import BACKEND
from ann2snn.backends.nest.worker import Worker
from ann2snn.errors import SimulationError
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.quantize import quantize

# the optional packages of ann2snn[nest], found without importing them: NEST runs in the
# backend's worker process only, never in this one
if importlib.util.find_spec("pyNN") is None or importlib.util.find_spec("nest") is None:
    pytest.skip("PyNN and NEST are not installed (pip install 'ann2snn[nest]')",
                allow_module_level=True)

Z = ResetMode.ZERO


def dyadic(a, q=64):
    return (np.round(np.asarray(a) * q) / q).astype(np.float32)


def small_net(seed=0, readout="spike_count", v0=0.0) -> Graph:
    r = np.random.default_rng(seed)
    membrane = readout == "membrane"
    return Graph([
        n.Input("x", shape=(2, 8, 8)),
        n.Conv("c1", ("x",), weight=dyadic(r.normal(0.2, 1, (4, 2, 3, 3)) / 3),
               bias=dyadic(r.normal(0.1, 0.1, 4)), stride=(1, 1), padding=(1, 1),
               dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=Z, v0=v0),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Conv("c2", ("ap",), weight=dyadic(r.normal(0.1, 1, (3, 4, 3, 3)) / 2),
               bias=dyadic(r.normal(0.05, 0.1, 3)), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1)),
        n.IF("s2", ("c2",), reset=Z),
        n.Flatten("fl", ("s2",)),
        n.Dense("fc", ("fl",), weight=dyadic(r.normal(0.1, 1, (5, 12)) / 2),
                bias=dyadic(r.normal(0, 0.1, 5))),
        n.IF("out", ("fc",), reset=Z, membrane_readout=membrane),
    ], "out", {"readout": readout})


def inputs(seed=1, count=6):
    r = np.random.default_rng(seed)
    return dyadic(r.uniform(0, 1, (count, 2, 8, 8)), 16), r.integers(0, 5, count)


def both(snn, x, y, timesteps=24, **kw):
    ref = snn.simulate(x, y, timesteps=timesteps, synaptic_delay=1, example_sample=None,
                       **kw)
    got = simulate(snn, x, backend="nest", labels=y, timesteps=timesteps, batch_size=4, **kw)
    return ref, got


@pytest.mark.parametrize("readout,v0", [("spike_count", 0.0), ("membrane", 0.5)])
def test_float_network_spike_for_spike(readout, v0):
    x, y = inputs()
    ref, got = both(SNN(small_net(readout=readout, v0=v0)), x, y)
    assert np.array_equal(got.snn_predictions, ref.snn_predictions)  # every step
    assert np.array_equal(got.snn_readout, ref.snn_readout)
    assert got.spike_counts == ref.spike_counts
    assert got.snn_readout.any()  # the output did something
    same_sops(ref, got)


def same_sops(ref, got):
    """Synaptic operations counted as the built-in simulator counts them, per synaptic
    layer and step (they differed before: events per composed projection)."""
    assert sorted(got.sops_per_step) == sorted(ref.sops_per_step)
    for k, v in ref.sops_per_step.items():
        np.testing.assert_allclose(np.asarray(got.sops_per_step[k]), np.asarray(v), err_msg=k)
    assert got.synaptic_ops_per_sample() > 0


def test_integer_mode_identical_counts(tmp_path):
    x, y = inputs(2, 7)
    r = np.random.default_rng(3)
    q = quantize(SNN(small_net(4)), calibration=r.uniform(0, 1, (32, 2, 8, 8)))
    assert q.graph.quant is not None
    ref, got = both(q, x, y, timesteps=32)
    assert np.array_equal(got.snn_readout, ref.snn_readout)
    assert np.array_equal(got.snn_predictions, ref.snn_predictions)
    assert got.spike_counts == ref.spike_counts
    same_sops(ref, got)
    # the same run folder files: predictions.npz compares directly
    a, b = ref.save(tmp_path / "ref", report=False), got.save(tmp_path / "nest", report=False)
    pa, pb = np.load(a / "predictions.npz"), np.load(b / "predictions.npz")
    assert sorted(pa.files) == sorted(pb.files)
    assert np.array_equal(pa["snn_prediction"], pb["snn_prediction"])


def test_threshold_is_reached_at_equality():
    """v = 0.25·t reaches θ = 1 exactly at t = 4: v ≥ θ spikes then (NEST iaf_psc_delta:
    V_m >= V_th), so with reset to zero the neuron fires at 4, 8, 12, 16; a strict
    v > θ would fire at 5, 10, 15."""
    g = Graph([n.Input("x", shape=(1,)),
               n.Dense("fc", ("x",), weight=np.array([[0.25], [0.5]], np.float32)),
               n.IF("out", ("fc",), reset=Z)], "out", {"readout": "spike_count"})
    got = simulate(SNN(g), np.ones((1, 1), np.float32), backend="nest",
                   labels=np.array([0]), timesteps=16, evaluate_ann=False)
    assert got.snn_readout.tolist() == [[4.0, 8.0]]
    assert got.snn_predictions[:, 0].tolist()[:3] == [-1, 1, 1]


def test_refusals_name_the_fix():
    g = small_net()
    sub = g.replace([x if not x.population else
                     n.IF(x.name, x.inputs, reset=ResetMode.SUBTRACT) for x in g])
    with pytest.raises(BackendMismatch) as e:
        BACKEND.check(sub)
    assert "--reset zero" in str(e.value)
    leaky = g.replace([n.IF(x.name, x.inputs, reset=Z, leak=0.1) if x.name == "s1" else x
                       for x in g])
    with pytest.raises(BackendMismatch, match="leak"):
        BACKEND.check(leaky)
    with pytest.raises(BackendMismatch, match="synaptic_delay 0"):
        BACKEND.check(g, synaptic_delay=0)
    with pytest.raises(BackendMismatch, match="encoding 'poisson'"):
        BACKEND.check(g, encoding="poisson")
    BACKEND.check(g, synaptic_delay=1)  # fits


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(BACKEND, "requires", ("pyNN_not_installed_here",))
    with pytest.raises(BackendUnavailable, match=r"pip install 'ann2snn\[nest\]'"):
        x, y = inputs()
        simulate(SNN(small_net()), x, backend="nest", labels=y)


def test_quiet(tmp_path):
    """No NEST banner nor PyNN warnings on stdout or stderr."""
    here = str(Path(__file__).parent)
    code = ("import sys; sys.path.insert(0, " + repr(here) + "); import numpy as np; "
            "from ann2snn import SNN; from ann2snn.backends import simulate; "
            "from test_nest import small_net; simulate(SNN(small_net()), "
            "np.zeros((1, 2, 8, 8), np.float32), backend='nest', labels=np.zeros(1, int), "
            "timesteps=3); assert 'nest' not in sys.modules and 'pyNN' not in sys.modules")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == "", (p.stdout, p.stderr)


def test_the_worker_loads_neither_torch_nor_the_simulator():
    """What the worker process imports (worker, network, plan and what they need) keeps
    torch and its OpenMP runtime out of NEST's process."""
    code = ("import sys, ann2snn.backends.nest.worker, ann2snn.backends.nest.network, "
            "ann2snn.backends.nest.plan; bad = [m for m in ('torch', 'ann2snn.sim', "
            "'ann2snn.backends.nest.backend') if m in sys.modules]; assert not bad, bad")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr


def test_a_failure_in_the_worker_is_a_simulation_error():
    from ann2snn.backends.nest.plan import plan

    g = small_net()
    plans = plan(g)
    drives = {p.name: p.drive(np.zeros((1, 128))) for p in plans}
    with Worker("pyNN.no_such_simulator") as w, \
            pytest.raises(SimulationError, match="no_such_simulator"):
        w.run(plans, drives, 3)
