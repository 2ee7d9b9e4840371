"""Graph facts from the node traits: static and binary nodes, fan-out, populations."""

from __future__ import annotations

import numpy as np

from ann2snn.ir import Graph, facts
from ann2snn.ir import nodes as n

f32 = np.float32


def conv(name, src, c=2):
    return n.Conv(name, (src,), weight=np.ones((c, c, 1, 1), f32), bias=None, stride=(1, 1),
                  padding=(0, 0), dilation=(1, 1))


def net(**out_if) -> Graph:
    """x -> conv -> pad -> IF a -> smp -> flatten ... with a branch of analog nodes."""
    return Graph([
        n.Input("x", shape=(2, 4, 4)),
        conv("c1", "x"),
        n.Pad("pad", ("c1",), pads=((0, 0), (0, 0))),
        n.IF("a", ("pad",)),
        n.SpikingMaxPool("smp", ("a",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
        n.AvgPool("ap", ("smp",), kernel=(1, 1), stride=(1, 1), padding=(0, 0)),
        n.Flatten("flat", ("smp",)),
        n.Flatten("flat_ap", ("ap",)),
        n.Concat("cat", ("flat", "flat_ap"), axis=1),
        n.Dense("fc", ("cat",), weight=np.ones((3, 16), f32), bias=None),
        n.IF("out", ("fc",), **out_if),
    ], "out")


def test_static_nodes_are_those_before_the_first_population():
    assert facts.static_nodes(net()) == {"x", "c1", "pad"}


def test_static_nodes_with_a_join_of_static_and_spiking_inputs():
    g = Graph([n.Input("x", shape=(2, 4, 4)), conv("c", "x"), n.IF("a", ("c",)),
               n.Add("sum", ("c", "a")), n.IF("o", ("sum",))], "o")
    assert facts.static_nodes(g) == {"x", "c"}


def test_binary_nodes_follow_spike_passing_nodes_from_binary_populations():
    b = facts.binary_nodes(net())
    # AvgPool averages spikes (not binary); a Concat with one non-binary input is not binary
    assert b == {"a", "smp", "flat", "out"}


def test_a_multi_spike_or_membrane_population_is_not_binary():
    assert "out" not in facts.binary_nodes(net(multi_spike=3))
    assert "out" not in facts.binary_nodes(net(membrane_readout=True))
    g = Graph([n.Input("x", shape=(2, 4, 4)), n.IF("a", ("x",), multi_spike=2),
               n.Flatten("f", ("a",))], "f")
    assert facts.binary_nodes(g) == set()


def test_consumers_are_listed_once_in_topological_order():
    g = Graph([n.Input("x", shape=(2,)), n.Add("twice", ("x", "x")), n.ReLU("r", ("x",)),
               n.Add("s", ("twice", "r"))], "s")
    cons = facts.consumers(g)
    assert [c.name for c in cons["x"]] == ["twice", "r"]
    assert [c.name for c in cons["twice"]] == ["s"] and cons["s"] == []


def test_populations_in_order():
    assert [p.name for p in facts.populations(net())] == ["a", "out"]


def test_traced_nodes_are_the_inputs_and_the_populations_in_order():
    assert [x.name for x in facts.traced_nodes(net())] == ["x", "a", "out"]


def test_the_join_and_reorder_traits_name_exactly_those_nodes():
    assert {c.__name__ for c in n.NODE_TYPES.values() if c.joins} == {"Add", "Concat"}
    assert {c.__name__ for c in n.NODE_TYPES.values() if c.reorders} == \
        {"Flatten", "Reshape", "Transpose"}
    assert {c.__name__ for c in n.NODE_TYPES.values() if c.rectifier} == {"ReLU", "QCFS"}
