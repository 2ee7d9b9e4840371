"""ONNX frontend errors: unsupported layers all at once, unreadable files, bad models."""

from __future__ import annotations

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ann2snn.errors import (  # noqa: E402
    ConversionError,
    ModelFileError,
    UnsupportedLayerError,
)
from ann2snn.frontends import load_model  # noqa: E402
from ann2snn.frontends.onnx import from_onnx_model, load_onnx  # noqa: E402

mk = helper.make_node


def model(nodes, x_dims=("N", 3, 4, 4), inits=None, opset=17, outputs=("y",)):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_dims))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * len(x_dims))
         for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def good_model():
    return model([mk("Relu", ["x"], ["y"], name="relu")])


def test_unsupported_ops_listed_at_once_with_names_and_types():
    nodes = [
        mk("LeakyRelu", ["x"], ["a"], name="leaky"),
        mk("Relu", ["a"], ["b"], name="after_leaky"),  # supported, downstream: not listed
        mk("Sigmoid", ["x"], ["s"], name="gate"),
        mk("Clip", ["a", "m1"], ["c"], name="hardtanh"),  # after an unsupported one
        mk("Add", ["b", "s"], ["d"], name="sum"),
        mk("Tanh", ["d"], ["e"], name="tanh_after"),  # unsupported, downstream: listed
        mk("Shape", ["e"], ["shp"]),  # shape glue downstream: not listed
        mk("Reshape", ["c", "shp"], ["f"], name="reshape"),
        mk("Add", ["f", "e"], ["y"], name="out"),
    ]
    with pytest.raises(UnsupportedLayerError) as info:
        from_onnx_model(model(nodes, inits={"m1": np.array(-1.0, np.float32)}), "net.onnx")
    err = info.value
    names = [name for name, _ in err.layers]
    assert names == ["leaky", "gate", "hardtanh", "tanh_after"]
    kinds = dict(err.layers)
    assert kinds["leaky"] == "LeakyRelu" and kinds["gate"] == "Sigmoid"
    assert kinds["hardtanh"].startswith("Clip: min=-1.0")
    assert "Conv" in err.supported and "net.onnx" in str(err) and "leaky (LeakyRelu)" in str(err)


@pytest.mark.parametrize("case", ["shared_conv", "not_after_param", "spatial_dense"])
def test_add_constant_that_cannot_fold_is_unsupported(case):
    w = np.ones((3, 3, 1, 1), np.float32)
    if case == "shared_conv":  # the conv output is used twice: its bias cannot change
        nodes = [mk("Conv", ["x", "w"], ["h"], name="conv"),
                 mk("Add", ["h", "c"], ["a"], name="plus"), mk("Add", ["a", "h"], ["y"])]
    elif case == "not_after_param":
        nodes = [mk("Relu", ["x"], ["h"]), mk("Add", ["h", "c"], ["y"], name="plus")]
    else:  # a per-position constant: a BatchNorm shift is per channel only
        nodes = [mk("Conv", ["x", "w"], ["h"], name="conv"),
                 mk("BatchNormalization", ["h", "c3", "c3", "c3", "c3"], ["b"]),
                 mk("Add", ["b", "c"], ["y"], name="plus")]
    c = np.arange(48, dtype=np.float32).reshape(3, 4, 4) if case == "spatial_dense" \
        else np.ones((3, 1, 1), np.float32)
    with pytest.raises(UnsupportedLayerError) as info:
        from_onnx_model(model(nodes, inits={"w": w, "c": c, "c3": np.ones(3, np.float32)}))
    assert [name for name, _ in info.value.layers] == ["plus"]


@pytest.mark.parametrize("content", [
    b"", b"this is not an onnx model\n", bytes(range(256)) * 8, b"\x08\x07",
    b"PK\x03\x04 a zip file", b"\x89HDF\r\n\x1a\n"])
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="model.onnx"):
        load_model(path)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.97])
def test_truncated_file(tmp_path, cut):
    m = model([mk("Conv", ["x", "w"], ["y"], name="conv")],
              inits={"w": np.ones((3, 3, 3, 3), np.float32)})
    data = m.SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ModelFileError):
        load_onnx(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "nope.onnx")


def test_invalid_model_fails_the_checker(tmp_path):
    m = model([mk("Relu", ["x"], ["y"], name="relu"), mk("Relu", ["missing"], ["z"])])
    path = tmp_path / "bad.onnx"
    onnx.save(m, path)
    with pytest.raises(ModelFileError, match="not a valid ONNX model"):
        load_model(path)


def test_missing_external_data(tmp_path):
    m = model([mk("Conv", ["x", "w"], ["y"], name="conv")],
              inits={"w": np.ones((3, 3, 3, 3), np.float32)})
    path = tmp_path / "ext.onnx"
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelFileError):
        load_model(path)


def test_old_opset_is_refused():
    with pytest.raises(ConversionError, match="opset 9"):
        from_onnx_model(model([mk("Relu", ["x"], ["y"])], opset=9))


def test_dynamic_spatial_dims_are_refused():
    with pytest.raises(ConversionError, match="static input shape"):
        from_onnx_model(model([mk("Relu", ["x"], ["y"])], x_dims=("N", 3, "H", "W")))


def test_two_outputs_are_refused():
    m = model([mk("Relu", ["x"], ["y"]), mk("Relu", ["x"], ["z"])], outputs=("y", "z"))
    with pytest.raises(ConversionError, match="2 outputs"):
        from_onnx_model(m)


def test_batch_mixing_reshape_is_unsupported():
    m = model([mk("Reshape", ["x", "s"], ["y"], name="fold_batch")],
              inits={"s": np.array([-1, 16], np.int64)})
    with pytest.raises(UnsupportedLayerError, match="batch axis"):
        from_onnx_model(m)


def test_without_onnx_installed(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    onnx.save(good_model(), path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelFileError, match=r"ann2snn\[onnx\]"):
        load_model(path)


def test_good_file_loads_through_the_registry(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(good_model(), path)
    g = load_model(path)
    assert [x.op for x in g] == ["Input", "ReLU"] and g.input_shape == (3, 4, 4)
