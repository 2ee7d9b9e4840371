"""The quantization pass: integer weights within their width, the scale rules, the
errors, and the accuracy cost on a trained digits network."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.errors import ConversionError, UnsupportedLayerError
from ann2snn.ir import Graph, QuantScale
from ann2snn.ir import nodes as n
from ann2snn.ir.quant import thresholds
from ann2snn.quantize import QuantSpec, quantize

f32 = np.float32
T = 32
#: The stated bound: 8-bit weights cost the digits CNN at most this many percentage
#: points of test accuracy at T = 32 (359 test samples: 1 pp is fewer than 4 samples).
MAX_COST_PP = 1.0


@pytest.fixture(scope="module")
def trained(digits_model, digits_snn):
    """The session's trained digits CNN (tests/conftest.py) and its conversion."""
    return digits_model, digits_snn


def test_accuracy_cost_on_digits(trained, digits):
    _, snn = trained
    _, test = digits
    kw = dict(timesteps=T, evaluate_ann=False, diagnostics=False, example_sample=None)
    res_f = snn.simulate(test, **kw)
    # per-channel weight scales, matching the conversion's per-channel scales (the
    # default since issue 14; one weight scale per layer costs 1.95 pp here)
    res_i = quantize(snn, QuantSpec(weight_bits=8, per_channel=True)).simulate(test, **kw)
    cost = (res_f.snn_accuracy - res_i.snn_accuracy) * 100
    assert res_f.snn_accuracy > 0.9
    assert cost <= MAX_COST_PP, f"float {res_f.snn_accuracy:.4f} int {res_i.snn_accuracy:.4f}"
    agree = (res_f.snn_predictions[-1] == res_i.snn_predictions[-1]).mean()
    assert agree >= 0.97


def test_convert_quantize_keyword(trained, digits):
    import ann2snn

    model, snn = trained
    q = ann2snn.convert(model, digits[0].x[:500], quantize=QuantSpec(weight_bits=6))
    assert q.graph.quant.weight_bits == 6
    assert q.ann_graph is not None
    ref = quantize(snn, QuantSpec(weight_bits=6))
    for a, b in zip(q.graph, ref.graph):
        assert all(np.array_equal(v, b.arrays()[k]) for k, v in a.arrays().items())


@pytest.mark.parametrize("bits", [3, 8, 12])
def test_weights_fit_their_width(trained, bits):
    _, snn = trained
    q = quantize(snn, QuantSpec(weight_bits=bits, per_channel=False))  # one θ per layer
    wmax = 2 ** (bits - 1) - 1
    for node in q.graph.of_type(n.Conv, n.Dense, n.Scale):
        w = node.weight if hasattr(node, "weight") else node.factor
        assert w.dtype == (np.int8 if bits <= 8 else np.int16)
        assert np.abs(w).max() <= wmax
        assert np.abs(w).max() >= wmax // 2, "the scale should use the width"
        if getattr(node, "bias", None) is not None:
            assert node.bias.dtype == np.int32
    for name, th in thresholds(q.graph).items():
        assert all(isinstance(t, int) and t >= 1 for t in th)
        assert q.graph[name].threshold == th[0] and q.graph[name].thresholds is None


def test_pow2_and_per_channel_thresholds(trained):
    _, snn = trained
    q = quantize(snn, QuantSpec(per_channel=True, scale="pow2"))
    assert q.graph.quant.scale is QuantScale.POW2 and q.graph.quant.per_channel
    th = thresholds(q.graph)
    assert len(th["relu"]) == 16 and len(th["fc.neurons"]) == 10
    assert all(t & (t - 1) == 0 for v in th.values() for t in v)
    assert q.graph["relu"].thresholds == tuple(th["relu"])


def test_avgpool_folds_into_the_next_layer():
    """spikes -> AvgPool(2x2) -> IF needs no weights: θ = 4, the window sum."""
    g = Graph([n.Input("x", shape=(1, 4, 4)),
               n.Conv("c", ("x",), weight=np.ones((1, 1, 1, 1), f32), bias=None, stride=(1, 1),
                      padding=(0, 0), dilation=(1, 1)),
               n.IF("s", ("c",)),
               n.AvgPool("ap", ("s",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
               n.IF("out", ("ap",))], "out")
    q = quantize(g, QuantSpec())
    assert thresholds(q.graph)["out"] == [4] and q.graph["out"].threshold == 4
    assert len(q.graph) == len(g)


def test_identity_shortcut_gets_an_integer_scale():
    r = np.random.default_rng(0)
    g = Graph([n.Input("x", shape=(2, 4, 4)),
               n.Conv("c1", ("x",), weight=r.normal(0, 1, (2, 2, 3, 3)).astype(f32),
                      bias=None, stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
               n.IF("s1", ("c1",)),
               n.Conv("c2", ("s1",), weight=r.normal(0, 0.2, (2, 2, 3, 3)).astype(f32),
                      bias=None, stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
               n.Add("add", ("c2", "s1")),
               n.IF("out", ("add",))], "out")
    q = quantize(g, QuantSpec(weight_bits=8))
    (sc,) = q.graph.of_type(n.Scale)
    th = thresholds(q.graph)["out"][0]
    assert sc.inputs == ("s1",) and int(sc.factor.ravel()[0]) == th
    assert th <= 127


def test_errors_name_the_layers():
    r = np.random.default_rng(0)
    g = Graph([n.Input("x", shape=(1, 4, 4)),
               n.BatchNorm("bn", ("x",), scale=np.ones(1, f32), shift=np.zeros(1, f32)),
               n.MaxPool("mp", ("bn",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                         dilation=(1, 1)),
               n.IF("s", ("mp",))], "s")
    with pytest.raises(UnsupportedLayerError) as e:
        quantize(g, QuantSpec())
    assert {x for x, _ in e.value.layers} == {"bn", "mp"}
    base = [n.Input("x", shape=(1, 4, 4)),
            n.Conv("c", ("x",), weight=r.normal(0, 1, (1, 1, 1, 1)).astype(f32), bias=None,
                   stride=(1, 1), padding=(0, 0), dilation=(1, 1))]
    with pytest.raises(ConversionError, match="leak"):
        quantize(Graph([*base, n.IF("s", ("c",), leak=0.1)]), QuantSpec())
    with pytest.raises(ConversionError, match="threshold 0.5"):
        quantize(Graph([*base, n.IF("s", ("c",), threshold=0.5)]), QuantSpec())
    bad_pool = [*base, n.IF("s", ("c",)),
                n.AvgPool("ap", ("s",), kernel=(2, 2), stride=(2, 2), padding=(1, 1),
                          count_include_pad=False), n.IF("o", ("ap",))]
    with pytest.raises(ConversionError, match="AvgPool 'ap'"):
        quantize(Graph(bad_pool), QuantSpec())
    q = quantize(Graph([*base, n.IF("s", ("c",))]), QuantSpec())
    with pytest.raises(ConversionError, match="already quantized"):
        quantize(q, QuantSpec())
    with pytest.raises(ConversionError, match="weight_bits"):
        quantize(Graph([*base, n.IF("s", ("c",))]), QuantSpec(weight_bits=40))
    wide = [n.Input("x", shape=(4096,)),
            n.Dense("d", ("x",), weight=np.ones((2, 4096), f32), bias=None), n.IF("s", ("d",))]
    with pytest.raises(ConversionError, match="int32"):
        quantize(Graph(wide), QuantSpec(weight_bits=16, input_bits=16))


def test_quant_spec_scale_is_an_enum_given_as_member_or_string():
    from ann2snn.errors import ConfigError

    assert QuantSpec().scale is QuantScale.INTEGER
    assert QuantSpec(scale="POW2").scale is QuantScale.POW2
    assert QuantSpec(scale=QuantScale.POW2) == QuantSpec(scale="pow2")
    with pytest.raises(ConfigError, match="QuantSpec.scale must be one of 'integer', 'pow2'"):
        QuantSpec(scale="log")
    g = Graph([n.Input("x", shape=(4,)),
               n.Dense("d", ("x",), weight=np.full((2, 4), 0.3, f32), bias=None),
               n.IF("s", ("d",))])
    assert quantize(g, QuantSpec(scale="pow2")).graph.quant.scale is QuantScale.POW2
