"""Shape inference: one rule per node type, in a registry that covers every type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ann2snn.ir import NODE_TYPES, MissingHandler
from ann2snn.ir import nodes as n
from ann2snn.ir.shapes import SHAPES, infer

f32 = np.float32


def test_every_node_type_has_a_shape_rule():
    assert set(SHAPES.types()) == set(NODE_TYPES.values())


def test_a_type_without_a_rule_is_a_missing_handler_naming_it():
    @dataclasses.dataclass(frozen=True, eq=False)
    class Mystery(n.Node):
        pass

    with pytest.raises(MissingHandler, match=r"shape inference has no handler for Mystery 'm'"):
        infer(Mystery("m", ("x",)), [(3,)])


@pytest.mark.parametrize("node, ins, out", [
    (n.Conv("c", ("x",), weight=np.zeros((4, 1, 3, 3), f32), stride=(2, 2), padding=(1, 1),
            dilation=(1, 1), groups=2), [(2, 7, 7)], (4, 4, 4)),
    (n.ConvTranspose("t", ("x",), weight=np.zeros((2, 3, 2, 2), f32), stride=(2, 2),
                     padding=(0, 0), output_padding=(1, 0), dilation=(1, 1)), [(2, 3, 3)],
     (3, 7, 6)),
    (n.MaxPool("m", ("x",), kernel=(2,), stride=(2,), padding=(0,), dilation=(1,),
               ceil_mode=True), [(3, 5)], (3, 3)),
    (n.Upsample("u", ("x",), scale=(2, 3)), [(1, 2, 2)], (1, 4, 6)),
    (n.Pad("p", ("x",), pads=((1, 0), (0, -1))), [(1, 2, 2)], (1, 3, 1)),
    (n.Reshape("r", ("x",), shape=(-1, 4)), [(2, 2, 2)], (2, 4)),
    (n.Transpose("tr", ("x",), perm=(0, 3, 1, 2)), [(1, 2, 3)], (3, 1, 2)),
    (n.Concat("cat", ("x", "y"), axis=1), [(2, 4), (3, 4)], (5, 4)),
    (n.GlobalAvgPool("g", ("x",)), [(5, 2, 2)], (5,)),
    (n.Flatten("f", ("x",)), [(5, 2, 2)], (20,)),
    (n.IF("i", ("x",)), [(5, 2)], (5, 2)),
])
def test_rules(node, ins, out):
    assert infer(node, ins) == out


@pytest.mark.parametrize("node, ins, msg", [
    (n.Conv("c", ("x",), weight=np.zeros((4, 3, 3, 3), f32), stride=(1, 1), padding=(0, 0),
            dilation=(1, 1)), [(2, 7, 7)], "Conv 'c' expects 3 input channels, got shape "
                                            r"\(2, 7, 7\) from the test"),
    (n.Add("a", ("x", "y")), [(2,), (3,)], "Add 'a' inputs have different shapes"),
    (n.Concat("cat", ("x", "y"), axis=0), [(2,), (2,)], "cannot join along the batch axis"),
    (n.Reshape("r", ("x",), shape=(3,)), [(4,)], r"Reshape 'r' cannot reshape \(4,\) to"),
    (n.AvgPool("p", ("x",), kernel=(3,), stride=(1,), padding=(0,)), [(1, 2)],
     "window is larger than its input"),
])
def test_mismatches_name_the_node_and_the_shapes(node, ins, msg):
    with pytest.raises(ValueError, match=msg):
        infer(node, ins, "the test")
