"""Round trip of every node type through the one serialization path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ann2snn.errors import ModelFileError
from ann2snn.ir import (
    NODE_TYPES,
    Graph,
    ResetMode,
    load_bundle,
    load_graph,
    save_bundle,
    save_graph,
)
from ann2snn.ir import nodes as n

f32 = np.float32


def every_node_graph() -> Graph:
    g = np.random.default_rng(0)
    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.BatchNorm("bn", ("x",), scale=g.random(2).astype(f32), shift=g.random(2).astype(f32)),
        n.Conv("conv", ("bn",), weight=g.random((4, 2, 3, 3)).astype(f32),
               bias=g.random((4, 6, 6)).astype(f32), padding=(1, 1), stride=(1, 1),
               dilation=(1, 1)),
        n.ReLU("relu", ("conv",), max_value=6.0),
        n.QCFS("qcfs", ("relu",), lam=np.array([1.5, 2.5, 0.5, 1.0], f32), levels=8),
        n.IF("if", ("qcfs",), threshold=1.0, reset=ResetMode.ZERO, v0=0.5, leak=0.1,
             multi_spike=2),
        n.SpikingMaxPool("smp", ("if",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        n.MaxPool("mp", ("if",), kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1)),
        n.AvgPool("ap", ("if",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                  count_include_pad=False),
        n.Add("add", ("smp", "mp")),
        n.Scale("scale", ("ap",), factor=np.full((1, 1, 1), 0.5, f32)),
        n.Concat("cat", ("add", "scale"), axis=1),
        n.Upsample("up", ("cat",), scale=(2, 2)),
        n.Pad("pad", ("up",), pads=((1, 0), (0, -1))),
        n.ConvTranspose("convt", ("pad",), weight=g.random((8, 1, 2, 2)).astype(f32),
                        bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                        dilation=(1, 1), groups=8),
        n.Transpose("tr", ("convt",), perm=(0, 2, 3, 1)),
        n.Reshape("rs", ("tr",), shape=(8, 8, 6)),
        n.GlobalAvgPool("gap", ("rs",)),
        n.Identity("id", ("gap",)),
        n.Flatten("flat", ("id",)),
        n.Dense("fc", ("flat",), weight=g.random((3, 8)).astype(f32), bias=None),
        n.Softmax("sm", ("fc",)),
    ], "sm", {"note": "every node", "scales": [1.5, 2.0]})


def test_every_node_type_is_covered():
    assert {x.op for x in every_node_graph()} == set(NODE_TYPES)


def assert_same(a: Graph, b: Graph) -> None:
    assert a.output == b.output and a.meta == b.meta and list(a.nodes) == list(b.nodes)
    for x, y in zip(a, b):
        assert type(x) is type(y)
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v), (x.name, f.name)
            else:
                assert u == v, (x.name, f.name)
    assert a.shapes == b.shapes


def test_round_trip(tmp_path):
    g = every_node_graph()
    save_graph(g, tmp_path / "g.snn", {"who": "test"})
    back, extra = load_graph(tmp_path / "g.snn")
    assert extra == {"who": "test"}
    assert_same(g, back)


def test_bundle_round_trip(tmp_path):
    g = every_node_graph()
    save_bundle(tmp_path / "b.snn", {"snn": g, "ann": g.prune()})
    graphs, _ = load_bundle(tmp_path / "b.snn")
    assert_same(graphs["snn"], g)
    assert_same(graphs["ann"], g.prune())


def test_no_pickle_in_the_file(tmp_path):
    save_graph(every_node_graph(), tmp_path / "g.snn")
    with np.load(tmp_path / "g.snn", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


@pytest.mark.parametrize("cut", [0, 10, 0.5])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    save_graph(every_node_graph(), tmp_path / "g.snn")
    data = (tmp_path / "g.snn").read_bytes()
    n_bytes = int(len(data) * cut) if isinstance(cut, float) else cut
    (tmp_path / "t.snn").write_bytes(data[:n_bytes])
    with pytest.raises(ModelFileError, match="t.snn"):
        load_graph(tmp_path / "t.snn")


def test_other_npz_is_not_a_network(tmp_path):
    np.savez(tmp_path / "o.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an ann2snn network"):
        load_graph(tmp_path / "o.npz")


def test_shape_mismatch_names_both_nodes():
    with pytest.raises(ValueError, match="Dense 'fc' expects a flat input of 5 .* 'x'"):
        Graph([n.Input("x", shape=(4,)),
               n.Dense("fc", ("x",), weight=np.zeros((2, 5), f32), bias=None)])


def test_nan_weights_are_rejected():
    from ann2snn.errors import ConversionError

    w = np.zeros((2, 4), f32)
    w[0, 1] = np.nan
    with pytest.raises(ConversionError, match="'fc' has NaN"):
        Graph([n.Input("x", shape=(4,)), n.Dense("fc", ("x",), weight=w, bias=None)])
