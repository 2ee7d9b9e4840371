"""The typed registry: one handler per node type, and an error that lists the others."""

from __future__ import annotations

import pytest

from ann2snn.errors import Ann2SnnError
from ann2snn.ir import MissingHandler, Registry
from ann2snn.ir import nodes as n


def make() -> Registry:
    reg = Registry("the test backend")

    @reg.register(n.Dense, n.Conv)
    def weighted(node):
        return "w"

    @reg.register(n.IF)
    def pop(node):
        return "p"

    return reg


def test_lookup_by_node_or_by_type():
    reg = make()
    assert reg.get(n.Dense("d"))(None) == "w" and reg.get(n.Conv)(None) == "w"
    assert reg.get(n.IF("i"))(None) == "p"
    assert n.IF in reg and n.IF("i") in reg and n.ReLU not in reg
    assert set(reg.types()) == {n.Dense, n.Conv, n.IF} == set(reg)


def test_registering_a_type_twice_is_an_error():
    reg = make()
    with pytest.raises(ValueError, match="the test backend: a handler for Conv is registered "
                                         "twice"):
        reg.register(n.ReLU, n.Conv)(lambda node: None)
    with pytest.raises(TypeError):
        reg.register()


def test_a_missing_handler_names_the_node_and_lists_the_supported_types():
    with pytest.raises(MissingHandler) as e:
        make().get(n.ReLU("act"))
    assert str(e.value) == ("the test backend has no handler for ReLU 'act'; supported: "
                            "Conv, Dense, IF")
    assert e.value.node_type == "ReLU" and e.value.supported == ["Conv", "Dense", "IF"]
    assert isinstance(e.value, Ann2SnnError) and isinstance(e.value, LookupError)
    with pytest.raises(MissingHandler, match="no handler for ReLU;"):
        make().get(n.ReLU)


def test_lookup_is_by_exact_type():
    class SubDense(n.Dense):
        pass

    with pytest.raises(MissingHandler, match="SubDense"):
        make().get(SubDense("s"))


def test_missing_lists_every_unhandled_node_in_order():
    nodes = [n.Input("x"), n.Dense("d"), n.ReLU("r"), n.IF("i"), n.Softmax("s")]
    assert make().missing(nodes) == [("x", "Input"), ("r", "ReLU"), ("s", "Softmax")]
    assert make().missing([n.IF("i")]) == []
