"""``ann2snn simulate --backend brian2 --synaptic-delay 1`` writes the same predictions.npz
as the built-in simulator at delay 1, and is refused (exit 2, nothing written) at delay 0."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn import SNN
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n

pytest.importorskip("brian2")  # the optional package ann2snn[brian2]


def digits_net() -> Graph:
    """An 8x8 digits network with weights in 1/16 steps (the digits are k/16 too), so that
    float32 and float64 sums are exact and the two simulators agree spike for spike."""
    r = np.random.default_rng(5)
    w1 = (r.integers(-3, 9, (4, 1, 3, 3)) / 16).astype(np.float32)
    w2 = (r.integers(-5, 9, (10, 64)) / 16).astype(np.float32)
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=w1, bias=np.full(4, 1 / 16, np.float32), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Dense("fc", ("fl",), weight=w2, bias=np.zeros(10, np.float32)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


def test_brian2_run_folder_equals_the_builtin_one_at_delay_1(cli, tmp_path):
    SNN(digits_net()).save(tmp_path / "d.snn")
    runs = {}
    for backend in ("ann2snn", "brian2"):
        out = tmp_path / backend
        code, _, err = cli("simulate", tmp_path / "d.snn", "--dataset", "digits", "-T", "12",
                           "--num-samples", "8", "--synaptic-delay", "1", "--backend",
                           backend, "--quiet", "--out", out)
        assert code == 0, err
        runs[backend] = dict(np.load(out / "predictions.npz", allow_pickle=False))
    ref, got = runs["ann2snn"], runs["brian2"]
    assert sorted(ref) == sorted(got)
    assert ref["snn_readout"].sum() > 0
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)


def test_brian2_at_delay_0_exits_2_saying_what_to_pass(cli, tmp_path):
    SNN(digits_net()).save(tmp_path / "d.snn")
    code, _, err = cli("simulate", tmp_path / "d.snn", "--dataset", "digits", "-T", "4",
                       "--backend", "brian2", "--synaptic-delay", "0", "--out", tmp_path / "run")
    assert code == 2
    assert "synaptic_delay 0" in err and "--synaptic-delay 1" in err
    code, _, err = cli("simulate", tmp_path / "d.snn", "--dataset", "digits", "-T", "4",
                       "--brian2-target", "cython", "--out", tmp_path / "run")
    assert code == 2 and "--brian2-target applies to --backend brian2 only" in err
    assert not (tmp_path / "run").exists()
