"""The NIR backend: export then import gives identical spikes for every exportable node
type and option; the file's structure and metadata; everything NIR cannot express is
refused at once, naming the layers and what to use; the reader refuses what it cannot
run exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ann2snn
from ann2snn.backends import BackendMismatch, BackendUnavailable, get_backend
from ann2snn.errors import ModelFileError
from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.network import SNN

nir = pytest.importorskip("nir")
f32 = np.float32


def _w(r, shape, gain=1.6):
    return (r.normal(0.15, 1.0, shape) * gain / np.sqrt(np.prod(shape[1:]))).astype(f32)


def _b(r, c, mean=0.15):
    return r.normal(mean, 0.1, c).astype(f32)


def net_2d(reset=ResetMode.SUBTRACT, membrane=False, seed=0) -> Graph:
    """Conv2d (stride, padding, dilation, groups, no bias), avg pool, spikes added to a
    current, a Scale shortcut, identity, global average pooling, Dense with and without
    bias, a threshold other than 1."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(2, 9, 9)),
        n.Conv("c1", ("x",), weight=_w(r, (4, 2, 3, 3)), bias=_b(r, 4), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), reset=reset),
        n.Conv("c2", ("s1",), weight=_w(r, (4, 2, 3, 3), 2.5), bias=None, stride=(2, 2),
               padding=(1, 1), dilation=(2, 2), groups=2),
        n.IF("s2", ("c2",), threshold=0.7, reset=reset),
        n.AvgPool("ap", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Conv("c3", ("ap",), weight=_w(r, (4, 4, 3, 3)), bias=_b(r, 4), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.Scale("sc", ("ap",), factor=np.full((1, 1, 1), 0.4, f32)),
        n.Identity("id", ("s2",)),
        n.Add("add", ("c3", "sc", "id")),
        n.IF("s3", ("add",), reset=ResetMode.ZERO),
        n.GlobalAvgPool("gap", ("s3",)),
        n.Dense("fc1", ("gap",), weight=_w(r, (6, 4), 3.0), bias=None),
        n.IF("s4", ("fc1",), reset=reset),
        n.Flatten("fl", ("s3",)),
        n.Dense("fc2", ("fl",), weight=_w(r, (6, 64), 3.0), bias=_b(r, 6, 0.0)),
        n.Add("add2", ("fc2", "s4")),
        n.IF("out", ("add2",), reset=reset, membrane_readout=membrane),
    ], "out", {"readout": "membrane" if membrane else "spike_count"})


def net_1d(seed=1) -> Graph:
    """Conv1d chains, a 1-d Reshape (a flatten), Dense into a population reading the
    input directly."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(3, 16)),
        n.Conv("c1", ("x",), weight=_w(r, (6, 1, 3)), bias=_b(r, 6), stride=(2,),
               padding=(1,), dilation=(1,), groups=3),
        n.IF("s1", ("c1",)),
        n.Conv("c2", ("s1",), weight=_w(r, (4, 6, 3), 2.5), bias=_b(r, 4), stride=(1,),
               padding=(2,), dilation=(2,)),
        n.Conv("c3", ("c2",), weight=_w(r, (4, 4, 1)), bias=_b(r, 4), stride=(1,),
               padding=(0,), dilation=(1,)),
        n.IF("s2", ("c3",), reset=ResetMode.ZERO),
        n.Reshape("rs", ("s2",), shape=(32,)),
        n.Dense("fc", ("rs",), weight=_w(r, (4, 32), 3.0), bias=_b(r, 4, 0.05)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


CASES = {
    "2d-subtract": lambda: net_2d(),
    "2d-zero": lambda: net_2d(ResetMode.ZERO),
    "2d-membrane": lambda: net_2d(membrane=True),
    "1d": lambda: net_1d(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_gives_identical_spikes(case, tmp_path):
    g = CASES[case]()
    snn = SNN(g)
    path = ann2snn.export(snn, "nir", tmp_path / "net.nir")[0]
    back = ann2snn.load(path)
    assert back.graph.readout is g.readout
    x = np.random.default_rng(5).random((7, *g.input_shape)).astype(f32)
    a, b = snn.run_batch(x, 48), back.run_batch(x, 48)
    assert set(b.counts) == set(a.counts)
    for k in a.counts:
        assert torch.equal(a.counts[k], b.counts[k]), k
        assert a.counts[k].sum() > 0, f"population {k} never spikes: a weak test"
    assert torch.equal(a.readout, b.readout)
    assert torch.equal(a.predictions, b.predictions)


def test_exported_nodes_and_thresholds(tmp_path):
    g = net_2d()
    ann2snn.export(SNN(g), "nir", tmp_path / "net.nir")
    h = nir.read(str(tmp_path / "net.nir"), type_check=False)  # nir 1.0.8: grouped convs
    kinds = {k: type(v).__name__ for k, v in h.nodes.items()}
    assert kinds["c1"] == "Conv2d" and kinds["fc1"] == "Linear" and kinds["fc2"] == "Affine"
    assert kinds["ap"] == "AvgPool2d" and kinds["fl"] == "Flatten"
    assert kinds["gap.pool"] == "AvgPool2d" and kinds["gap"] == "Flatten"
    assert (kinds["s2.v"], kinds["s2"], kinds["s2.reset"]) == ("I", "Threshold", "Scale")
    assert kinds["s3"] == "IF" and "add" not in kinds and "id" not in kinds
    edges = set(h.edges)
    # Add is edges summed into the I node; the reset loop closes on it
    assert {("c3", "s3"), ("sc", "s3"), ("s2", "s3")} <= edges
    assert {("s2.v", "s2"), ("s2", "s2.reset"), ("s2.reset", "s2.v")} <= edges
    thr = h.nodes["s2"].threshold
    assert thr.dtype == np.float32 and np.all(thr < f32(0.7))
    assert np.all(np.nextafter(thr, f32(1)) == f32(0.7))  # the largest float32 below θ
    assert np.all(h.nodes["s2.reset"].scale == f32(-0.7))
    assert np.all(h.nodes["s3"].v_reset == 0) and np.all(h.nodes["s3"].v_threshold < 1)
    md = h.metadata
    assert md["dt"] == 1 and md["encoding"] == "analog" and md["readout"] == "spike_count"
    assert md["input_scale"] == 1.0 and md["format"] == "ann2snn-nir"


def test_v_equal_theta_fires(tmp_path):
    """A current of 0.25 reaches θ = 1 exactly at step 4: ann2snn fires (v ≥ θ) and so
    does the file read back; NIR's plain v > 1 would not."""
    g = Graph([n.Input("x", shape=(1,)),
               n.Dense("fc", ("x",), weight=np.full((1, 1), 0.25, f32), bias=None),
               n.IF("out", ("fc",))], "out", {"readout": "spike_count"})
    ann2snn.export(SNN(g), "nir", tmp_path / "a.nir")
    back = ann2snn.load(tmp_path / "a.nir")
    out = back.run_batch(np.ones((1, 1), f32), 8)
    assert out.readout.tolist() == [[2.0]]  # steps 4 and 8


def _unsupported_graph() -> Graph:
    r = np.random.default_rng(0)
    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.Conv("c1", ("x",), weight=_w(r, (2, 2, 3, 3)), bias=_b(r, 2), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",), v0=0.5),
        n.SpikingMaxPool("mp", ("s1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        n.Upsample("up", ("mp",), scale=(2, 2)),
        n.Concat("cat", ("up", "s1"), axis=1),
        n.ConvTranspose("ct", ("cat",), weight=_w(r, (4, 2, 2, 2)), bias=None,
                        stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                        dilation=(1, 1)),
        n.IF("s2", ("ct",), multi_spike=2),
        n.Flatten("fl", ("s2",)),
        n.Dense("fc", ("fl",), weight=_w(r, (3, 98)), bias=None),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


def test_refuses_everything_at_once(tmp_path):
    out = tmp_path / "no.nir"
    with pytest.raises(BackendMismatch) as e:
        ann2snn.export(SNN(_unsupported_graph()), "nir", out)
    msg = str(e.value)
    for name in ("'mp'", "'up'", "'cat'", "'ct'", "'s1'", "'s2'"):
        assert name in msg
    assert "max_to_avg_pool=True" in msg and "--v0 0" in msg and "multi_spike=1" in msg
    assert {("mp", "SpikingMaxPool"), ("cat", "Concat"), ("up", "Upsample"),
            ("ct", "ConvTranspose")} <= set(e.value.layers)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_refuses_poisson():  # (integer mode: tests/backends/test_nir_integer.py)
    b = get_backend("nir", "export")
    with pytest.raises(BackendMismatch, match="encoding 'poisson'"):
        b.check(net_1d(), encoding="poisson")


def test_convert_of_a_spiking_file_says_load_it(tmp_path):
    ann2snn.export(SNN(net_1d()), "nir", tmp_path / "n.nir")
    with pytest.raises(ann2snn.ConversionError, match=r"ann2snn.load"):
        ann2snn.convert(tmp_path / "n.nir", np.zeros((4, 3, 16), f32))


def test_missing_package_says_what_to_install(monkeypatch, tmp_path):
    b = get_backend("nir", "export")
    monkeypatch.setattr(b, "requires", ("nir_not_installed_here",))
    with pytest.raises(BackendUnavailable, match=r"ann2snn\[nir\]"):
        ann2snn.export(SNN(net_1d()), "nir", tmp_path / "x.nir")


def test_reader_refuses_what_it_cannot_run_exactly(tmp_path):
    shape = np.array([3])
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": shape}),
        "fc": nir.Affine(weight=np.eye(3, dtype=f32), bias=np.zeros(3, f32)),
        "lif": nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                       v_threshold=np.ones(3)),
        "v": nir.I(r=np.ones(3, f32)),
        "thr": nir.Threshold(threshold=np.ones(3, f32)),
        "rst": nir.Scale(scale=-np.ones(3, f32)),
        "if2": nir.IF(r=np.full(3, 2.0, f32), v_threshold=np.ones(3, f32)),
        "out": nir.Output(output_type={"output": shape}),
    }, edges=[("in", "fc"), ("fc", "lif"), ("lif", "v"), ("v", "thr"), ("thr", "rst"),
              ("rst", "v"), ("thr", "if2"), ("if2", "out")], type_check=False)
    nir.write(str(tmp_path / "f.nir"), g)
    with pytest.raises(ModelFileError) as e:
        ann2snn.load(tmp_path / "f.nir")
    msg = str(e.value)
    assert "'lif' (LIF)" in msg and "'if2' (IF)" in msg and "r != 1" in msg
    assert "fires on v > 1 and subtracts 1" in msg and "3 problem(s)" in msg


def test_reader_reads_sumpool_and_foreign_if(tmp_path):
    """A foreign graph (no ann2snn metadata): SumPool2d is the window sum, IF with
    v_threshold t fires on v > t."""
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, 2, 2])}),
        "sp": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                            padding=np.array([0, 0])),
        "if": nir.IF(r=np.ones((1, 1, 1), f32), v_threshold=np.ones((1, 1, 1), f32)),
        "out": nir.Output(output_type={"output": np.array([1, 1, 1])}),
    }, edges=[("in", "sp"), ("sp", "if"), ("if", "out")], type_check=False)
    nir.write(str(tmp_path / "s.nir"), g)
    snn = ann2snn.load(tmp_path / "s.nir")
    x = np.array([[[[0.25, 0.25], [0.0, 0.0]]]], f32)  # window sum 0.5 per step
    # v: 0.5, 1.0 (not > 1), 1.5 -> spike, reset to 0; 0.5, 1.0, 1.5 -> spike: 2 in 6
    assert snn.run_batch(x, 6).readout.flatten().tolist() == [2.0]


def test_cli_export_and_convert(tmp_path, capsys):
    from ann2snn.cli import main

    SNN(net_1d()).save(tmp_path / "n.snn")
    assert main(["export", "nir", str(tmp_path / "n.snn"), "-o", str(tmp_path / "n.nir")]) == 0
    assert main(["convert", str(tmp_path / "n.nir"), "-o", str(tmp_path / "b.snn")]) == 0
    assert "3 spiking populations" in capsys.readouterr().out
    a, b = SNN(net_1d()), ann2snn.load(tmp_path / "b.snn")
    x = np.random.default_rng(2).random((3, 3, 16)).astype(f32)
    assert torch.equal(a.run_batch(x, 20).readout, b.run_batch(x, 20).readout)
    assert main(["convert", str(tmp_path / "missing.nir"), "-o", str(tmp_path / "c.snn")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["convert", "model.onnx", "-o", str(tmp_path / "c.snn")]) == 2
    assert "--dataset" in capsys.readouterr().err
