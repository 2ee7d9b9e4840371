"""The Graph itself: validation at construction, topological order, prune and bypass."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.errors import ConversionError
from ann2snn.ir import Graph, QuantInfo, QuantScale, Readout
from ann2snn.ir import nodes as n

f32 = np.float32


def dense(name, src, fan_in=4, out=4, **kw):
    return n.Dense(name, (src,), weight=np.ones((out, fan_in), f32), bias=None, **kw)


def test_nodes_are_kept_in_topological_order_whatever_the_order_given():
    g = Graph([dense("b", "a"), n.Input("x", shape=(4,)), dense("a", "x")], "b")
    assert list(g.nodes) == ["x", "a", "b"]
    assert g.shapes == {"x": (4,), "a": (4,), "b": (4,)}


def test_a_cycle_is_refused_naming_a_node_on_it():
    with pytest.raises(ValueError, match="cycle through '(a|b)'"):
        Graph([n.Input("x", shape=(4,)), n.Add("a", ("x", "b")), n.ReLU("b", ("a",))], "b")


def test_a_self_loop_is_a_cycle():
    with pytest.raises(ValueError, match="cycle through 'a'"):
        Graph([n.Input("x", shape=(4,)), n.Add("a", ("x", "a"))], "a")


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="two nodes are named 'a'"):
        Graph([n.Input("x", shape=(4,)), dense("a", "x"), n.ReLU("a", ("x",))])


def test_a_dangling_input_names_the_reader_and_the_missing_node():
    with pytest.raises(ValueError, match="Dense 'a' reads 'ghost', which is not a node"):
        Graph([n.Input("x", shape=(4,)), dense("a", "ghost")])


def test_a_graph_needs_an_input_and_a_known_output():
    with pytest.raises(ValueError, match="no Input"):
        Graph([n.ReLU("r")])
    with pytest.raises(ValueError, match="output 'nope' is not a node"):
        Graph([n.Input("x", shape=(4,)), dense("a", "x")], "nope")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_any_array_is_refused(bad):
    b = np.zeros(4, f32)
    b[2] = bad
    with pytest.raises(ConversionError, match="Dense 'a' has NaN or Inf in its bias"):
        Graph([n.Input("x", shape=(4,)),
               n.Dense("a", ("x",), weight=np.ones((4, 4), f32), bias=b)])


def test_prune_drops_dead_nodes_but_keeps_every_input():
    g = Graph([n.Input("x", shape=(4,)), n.Input("unused", shape=(2,)), dense("a", "x"),
               dense("dead", "x"), n.ReLU("dead2", ("dead",)), n.ReLU("out", ("a",))], "out")
    p = g.prune()
    assert list(p.nodes) == ["x", "unused", "a", "out"]
    assert p.inputs == ["x", "unused"] and p.output == "out"
    assert list(g.nodes) == ["x", "unused", "a", "dead", "dead2", "out"], "g is unchanged"


def test_bypass_rewires_every_consumer():
    g = Graph([n.Input("x", shape=(4,)), n.Identity("id", ("x",)), dense("a", "id"),
               n.Add("s", ("id", "a")), n.ReLU("out", ("s",))], "out")
    b = g.bypass("id")
    assert "id" not in b.nodes
    assert b["a"].inputs == ("x",) and b["s"].inputs == ("x", "a")
    assert b.output == "out"


def test_bypass_of_the_output_makes_its_input_the_output():
    g = Graph([n.Input("x", shape=(4,)), dense("a", "x"), n.Identity("id", ("a",))], "id")
    b = g.bypass("id")
    assert b.output == "a" and list(b.nodes) == ["x", "a"]


def test_bypass_needs_a_single_input_node():
    g = Graph([n.Input("x", shape=(4,)), n.Add("s", ("x", "x"))], "s")
    with pytest.raises(ValueError):
        g.bypass("s")


def _quant() -> QuantInfo:
    return QuantInfo(weight_bits=8, state_bits=32, input_bits=8, per_channel=False,
                     scale="pow2", input_scale=255.0, input_range=1.0, input_signed=False,
                     input_min=0, input_max=255, v_limit=2**31 - 1)


def test_replace_keeps_meta_and_quant_unless_given():
    q = _quant()
    assert q.scale is QuantScale.POW2, "the string is converted"
    g = Graph([n.Input("x", shape=(4,)), dense("a", "x")], "a", {"k": 1}, q)
    r = g.replace(list(g))
    assert r.quant is q and r.meta == {"k": 1}
    assert g.replace(list(g), quant=None).quant is None
    assert g.prune().quant is q and g.replace(list(g), meta={}).meta == {}


def test_the_old_untyped_quant_dict_is_refused():
    with pytest.raises(ValueError, match="Graph.quant"):
        Graph([n.Input("x", shape=(4,))], meta={"quant": {"weight_bits": 8}})


def test_readout_follows_the_output_node():
    x = n.Input("x", shape=(4,))
    assert Graph([x, n.IF("s", ("x",))]).readout is Readout.SPIKE_COUNT
    assert Graph([x, n.IF("m", ("x",), membrane_readout=True)]).readout is Readout.MEMBRANE
    # the node decides, not a stale meta entry
    assert Graph([x, n.IF("s", ("x",))], meta={"readout": "membrane"}).readout \
        is Readout.SPIKE_COUNT
