"""The simulators' op registries (issue 9, item 2): which node types have handlers, the
errors of a duplicate or a missing one, and each float handler against the torch call
it stands for, on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ann2snn.analysis.counts import FANOUT, MACS, fanout
from ann2snn.frontends import torch_qcfs  # noqa: F401  (the ann2snn::qcfs operator)
from ann2snn.ir import Graph, MissingHandler
from ann2snn.ir import nodes as n
from ann2snn.ir.nodes import NODE_TYPES
from ann2snn.sim.integer_ops import INT_OPS, IntParams, int_apply
from ann2snn.sim.ops import OPS, GraphParams, apply

f32 = np.float32
R = np.random.default_rng(11)


def arr(*shape):
    return R.normal(size=shape).astype(f32)


def t(a):
    return torch.as_tensor(a)


# (node, input shapes without batch, reference on the batched inputs): the reference is
# the plain torch (or tensor-method) call, with the node's arrays passed explicitly
W2, B3, W1, BMAP = arr(3, 2, 3, 3), arr(3), arr(3, 2, 3), arr(3, 6)
WT, WD, BN_S, BN_B = arr(2, 4, 3, 3), arr(5, 12), arr(2), arr(2)
FAC = arr(2, 1, 1)
CASES = {
    "Conv": (n.Conv("op", ("a",), weight=W2, bias=B3, stride=(2, 1), padding=(1, 0),
                    dilation=(1, 2)), [(2, 7, 8)],
             lambda a: F.conv2d(a, t(W2), t(B3), (2, 1), (1, 0), (1, 2))),
    "Conv-1d-bias-map": (n.Conv("op", ("a",), weight=W1, bias=BMAP, stride=(1,),
                                padding=(0,), dilation=(1,)), [(2, 8)],
                         lambda a: F.conv1d(a, t(W1)) + t(BMAP)),
    "ConvTranspose": (n.ConvTranspose("op", ("a",), weight=WT, bias=None, stride=(2, 2),
                                      padding=(1, 1), output_padding=(1, 0),
                                      dilation=(1, 1)), [(2, 4, 5)],
                      lambda a: F.conv_transpose2d(a, t(WT), None, 2, 1, (1, 0))),
    "Dense": (n.Dense("op", ("a",), weight=WD, bias=None), [(12,)],
              lambda a: a @ t(WD).T),
    "BatchNorm": (n.BatchNorm("op", ("a",), scale=BN_S, shift=BN_B), [(2, 3, 4)],
                  lambda a: a * t(BN_S)[:, None, None] + t(BN_B)[:, None, None]),
    "Scale": (n.Scale("op", ("a",), factor=FAC), [(2, 3, 4)], lambda a: a * t(FAC)),
    "ReLU": (n.ReLU("op", ("a",), max_value=0.5), [(2, 3, 4)],
             lambda a: torch.clamp(a, 0.0, 0.5)),
    "QCFS": (n.QCFS("op", ("a",), lam=np.array([0.75, 2.0], np.float32), levels=4), [(2, 3, 4)],
             lambda a: torch.ops.ann2snn.qcfs(a, torch.tensor([0.75, 2.0]), 4)),
    "Softmax": (n.Softmax("op", ("a",)), [(6,)], lambda a: F.softmax(a, dim=-1)),
    "AvgPool": (n.AvgPool("op", ("a",), kernel=(3, 2), stride=(2, 2), padding=(1, 0),
                          count_include_pad=False, ceil_mode=True), [(2, 7, 6)],
                lambda a: F.avg_pool2d(a, (3, 2), 2, (1, 0), True, False)),
    "AvgPool-1d": (n.AvgPool("op", ("a",), kernel=(2,), stride=(2,), padding=(0,)),
                   [(2, 9)], lambda a: F.avg_pool1d(a, 2)),
    "MaxPool": (n.MaxPool("op", ("a",), kernel=(2, 2), stride=(1, 2), padding=(1, 1),
                          dilation=(1, 1)), [(2, 5, 6)],
                lambda a: F.max_pool2d(a, 2, (1, 2), 1)),
    "SpikingMaxPool": (n.SpikingMaxPool("op", ("a",), kernel=(3,), stride=(3,),
                                        padding=(0,), dilation=(1,), ceil_mode=True),
                       [(2, 10)], lambda a: F.max_pool1d(a, 3, 3, ceil_mode=True)),
    "GlobalAvgPool": (n.GlobalAvgPool("op", ("a",)), [(3, 4, 5)],
                      lambda a: a.mean(dim=(2, 3))),
    "Upsample": (n.Upsample("op", ("a",), scale=(2, 3)), [(2, 3, 4)],
                 lambda a: a.repeat_interleave(2, 2).repeat_interleave(3, 3)),
    "Pad": (n.Pad("op", ("a",), pads=((1, 0), (2, -1))), [(2, 3, 4)],
            lambda a: F.pad(a, (2, -1, 1, 0))),
    "Flatten": (n.Flatten("op", ("a",)), [(2, 3, 4)], lambda a: a.reshape(len(a), -1)),
    "Reshape": (n.Reshape("op", ("a",), shape=(4, 6)), [(2, 3, 4)],
                lambda a: a.reshape(len(a), 4, 6)),
    "Transpose": (n.Transpose("op", ("a",), perm=(0, 2, 3, 1)), [(2, 3, 4)],
                  lambda a: a.permute(0, 2, 3, 1)),
    "Concat": (n.Concat("op", ("a", "b"), axis=1), [(2, 3, 4), (3, 3, 4)],
               lambda a, b: torch.cat([a, b], 1)),
    "Add": (n.Add("op", ("a", "b", "c")), [(2, 3), (2, 3), (2, 3)],
            lambda a, b, c: a + b + c),
    "Identity": (n.Identity("op", ("a",)), [(2, 3)], lambda a: a),
}


def graph_of(node: n.Node, shapes) -> Graph:
    """``node`` reading one Input per input shape (the graph checks the shapes)."""
    return Graph([*(n.Input(i, shape=s) for i, s in zip(node.inputs, shapes)), node], "op")


@pytest.mark.parametrize("case", sorted(CASES))
def test_float_handler_equals_the_torch_call(case):
    node, shapes, ref = CASES[case]
    xs = [torch.as_tensor(R.normal(size=(3, *s)), dtype=torch.float32) for s in shapes]
    g = graph_of(node, shapes)
    got = apply(node, xs, GraphParams(g))
    want = ref(*xs)
    assert got.shape == want.shape == (3, *g.shapes["op"])
    assert torch.equal(got, want)


def test_input_handler_passes_the_tensor():
    x = torch.ones(2, 3)
    assert apply(n.Input("x", shape=(3,)), [x], None) is x


def test_the_cases_cover_every_float_handler():
    covered = {type(node) for node, _, _ in CASES.values()} | {n.Input}
    assert covered == set(OPS.types())


def test_every_node_type_but_populations_has_a_float_handler():
    """The simulator scans populations (sim/functional.py); everything else is an op."""
    assert set(OPS.types()) == {c for c in NODE_TYPES.values() if not c.population}


def test_integer_handlers_are_exactly_the_integer_nodes():
    assert set(INT_OPS.types()) == {c for c in NODE_TYPES.values()
                                    if c.integer and not c.population}


def test_count_handlers_follow_the_traits():
    assert set(FANOUT.types()) == {c for c in NODE_TYPES.values() if c.synaptic}
    assert set(MACS.types()) == {c for c in NODE_TYPES.values() if c.weighted}


@pytest.mark.parametrize("registry", [OPS, INT_OPS, FANOUT, MACS],
                         ids=["float", "integer", "fanout", "macs"])
def test_registering_a_type_twice_fails(registry):
    before = registry.get(n.Dense) if n.Dense in registry else None
    with pytest.raises(ValueError, match="Dense.*twice"):
        registry.register(n.Dense)(lambda *a: None)
    assert (registry.get(n.Dense) if n.Dense in registry else None) is before


def test_missing_float_handler_names_the_type():
    with pytest.raises(MissingHandler, match=r"the float simulator has no handler for IF "
                                             r"'s'; supported: .*Conv") as e:
        apply(n.IF("s", ("a",)), [torch.zeros(1, 2)], None)
    assert e.value.node_type == "IF" and "Dense" in e.value.supported


def test_missing_integer_handler_names_the_type():
    node = CASES["ConvTranspose"][0]
    with pytest.raises(MissingHandler, match="integer mode has no handler for "
                                             "ConvTranspose 'op'"):
        int_apply(node, [torch.zeros(1, 2, 4, 5, dtype=torch.int64)], None)


def test_missing_fanout_handler_names_the_type():
    g = Graph([n.Input("x", shape=(2, 4, 4)), n.Flatten("fl", ("x",))], "fl")
    with pytest.raises(MissingHandler, match="Flatten 'fl'; supported: AvgPool, Conv"):
        fanout(g, "fl")


@pytest.mark.parametrize("case", ["Pad", "Flatten", "Reshape", "Transpose", "Concat",
                                  "Add", "Identity"])
def test_integer_moves_reuse_the_float_op_exactly(case):
    node, shapes, ref = CASES[case]
    xs = [torch.as_tensor(R.integers(-50, 50, (3, *s))) for s in shapes]
    got = int_apply(node, xs, IntParams(graph_of(node, shapes), "cpu"))
    assert got.dtype == torch.int64
    assert torch.equal(got, ref(*xs))
