"""The canonicalization passes: identities removed, ReLU moved before max pooling (and
only where that is exact), max pooling turned into average pooling."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.errors import ConversionError
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n
from ann2snn.passes import max_to_avg, relu_before_maxpool, remove_identities
from ann2snn.sim.ops import ann_forward

f32 = np.float32


def conv(name, src, c=2, seed=0):
    w = np.random.default_rng(seed).normal(0, 1, (c, c, 3, 3)).astype(f32)
    return n.Conv(name, (src,), weight=w, bias=None, stride=(1, 1), padding=(1, 1),
                  dilation=(1, 1))


def pool(name, src, **kw):
    kw = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1), **kw}
    return n.MaxPool(name, (src,), **kw)


X = np.random.default_rng(1).normal(0, 1, (5, 2, 6, 6)).astype(f32)


def same_function(a: Graph, b: Graph) -> bool:
    return np.allclose(ann_forward(a, X), ann_forward(b, X), atol=1e-6)


def test_remove_identities_bypasses_each_one_including_the_output():
    g = Graph([n.Input("x", shape=(2, 6, 6)), n.Identity("drop", ("x",)), conv("c", "drop"),
               n.Identity("i1", ("c",)), n.Identity("i2", ("i1",))], "i2")
    r = remove_identities(g)
    assert list(r.nodes) == ["x", "c"] and r["c"].inputs == ("x",) and r.output == "c"
    assert same_function(g, r)


def test_relu_moves_before_the_max_pool():
    g = Graph([n.Input("x", shape=(2, 6, 6)), conv("c", "x"), pool("mp", "c"),
               n.ReLU("r", ("mp",)), n.Flatten("f", ("r",))], "f")
    r = relu_before_maxpool(g)
    assert list(r.nodes) == ["x", "c", "r", "mp", "f"]
    assert r["r"].inputs == ("c",) and r["mp"].inputs == ("r",) and r["f"].inputs == ("mp",)
    assert same_function(g, r)


def test_relu_at_the_output_moves_and_the_pool_becomes_the_output():
    g = Graph([n.Input("x", shape=(2, 6, 6)), conv("c", "x"), pool("mp", "c"),
               n.ReLU("r", ("mp",))], "r")
    r = relu_before_maxpool(g)
    assert r.output == "mp" and r["mp"].inputs == ("r",)
    assert same_function(g, r)


@pytest.mark.parametrize("case", ["pool_fans_out", "src_fans_out", "on_input", "no_relu"])
def test_relu_before_maxpool_leaves_what_it_must_not_rewrite(case):
    nodes = [n.Input("x", shape=(2, 6, 6)), conv("c", "x")]
    if case == "pool_fans_out":  # the pool's value is read by a second consumer
        nodes += [pool("mp", "c"), n.ReLU("r", ("mp",)), n.Add("out", ("r", "mp"))]
    elif case == "src_fans_out":  # the ReLU would change what the other reader of c sees
        nodes += [pool("mp", "c"), n.ReLU("r", ("mp",)),
                  pool("mp2", "c"), n.Add("out", ("r", "mp2"))]
    elif case == "on_input":
        nodes = [n.Input("x", shape=(2, 6, 6)), pool("mp", "x"), n.ReLU("out", ("mp",))]
    else:
        nodes += [pool("mp", "c"), n.Flatten("out", ("mp",))]
    g = Graph(nodes, "out")
    r = relu_before_maxpool(g)
    assert list(r.nodes) == list(g.nodes)
    assert all(r[k].inputs == g[k].inputs for k in g.nodes)


def test_every_maxpool_before_a_relu_is_moved():
    g = Graph([n.Input("x", shape=(2, 8, 8)), conv("c1", "x"), pool("p1", "c1"),
               n.ReLU("r1", ("p1",)), conv("c2", "r1", seed=1), pool("p2", "c2"),
               n.ReLU("r2", ("p2",))], "r2")
    r = relu_before_maxpool(g)
    assert r["p1"].inputs == ("r1",) and r["p2"].inputs == ("r2",) and r.output == "p2"


def test_max_to_avg_keeps_the_window_and_counts_only_real_inputs():
    g = Graph([n.Input("x", shape=(2, 5, 5)),
               pool("mp", "x", kernel=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True),
               n.Flatten("f", ("mp",))], "f")
    r = max_to_avg(g)
    (ap,) = r.of_type(n.AvgPool)
    assert not r.of_type(n.MaxPool)
    assert (ap.name, ap.inputs, ap.kernel, ap.stride, ap.padding, ap.ceil_mode) == \
        ("mp", ("x",), (3, 3), (2, 2), (1, 1), True)
    assert ap.count_include_pad is False
    assert r.shapes == g.shapes


def test_max_to_avg_refuses_a_dilated_pool():
    g = Graph([n.Input("x", shape=(2, 6, 6)), pool("mp", "x", dilation=(2, 2))], "mp")
    with pytest.raises(ConversionError, match="MaxPool 'mp' is dilated"):
        max_to_avg(g)
