"""One minimal ONNX model per handler, run in onnxruntime and compared with ann_forward."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ann2snn.frontends.onnx import from_onnx_model  # noqa: E402
from ann2snn.sim.ops import ann_forward  # noqa: E402

RNG = np.random.default_rng(0)


def rnd(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def ints(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def model(nodes, x_shape, inits=None, opset=17, out_rank=None):
    """A checked model with input ``x`` (batch symbolic) and output ``y``."""
    out_rank = len(x_shape) + 1 if out_rank is None else out_rank
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *x_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * out_rank)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def check(m, x_shape, batch=3, pos=False):
    """Convert ``m``, run it and onnxruntime on random data; return the IR graph."""
    g = from_onnx_model(m, "test")
    x = rnd(batch, *x_shape)
    x = np.abs(x) if pos else x
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    out = ann_forward(g, x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)
    return g


def ops(g) -> list[str]:
    return [x.op for x in g]


def node(op, ins, **attrs):
    return helper.make_node(op, ins, ["y"], name=f"my_{op.lower()}", **attrs)


# --- Dense ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm(trans_b):
    w = rnd(4, 6) if trans_b else rnd(6, 4)
    m = model([node("Gemm", ["x", "w", "c"], transB=trans_b, alpha=0.5, beta=2.0)], (6,),
              {"w": w, "c": rnd(4)})
    g = check(m, (6,))
    assert ops(g) == ["Input", "Dense"] and g["my_gemm"].weight.shape == (4, 6)


def test_gemm_without_bias_and_2d_bias():
    m = model([node("Gemm", ["x", "w"], transB=1)], (6,), {"w": rnd(4, 6)})
    assert check(m, (6,))["my_gemm"].bias is None
    m = model([node("Gemm", ["x", "w", "c"])], (6,), {"w": rnd(6, 4), "c": rnd(1, 4)})
    check(m, (6,))


def test_matmul_plus_bias_is_one_dense():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "b"], ["y"], name="fc_bias")]
    g = check(model(nodes, (5,), {"w": rnd(5, 3), "b": rnd(3)}), (5,))
    assert ops(g) == ["Input", "Dense"] and g["fc"].bias is not None


def test_matmul_alone():
    g = check(model([node("MatMul", ["x", "w"])], (5,), {"w": rnd(5, 3)}), (5,))
    assert g["my_matmul"].bias is None


# --- Conv / ConvTranspose ------------------------------------------------------------------

CONV_CASES = {
    "plain": ({}, (2, 7, 7), (4, 2, 3, 3)),
    "1d": ({"pads": [1, 1], "strides": [2]}, (2, 9), (3, 2, 3)),
    "depthwise": ({"group": 4, "strides": [2, 2], "dilations": [2, 2], "pads": [2, 2, 2, 2]},
                  (4, 9, 9), (4, 1, 3, 3)),
    "grouped": ({"group": 2, "pads": [1, 0, 1, 0]}, (4, 6, 5), (6, 2, 3, 3)),
    "asymmetric": ({"pads": [0, 1, 2, 1]}, (2, 6, 6), (3, 2, 3, 3)),
    "same_upper": ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (2, 8, 7), (3, 2, 4, 3)),
    "same_lower": ({"auto_pad": "SAME_LOWER"}, (2, 6, 6), (3, 2, 2, 2)),
    "valid": ({"auto_pad": "VALID", "strides": [2, 1]}, (2, 7, 6), (3, 2, 3, 3)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv(case):
    attrs, x_shape, w_shape = CONV_CASES[case]
    m = model([node("Conv", ["x", "w", "b"], **attrs)], x_shape,
              {"w": rnd(*w_shape), "b": rnd(w_shape[0])})
    g = check(m, x_shape)
    if case in ("asymmetric", "same_lower"):
        assert ops(g) == ["Input", "Pad", "Conv"]
    else:
        assert ops(g) == ["Input", "Conv"]


CONVT_CASES = {
    "stride": ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
               (3, 4, 4), (3, 2, 3, 3)),
    "asymmetric": ({"strides": [2, 2], "pads": [0, 1, 1, 0]}, (3, 4, 5), (3, 2, 3, 3)),
    "output_shape": ({"strides": [2, 2], "output_shape": [8, 9]}, (2, 4, 4), (2, 3, 3, 3)),
    "1d_groups": ({"group": 2, "strides": [3], "dilations": [2]}, (4, 5), (4, 1, 3)),
}


@pytest.mark.parametrize("case", sorted(CONVT_CASES))
def test_conv_transpose(case):
    attrs, x_shape, w_shape = CONVT_CASES[case]
    out_c = w_shape[1] * attrs.get("group", 1)
    m = model([node("ConvTranspose", ["x", "w", "b"], **attrs)], x_shape,
              {"w": rnd(*w_shape), "b": rnd(out_c)})
    g = check(m, x_shape)
    assert "ConvTranspose" in ops(g)


# --- per-channel and elementwise ---------------------------------------------------------


@pytest.mark.parametrize("x_shape", [(3, 4, 4), (3,)])
def test_batchnorm(x_shape):
    inits = {"s": rnd(3), "bb": rnd(3), "mu": rnd(3), "var": np.abs(rnd(3)) + 0.1}
    m = model([node("BatchNormalization", ["x", "s", "bb", "mu", "var"], epsilon=1e-3)],
              x_shape, inits)
    g = check(m, x_shape)
    assert ops(g) == ["Input", "BatchNorm"]


def test_relu():
    assert ops(check(model([node("Relu", ["x"])], (2, 3)), (2, 3))) == ["Input", "ReLU"]


@pytest.mark.parametrize("opset", [11, 13])
def test_clip_min_max_inputs(opset):
    inits = {"lo": np.array(0.0, np.float32), "hi": np.array(0.5, np.float32)}
    g = check(model([node("Clip", ["x", "lo", "hi"])], (5,), inits, opset=opset), (5,))
    assert g["my_clip"].max_value == 0.5
    g = check(model([node("Clip", ["x", "lo"])], (5,), inits, opset=opset), (5,))
    assert g["my_clip"].max_value is None


@pytest.mark.parametrize("opset,axis", [(11, 1), (13, None), (13, -1)])
def test_softmax(opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    g = check(model([node("Softmax", ["x"], **attrs)], (6,), opset=opset), (6,))
    assert ops(g) == ["Input", "Softmax"]


# --- pooling -------------------------------------------------------------------------------

POOL_CASES = {
    "max": ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 6, 6)),
    "max_pad_ceil": ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2],
                                 "pads": [1, 1, 1, 1], "ceil_mode": 1}, (2, 8, 8)),
    "max_dilated_1d": ("MaxPool", {"kernel_shape": [2], "dilations": [2]}, (2, 9)),
    "max_same": ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}, (2, 5, 5)),
    "avg": ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 6, 6)),
    "avg_pad_exclude": ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
                        (2, 5, 5)),
    "avg_pad_include": ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                        "count_include_pad": 1}, (2, 5, 5)),
    "avg_ceil": ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
                 (2, 5, 5)),
    "avg_asym_include": ("AveragePool", {"kernel_shape": [2, 2], "pads": [0, 0, 1, 1],
                                         "count_include_pad": 1}, (2, 5, 5)),
    "avg_1d": ("AveragePool", {"kernel_shape": [3], "strides": [2]}, (2, 9)),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool(case):
    op, attrs, x_shape = POOL_CASES[case]
    g = check(model([node(op, ["x"], **attrs)], x_shape), x_shape)
    assert ops(g)[-1] == ("MaxPool" if op == "MaxPool" else "AvgPool")


def test_global_average_pool_keeps_dims():
    g = check(model([node("GlobalAveragePool", ["x"])], (3, 4, 5)), (3, 4, 5))
    assert ops(g) == ["Input", "GlobalAvgPool", "Reshape"] and g.output_shape == (3, 1, 1)


@pytest.mark.parametrize("opset,keep", [(17, 1), (17, 0), (18, 1)])
def test_reduce_mean_over_space(opset, keep):
    if opset >= 18:
        nodes, inits = [node("ReduceMean", ["x", "ax"], keepdims=keep)], {"ax": ints(-1, -2)}
    else:
        nodes, inits = [node("ReduceMean", ["x"], axes=[2, 3], keepdims=keep)], {}
    g = check(model(nodes, (3, 4, 5), inits, opset=opset, out_rank=4 if keep else 2), (3, 4, 5))
    assert g.output_shape == ((3, 1, 1) if keep else (3,))


# --- structure -----------------------------------------------------------------------------


def test_flatten():
    g = check(model([node("Flatten", ["x"], axis=1)], (2, 3, 4), out_rank=2), (2, 3, 4))
    assert ops(g) == ["Input", "Flatten"]


@pytest.mark.parametrize("target", [(0, -1), (-1, 4, 6), (0, 2, 0, 4), (0, 24)])
def test_reshape_static(target):
    m = model([node("Reshape", ["x", "s"])], (2, 3, 4), {"s": ints(*target)},
              out_rank=len(target))
    check(m, (2, 3, 4))


def test_reshape_shape_from_folded_subgraph():
    """x.view(x.size(0), -1) as the legacy exporter writes it: Shape/Gather/Unsqueeze/Concat."""
    mk = helper.make_node
    nodes = [
        mk("Shape", ["x"], ["shp"]),
        mk("Constant", [], ["zero"], value=numpy_helper.from_array(ints(0).reshape(()))),
        mk("Gather", ["shp", "zero"], ["n"], axis=0),
        mk("Unsqueeze", ["n", "ax0"], ["n1"]),
        mk("ConstantOfShape", ["one"], ["m1"],
           value=numpy_helper.from_array(np.array([-1], np.int64))),
        mk("Concat", ["n1", "m1"], ["s"], axis=0),
        mk("Cast", ["s"], ["s64"], to=TensorProto.INT64),
        mk("Reshape", ["x", "s64"], ["y"], name="view"),
    ]
    g = check(model(nodes, (2, 3, 4), {"ax0": ints(0), "one": ints(1)}, out_rank=2), (2, 3, 4))
    assert ops(g) == ["Input", "Flatten"]


def test_reshape_shape_from_slice_and_arithmetic():
    """x.reshape(N, C // 2, 2 * H * W): Slice, Div and Mul on folded shapes."""
    mk = helper.make_node
    nodes = [
        mk("Shape", ["x"], ["shp"]),
        mk("Slice", ["shp", "s0", "s1"], ["n"]),
        mk("Slice", ["shp", "s1", "s2"], ["c"]),
        mk("Div", ["c", "two"], ["c2"]),
        mk("Mul", ["two", "hw"], ["rest"]),
        mk("Add", ["s1", "s1"], ["unused"]),  # one constant read twice
        mk("Concat", ["n", "c2", "rest"], ["s"], axis=0),
        mk("Reshape", ["x", "s"], ["y"]),
    ]
    inits = {"s0": ints(0), "s1": ints(1), "s2": ints(2), "two": ints(2), "hw": ints(12)}
    g = check(model(nodes, (4, 3, 4), inits, out_rank=3), (4, 3, 4))
    assert g.output_shape == (2, 24)


def test_concat_and_add_of_two_branches():
    mk = helper.make_node
    nodes = [mk("Relu", ["x"], ["r"], name="relu"),
             mk("Add", ["x", "r"], ["a"], name="res"),
             mk("Concat", ["a", "r", "x"], ["y"], axis=1, name="cat")]
    g = check(model(nodes, (2, 3, 3)), (2, 3, 3))
    assert g.output_shape == (6, 3, 3) and {"Add", "Concat"} <= set(ops(g))


def test_concat_negative_axis():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), node("Concat", ["r", "x"], axis=-1)]
    assert check(model(nodes, (2, 3)), (2, 3)).output_shape == (2, 6)


@pytest.mark.parametrize("const_shape", [(3, 1, 1), (1, 3, 1, 1), (), (1,), (3, 4, 4)])
def test_add_constant_folds_into_conv_bias(const_shape):
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "w"], ["h"], name="conv", pads=[1, 1, 1, 1]),
             mk("Add", ["c", "h"], ["y"], name="shift")]
    g = check(model(nodes, (2, 4, 4), {"w": rnd(3, 2, 3, 3), "c": rnd(*const_shape)}), (2, 4, 4))
    assert ops(g) == ["Input", "Conv"]


def test_add_constant_after_batchnorm():
    mk = helper.make_node
    inits = {"s": rnd(3), "bb": rnd(3), "mu": rnd(3), "var": np.abs(rnd(3)) + 0.1,
             "c": rnd(3, 1, 1)}
    nodes = [mk("BatchNormalization", ["x", "s", "bb", "mu", "var"], ["h"]),
             mk("Add", ["h", "c"], ["y"])]
    assert ops(check(model(nodes, (3, 2, 2), inits), (3, 2, 2))) == ["Input", "BatchNorm"]


@pytest.mark.parametrize("opset", [11, 18])
def test_pad(opset):
    pads = ints(0, 0, 1, 2, 0, 0, 3, 0)
    if opset >= 18:  # pads for the listed axes only
        nd = [node("Pad", ["x", "p", "", "ax"])]
        inits = {"p": ints(1, 2, 3, 0), "ax": ints(2, 3)}
    else:
        nd, inits = [node("Pad", ["x", "p", "v"])], {"p": pads, "v": np.array(0.0, np.float32)}
    g = check(model(nd, (2, 3, 3), inits, opset=opset), (2, 3, 3))
    assert g["my_pad"].pads == ((1, 3), (2, 0))


RESIZE_CASES = {
    "asymmetric_floor": ({"coordinate_transformation_mode": "asymmetric",
                          "nearest_mode": "floor"}, "scales", [1, 1, 2, 3]),
    "default_half_pixel": ({}, "scales", [1, 1, 3, 2]),
    "sizes_axes": ({"nearest_mode": "round_prefer_ceil", "axes": [2, 3]}, "sizes", [8, 12]),
}


@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_resize_nearest(case):
    attrs, kind, val = RESIZE_CASES[case]
    if kind == "scales":
        ins, inits = ["x", "", "s"], {"s": np.array(val, np.float32)}
    else:
        ins, inits = ["x", "", "", "s"], {"s": ints(*val)}
    m = model([node("Resize", ins, mode="nearest", **attrs)], (2, 4, 4), inits, opset=18)
    g = check(m, (2, 4, 4))
    assert ops(g) == ["Input", "Upsample"]


def test_dropout_and_identity_are_aliases():
    mk = helper.make_node
    nodes = [mk("Dropout", ["x", "r"], ["d"], name="drop"), mk("Identity", ["d"], ["i"]),
             mk("Relu", ["i"], ["y"], name="relu")]
    g = check(model(nodes, (4,), {"r": np.array(0.5, np.float32)}, opset=13), (4,))
    assert ops(g) == ["Input", "ReLU"]


def test_transpose():
    g = check(model([node("Transpose", ["x"], perm=[0, 2, 3, 1])], (2, 3, 4)), (2, 3, 4))
    assert g.output_shape == (3, 4, 2)


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze(opset):
    mk = helper.make_node
    if opset >= 13:
        nodes = [mk("Squeeze", ["x", "a2"], ["s"]), mk("Unsqueeze", ["s", "a13"], ["y"])]
        inits = {"a2": ints(2), "a13": ints(1, -1)}
    else:
        nodes = [mk("Squeeze", ["x"], ["s"], axes=[2]), mk("Unsqueeze", ["s"], ["y"], axes=[1, 4])]
        inits = {}
    g = check(model(nodes, (3, 1, 4), inits, opset=opset, out_rank=5), (3, 1, 4))
    assert g.output_shape == (1, 3, 4, 1)


def test_squeeze_without_axes():
    g = check(model([node("Squeeze", ["x"])], (3, 1, 1), opset=13, out_rank=2), (3, 1, 1))
    assert g.output_shape == (3,)


def test_names_are_unique_and_fall_back_to_op_type():
    """onnxruntime refuses duplicate node names, the checker does not: keep them apart."""
    mk = helper.make_node
    nodes = [mk("Relu", ["x"], ["a"], name="act"), mk("Relu", ["a"], ["b"], name="act"),
             mk("Relu", ["b"], ["c"]), mk("Relu", ["c"], ["y"], name="input")]
    g = from_onnx_model(model(nodes, (4,)), "test")
    assert list(g.nodes) == ["input", "act", "act_2", "Relu_2", "input_2"]
    x = rnd(2, 4)
    np.testing.assert_allclose(ann_forward(g, x), np.maximum(x, 0))
