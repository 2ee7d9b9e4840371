"""``ann2snn trace --backend nengo|brian2|nest`` writes the built-in simulator's trace
format, so ``ann2snn diff`` compares the two layer by layer: identical on a network
whose sums are exact, and the first divergence named where the networks differ."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from ann2snn import SNN
from ann2snn.analysis.traceio import load_trace
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n

#: backend -> (its Python package, the delay its trace is taken at)
BACKENDS = {"nengo": ("nengo", 0), "brian2": ("brian2", 1), "nest": ("nest", 1)}


def digits_net(out_shift: float = 0.0) -> Graph:
    """An 8x8 digits network, weights in 1/16 steps (the digits are k/16 too): every sum
    is exact in float32 and float64. Reset to zero, which every one of them runs."""
    r = np.random.default_rng(5)
    w1 = (r.integers(-3, 9, (4, 1, 3, 3)) / 16).astype(np.float32)
    w2 = (r.integers(-5, 9, (10, 64)) / 16).astype(np.float32)
    z = ResetMode.ZERO
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=w1, bias=np.full(4, 1 / 16, np.float32), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=z),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Dense("fc", ("fl",), weight=w2, bias=np.full(10, out_shift, np.float32)),
        n.IF("out", ("fc",), reset=z),
    ], "out", {"readout": "spike_count"})


def _needs(backend: str) -> int:
    pkg, delay = BACKENDS[backend]
    if importlib.util.find_spec(pkg) is None:  # the optional package ann2snn[<backend>]
        pytest.skip(f"{pkg} is not installed (pip install 'ann2snn[{backend}]')")
    return delay


def _trace(cli, snn_path, out, *extra):
    code, stdout, err = cli("trace", snn_path, "-d", "digits", "--samples", "0,5,9", "-T",
                            "12", "-o", out, "-q", *extra)
    assert code == 0, err
    return load_trace(out)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backend_trace_equals_the_builtin_one_layer_by_layer(cli, tmp_path, backend):
    delay = _needs(backend)
    SNN(digits_net()).save(tmp_path / "d.snn")
    ref = _trace(cli, tmp_path / "d.snn", tmp_path / "ref.npz", "--synaptic-delay", str(delay))
    got = _trace(cli, tmp_path / "d.snn", tmp_path / "got.npz", "--backend", backend)
    assert got.samples == ref.samples == [0, 5, 9]
    assert got.extra["synaptic_delay"] == delay and got.extra["backend"] == backend
    step_kinds = {k for k in ref.arrays if not k.endswith("/ann")}
    assert step_kinds == set(got.arrays)  # every layer and kind, the ANN aside
    for key in step_kinds:
        np.testing.assert_array_equal(got.arrays[key], ref.arrays[key], err_msg=key)
    assert got.arrays["out/spikes"].sum() > 0  # the output does spike
    code, out, _ = cli("diff", tmp_path / "ref.npz", tmp_path / "got.npz", "--json")
    assert code == 0 and json.loads(out)["equal"]


@pytest.mark.parametrize("backend", ["nest"])
def test_diff_names_the_first_divergence_of_a_backend_trace(cli, tmp_path, backend):
    delay = _needs(backend)
    SNN(digits_net()).save(tmp_path / "d.snn")
    SNN(digits_net(out_shift=0.25)).save(tmp_path / "shifted.snn")  # only 'out' changes
    _trace(cli, tmp_path / "d.snn", tmp_path / "ref.npz", "--synaptic-delay", str(delay))
    _trace(cli, tmp_path / "shifted.snn", tmp_path / "got.npz", "--backend", backend)
    code, out, _ = cli("diff", tmp_path / "ref.npz", tmp_path / "got.npz", "--json")
    d = json.loads(out)
    assert code == 1 and not d["equal"]
    assert d["first_divergence"]["layer"] == "out", d["first_divergence"]


def test_a_backend_without_traces_or_options_it_cannot_trace_exit_2(cli, tmp_path):
    SNN(digits_net()).save(tmp_path / "d.snn")
    code, _, err = cli("trace", tmp_path / "d.snn", "-d", "digits", "--backend", "c",
                       "-o", tmp_path / "t.npz")
    assert code == 2 and "cannot run" in err
    code, _, err = cli("trace", tmp_path / "d.snn", "-d", "digits", "--backend", "nest",
                       "--encoding", "poisson", "-o", tmp_path / "t.npz")
    assert code == 2 and "--encoding poisson" in err
    assert not (tmp_path / "t.npz").exists()
