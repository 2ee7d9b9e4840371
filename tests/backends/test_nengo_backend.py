"""The nengo backend behind the registry and the command line: the run folder, the
sample cap, and the errors (missing package, unsupported device) with exit code 2."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

pytest.importorskip("nengo")

import ann2snn  # noqa: E402
from ann2snn import SNN  # noqa: E402
from ann2snn.backends import BACKENDS  # noqa: E402
from ann2snn.ir import Graph  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402


def small() -> Graph:
    """A digits-shaped (1, 8, 8) network with 10 outputs and average pooling."""
    r = np.random.default_rng(0)
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=(r.normal(0.1, 0.5, (3, 1, 3, 3))).astype(np.float32),
               bias=np.full(3, 0.05, np.float32), stride=(1, 1), padding=(1, 1),
               dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Dense("fc", ("fl",), weight=r.normal(0.05, 0.4, (10, 48)).astype(np.float32),
                bias=np.zeros(10, np.float32)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


def test_registered_for_running_with_its_extra():
    assert "nengo" in BACKENDS.names("run") and "nengo" not in BACKENDS.names("export")
    b = BACKENDS.get("nengo")
    assert b.extra == "nengo" and b.requires == ("nengo",) and b.traces


def test_cli_simulate_writes_the_run_folder_of_the_built_in_run(cli, tmp_path):
    net = SNN(small()).save(tmp_path / "net.snn")
    args = ["simulate", net, "-d", "digits", "--num-samples", "12", "-T", "10", "-q"]
    assert cli(*args, "--out", tmp_path / "a")[0] == 0
    code, out, _ = cli(*args, "--out", tmp_path / "b", "--backend", "nengo")
    assert code == 0 and "12 samples" in out
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert mb["snn_accuracy_per_step"] == ma["snn_accuracy_per_step"]
    assert mb["spikes_per_neuron"] == ma["spikes_per_neuron"]
    assert mb["synaptic_ops_per_sample"] == ma["synaptic_ops_per_sample"]
    pa, pb = (np.load(tmp_path / d / "predictions.npz") for d in "ab")
    assert (pa["snn_prediction"] == pb["snn_prediction"]).all()
    assert (pa["snn_readout"] == pb["snn_readout"]).all() and pa["snn_readout"].sum() > 0


def test_a_run_without_num_samples_is_capped(caplog):
    x = np.random.default_rng(1).random((5, 1, 8, 8)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        r = ann2snn.simulate(SNN(small()), x, labels=np.zeros(5, int), backend="nengo",
                             timesteps=4, max_samples=3)
    assert r.num_samples == 3 and "first 3 of 5 samples" in caplog.text
    r = ann2snn.simulate(SNN(small()), x, labels=np.zeros(5, int), backend="nengo",
                         timesteps=4, max_samples=3, num_samples=4)
    assert r.num_samples == 4


def test_missing_nengo_says_which_extra_to_install(cli, tmp_path, monkeypatch):
    net = SNN(small()).save(tmp_path / "net.snn")
    monkeypatch.setattr(BACKENDS.get("nengo"), "requires", ("ann2snn_no_such_module",))
    code, _, err = cli("simulate", net, "-d", "digits", "--backend", "nengo")
    assert code == 2 and "ann2snn[nengo]" in err


def test_cuda_is_refused_before_any_work(cli, tmp_path):
    net = SNN(small()).save(tmp_path / "net.snn")
    code, _, err = cli("simulate", net, "-d", "digits", "--backend", "nengo",
                       "--device", "cuda", "--out", tmp_path / "run")
    assert code == 2 and "CUDA is not available" in err and not (tmp_path / "run").exists()

