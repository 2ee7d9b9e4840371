"""normalize(): its per-node-type rules cover the analog graph, the method is an enum
(or its string), and a node without a rule is reported before any work is done."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.errors import ConfigError, UnsupportedLayerError
from ann2snn.ir import NODE_TYPES, Graph, NormMethod
from ann2snn.ir import nodes as n
from ann2snn.passes import normalize
from ann2snn.passes.normalize_rules import FORWARD, REQUIRED

f32 = np.float32


def test_every_analog_node_type_but_batch_norm_has_a_rule():
    analog = {k for k, c in NODE_TYPES.items() if not c.stateful} - {"BatchNorm"}
    assert set(FORWARD.supported()) == analog
    assert set(REQUIRED.supported()) <= analog


def small() -> Graph:
    r = np.random.default_rng(0)
    return Graph([n.Input("x", shape=(6,)),
                  n.Dense("d", ("x",), weight=r.normal(0, 1, (5, 6)).astype(f32), bias=None),
                  n.ReLU("r", ("d",)),
                  n.Dense("o", ("r",), weight=r.normal(0, 1, (3, 5)).astype(f32), bias=None)],
                 "o")


X = np.random.default_rng(1).random((50, 6)).astype(f32)


@pytest.mark.parametrize("method", [NormMethod.MAX, "max", "MAX"])
def test_the_method_as_enum_or_string(method):
    g, lam = normalize(small(), X, method=method)
    ref, ref_lam = normalize(small(), X, method="max")
    assert g.meta["normalization"]["method"] == "max"
    assert all(np.array_equal(lam[k], ref_lam[k]) for k in ref_lam)
    assert all(np.array_equal(a.weight, b.weight) for a, b in
               zip(g.of_type(n.Dense), ref.of_type(n.Dense)))


def test_max_and_percentile_differ():
    _, a = normalize(small(), X, method=NormMethod.MAX)
    _, b = normalize(small(), X, method=NormMethod.PERCENTILE, percentile=50)
    assert a["r"].item() > b["r"].item()


def test_a_bad_method_is_a_config_error_listing_the_methods():
    with pytest.raises(ConfigError, match="'percentile', 'max', got 'mean'"):
        normalize(small(), X, method="mean")


def test_a_node_without_a_rule_is_named():
    g = Graph([n.Input("x", shape=(2, 3, 3)),
               n.BatchNorm("bn", ("x",), scale=np.ones(2, f32), shift=np.zeros(2, f32)),
               n.ReLU("r", ("bn",))], "r")
    with pytest.raises(UnsupportedLayerError) as e:
        normalize(g, np.ones((4, 2, 3, 3), f32))
    assert e.value.layers == [("bn", "BatchNorm")] and "ReLU" in e.value.supported
