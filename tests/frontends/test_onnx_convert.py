"""End to end: ann2snn.convert("model.onnx", calib), then simulate a few samples."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import ann2snn  # noqa: E402


def tiny_cnn(path) -> None:
    """Conv-BN-ReLU-MaxPool, a residual Conv, GlobalAveragePool, Gemm (random weights)."""
    rng = np.random.default_rng(3)
    w = {
        "w1": rng.normal(0, 0.5, (4, 1, 3, 3)), "b1": rng.normal(0, 0.1, 4),
        "g": rng.uniform(0.5, 1.5, 4), "be": rng.normal(0, 0.1, 4),
        "mu": rng.normal(0, 0.1, 4), "var": rng.uniform(0.5, 1.5, 4),
        "w2": rng.normal(0, 0.3, (4, 4, 3, 3)), "b2": rng.normal(0, 0.1, 4),
        "wf": rng.normal(0, 0.5, (3, 4)), "bf": rng.normal(0, 0.1, 3),
    }
    mk = helper.make_node
    nodes = [
        mk("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        mk("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["n1"], name="bn1"),
        mk("Relu", ["n1"], ["r1"], name="relu1"),
        mk("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        mk("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        mk("Add", ["c2", "p1"], ["a2"], name="residual"),
        mk("Relu", ["a2"], ["r2"], name="relu2"),
        mk("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        mk("Flatten", ["gap"], ["f"], name="flatten"),
        mk("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_convert_and_simulate_onnx_file(tmp_path):
    path = tmp_path / "model.onnx"
    tiny_cnn(path)
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (32, 1, 8, 8)).astype(np.float32)
    x = rng.uniform(0, 1, (6, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 6)

    snn = ann2snn.convert(str(path), calib)
    res = snn.simulate(x, labels, timesteps=16, batch_size=4)

    assert res.snn_predictions.shape == (16, 6) and res.snn_readout.shape == (6, 3)
    ort_pred = ort.InferenceSession(str(path)).run(None, {"x": x})[0].argmax(1)
    assert res.ann_accuracy == pytest.approx(float((ort_pred == labels).mean()))
    np.testing.assert_array_equal(res.ann_predictions, ort_pred)
    # the converted network keeps the ONNX layer names and survives a save/load
    assert {"conv1", "conv2", "fc"} <= set(snn.ann_graph.nodes)
    again = ann2snn.load(snn.save(tmp_path / "snn.npz"))
    np.testing.assert_array_equal(again.simulate(x, labels, timesteps=16).snn_predictions,
                                  res.snn_predictions)
