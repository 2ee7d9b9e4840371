"""Connection lists: every synapse node expanded into (pre, post, weight) plus biases
gives the float simulator's own operation on random inputs, and the projections
composed through a network give the simulator's currents at every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import NETS

from ann2snn.backends.connections import EXPAND, Connections, expand_in
from ann2snn.backends.projections import projections
from ann2snn.errors import ConversionError
from ann2snn.ir import Graph, MissingHandler
from ann2snn.ir import nodes as n
from ann2snn.sim.ops import GraphParams, apply
from ann2snn.sim.simulator import SpikingNetwork

R = np.random.default_rng(0)


def _w(*shape):
    return R.normal(size=shape)


def _conv(nd, c_in=4, c_out=6, k=3, stride=1, pad=0, dil=1, groups=1, bias="channel",
          spatial=(9, 8)):
    sp = spatial[-nd:]
    ks = (k, k - 1)[-nd:] if nd == 2 else (k,)
    out_sp = [(s + 2 * pad - dil * (kk - 1) - 1) // stride + 1 for s, kk in zip(sp, ks)]
    b = {"none": None, "channel": _w(c_out), "full": _w(c_out, *out_sp)}[bias]
    return [n.Input("x", shape=(c_in, *sp)),
            n.Conv("y", ("x",), weight=_w(c_out, c_in // groups, *ks), bias=b,
                   stride=(stride,) * nd, padding=(pad,) * nd, dilation=(dil,) * nd,
                   groups=groups)]


def _convt(nd, stride=2, pad=1, out_pad=1, dil=1, groups=2, bias=True):
    sp = (5, 4)[-nd:]
    ks = (3, 2)[-nd:]
    return [n.Input("x", shape=(4, *sp)),
            n.ConvTranspose("y", ("x",), weight=_w(4, 6 // groups, *ks),
                            bias=_w(6) if bias else None, stride=(stride,) * nd,
                            padding=(pad,) * nd, output_padding=(out_pad,) * nd,
                            dilation=(dil,) * nd, groups=groups)]


def _pool(nd, k=3, stride=2, pad=1, include=True, ceil=False, spatial=(9, 8)):
    return [n.Input("x", shape=(3, *spatial[-nd:])),
            n.AvgPool("y", ("x",), kernel=(k, k - 1)[-nd:] if nd == 2 else (k,),
                      stride=(stride,) * nd, padding=(pad,) * nd, count_include_pad=include,
                      ceil_mode=ceil)]


def _one(node, shape=(3, 7, 8)):
    return [n.Input("x", shape=shape), node]


CASES = {
    "conv2d": _conv(2),
    "conv2d-stride-pad-dil": _conv(2, stride=2, pad=2, dil=2),
    "conv2d-groups-fullbias": _conv(2, groups=2, bias="full", pad=1),
    "conv2d-depthwise-nobias": _conv(2, c_in=4, c_out=4, groups=4, bias="none", stride=3),
    "conv1d": _conv(1, stride=2, pad=1),
    "conv1d-dil-groups": _conv(1, dil=3, groups=2, pad=3, bias="full"),
    "convT2d": _convt(2),
    "convT2d-dil": _convt(2, stride=1, pad=0, out_pad=0, dil=2, groups=1, bias=False),
    "convT1d": _convt(1, stride=3, pad=2, out_pad=2),
    "avgpool2d": _pool(2),
    "avgpool2d-exclude-pad-ceil": _pool(2, include=False, ceil=True),
    "avgpool2d-include-pad-ceil": _pool(2, include=True, ceil=True, spatial=(10, 7)),
    "avgpool2d-nopad": _pool(2, k=2, stride=2, pad=0),
    "avgpool1d-ceil": _pool(1, k=2, stride=2, pad=1, include=False, ceil=True),
    "dense": [n.Input("x", shape=(7,)), n.Dense("y", ("x",), weight=_w(5, 7), bias=_w(5))],
    "dense-nobias": [n.Input("x", shape=(7,)), n.Dense("y", ("x",), weight=_w(5, 7))],
    "upsample2d": _one(n.Upsample("y", ("x",), scale=(3, 2))),
    "upsample1d": _one(n.Upsample("y", ("x",), scale=(5,)), (2, 6)),
    "pad2d": _one(n.Pad("y", ("x",), pads=((1, 2), (0, 3)))),
    "pad2d-crop": _one(n.Pad("y", ("x",), pads=((-1, 2), (2, -3)))),
    "pad1d": _one(n.Pad("y", ("x",), pads=((2, -1),)), (2, 6)),
    "flatten": _one(n.Flatten("y", ("x",))),
    "reshape": _one(n.Reshape("y", ("x",), shape=(6, -1))),
    "identity": _one(n.Identity("y", ("x",))),
    "transpose": _one(n.Transpose("y", ("x",), perm=(0, 3, 1, 2))),
    "scale-scalar": _one(n.Scale("y", ("x",), factor=np.full((1, 1, 1), 0.4))),
    "scale-channel": _one(n.Scale("y", ("x",), factor=_w(3, 1, 1))),
    "scale-full": _one(n.Scale("y", ("x",), factor=_w(3, 7, 8))),
    "globalavgpool2d": _one(n.GlobalAvgPool("y", ("x",))),
    "globalavgpool1d": _one(n.GlobalAvgPool("y", ("x",)), (4, 5)),
    "batchnorm": _one(n.BatchNorm("y", ("x",), scale=_w(3), shift=_w(3))),
    "concat-channels": [n.Input("x", shape=(3, 4, 5)), n.Identity("z", ("x",)),
                        n.Scale("w", ("x",), factor=_w(3, 4, 5)),
                        n.Upsample("u", ("x",), scale=(1, 1)),
                        n.Concat("y", ("z", "w", "u"), axis=1)],
    "concat-spatial": [n.Input("x", shape=(3, 4, 5)), n.Pad("p", ("x",), pads=((1, 0), (0, 0))),
                       n.Concat("y", ("x", "p"), axis=2)],
    "concat-flat": [n.Input("x", shape=(3, 4, 5)), n.Flatten("f", ("x",)),
                    n.Dense("d", ("f",), weight=_w(4, 60)), n.Concat("y", ("d", "f"), axis=1)],
    "add": [n.Input("x", shape=(3, 4, 5)), n.Scale("s", ("x",), factor=_w(3, 1, 1)),
            n.Add("y", ("x", "s", "x"))],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_expansion_equals_the_simulator_op(case):
    g = Graph(CASES[case], "y")
    node = g["y"]
    e = expand_in(g, "y")
    assert len(e.inputs) == len(node.inputs)
    xs = [R.normal(size=(4, *g.shapes[i])) for i in node.inputs]
    want = apply(node, [torch.as_tensor(x) for x in xs], GraphParams(g, torch.float64))
    got = e.apply([x.reshape(4, -1) for x in xs])
    np.testing.assert_allclose(got, want.numpy().reshape(4, -1), rtol=1e-12, atol=1e-12)
    for c, i in zip(e.inputs, node.inputs):
        assert c.pre.dtype == c.post.dtype == np.int64 and c.weight.dtype == np.float64
        assert c.n_pre == np.prod(g.shapes[i]) and c.n_post == np.prod(g.shapes["y"])
        assert 0 <= c.pre.min() and c.pre.max() < c.n_pre and c.post.max() < c.n_post
        pairs = c.post * c.n_pre + c.pre
        assert len(np.unique(pairs)) == len(pairs), "one synapse per (pre, post) pair"


def test_conv_list_matches_a_hand_count():
    """A 3x3 'same' convolution of a 1x4x4 input: 4 corners x 4 + 8 edges x 6 + 4 inner
    x 9 synapses, the centre tap has the weight W[1, 1]."""
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    g = Graph([n.Input("x", shape=(1, 4, 4)),
               n.Conv("y", ("x",), weight=w, stride=(1, 1), padding=(1, 1),
                      dilation=(1, 1))], "y")
    c = expand_in(g, "y").inputs[0]
    assert len(c) == 4 * 4 + 8 * 6 + 4 * 9
    centre = c.pre == c.post
    assert centre.sum() == 16 and np.all(c.weight[centre] == 4.0)
    assert np.all(c.dense()[5] == [0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 0, 0, 0, 0])


def test_composition_sums_parallel_paths():
    a = Connections(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0]), 2, 2)
    b = Connections(np.array([0, 1]), np.array([0, 0]), np.array([10.0, 100.0]), 2, 1)
    ab = b.after(a)
    np.testing.assert_array_equal(ab.dense(), b.dense() @ a.dense())
    assert sorted(zip(ab.pre.tolist(), ab.post.tolist())) == [(0, 0), (1, 0)]
    with pytest.raises(ValueError):
        a.after(b)


def test_unsupported_node_names_the_supported():
    g = Graph([n.Input("x", shape=(3,)), n.ReLU("y", ("x",))], "y")
    with pytest.raises(MissingHandler) as e:
        expand_in(g, "y")
    assert "ReLU 'y'" in str(e.value) and "Conv" in str(e.value)
    assert "IF" not in EXPAND.supported() and "SpikingMaxPool" not in EXPAND.supported()


@pytest.fixture(scope="module")
def digits_avg(digits, digits_model):
    """The trained digits CNN converted with average pooling (no stateful node)."""
    import ann2snn

    return ann2snn.convert(digits_model, digits[0].x[:500], max_to_avg_pool=True).graph


@pytest.mark.parametrize("net_name", ["currents", "digits"])
def test_projections_give_the_simulators_currents(net_name, request):
    graph = request.getfixturevalue("digits_avg") if net_name == "digits" else NETS[net_name]()
    proj = projections(graph)
    pops = [p.name for p in graph.of_type(n.IF)]
    assert list(proj) == pops
    rec: dict[tuple[str, str], list] = {}

    def probe(name, kind, t, t0):
        rec.setdefault((name, kind), []).append(t.double().numpy())

    x = np.random.default_rng(1).random((3, *graph.input_shape)).astype(np.float32)
    T = 7
    SpikingNetwork(graph).run_batch(torch.as_tensor(x), T, probe=probe)
    values = {k: np.concatenate(v).reshape(T, 3, -1) for k, v in rec.items()}
    src = {s: values[(s, "spikes")] for s in [*graph.inputs, *pops] if (s, "spikes") in values}
    for p in pops:
        want = values[(p, "current")]
        got = proj[p].current(src)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=p)
    active = [p for p in pops if p in src and src[p].any()]
    assert len(active) >= 2, "the test needs spiking populations"


def test_projections_refuse_stateful_and_non_linear_nodes_all_at_once():
    k = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    g = Graph([
        n.Input("x", shape=(1, 4, 4)),
        n.ReLU("r", ("x",)),
        n.Conv("c", ("r",), weight=_w(2, 1, 1, 1), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1)),
        n.IF("s1", ("c",)),
        n.SpikingMaxPool("mp", ("s1",), **k),
        n.Flatten("fl", ("mp",)),
        n.Dense("fc", ("fl",), weight=_w(3, 8)),
        n.IF("out", ("fc",)),
    ], "out")
    with pytest.raises(ConversionError) as e:
        projections(g)
    msg = str(e.value)
    assert "through 2 node(s)" in msg
    assert "SpikingMaxPool 'mp' keeps state" in msg and "max_to_avg_pool=True" in msg
    assert "ReLU 'r' is not linear" in msg
