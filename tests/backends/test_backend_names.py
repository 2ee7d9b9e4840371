"""The names backends derive from layer names (backends/names.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.backends.names import check_trace_name, identifier, symbols
from ann2snn.errors import ConversionError
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n


def test_identifier_replaces_non_word_characters_and_cuts():
    assert identifier("features.0/conv-1 x") == "features_0_conv_1_x"
    assert identifier("a" * 50) == "a" * 40
    assert identifier("a.b", max_len=2) == "a_"


@pytest.mark.parametrize("bad", ["a/b", ".", "..", "tab\there"])
def test_a_name_that_cannot_be_a_trace_directory_is_refused(bad):
    with pytest.raises(ConversionError, match="cannot be a trace directory"):
        check_trace_name(bad)


def test_symbols_are_unique_even_when_cleaned_names_collide():
    g = Graph([n.Input("x", shape=(2,)), n.Scale("a.b", ("x",), factor=np.ones(1)),
               n.Scale("a-b", ("a.b",), factor=np.ones(1)), n.IF("out", ("a-b",))], "out")
    sym = symbols(g)
    assert sym == {"x": "l0_x", "a.b": "l1_a_b", "a-b": "l2_a_b", "out": "l3_out"}
    g2 = Graph([n.Input("x", shape=(2,)), n.IF("o/ut", ("x",))], "o/ut")
    with pytest.raises(ConversionError, match="'o/ut'"):
        symbols(g2)
