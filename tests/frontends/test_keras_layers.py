"""Keras frontend: every layer handler against Keras itself on a one-layer model.

Each model is run by Keras (torch backend) on channels-last (or channels-first) data
and by ``ann_forward`` on the converted graph with channels-first data; outputs must
agree to 1e-5 (after moving Keras' channel axis to position 1).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

from ann2snn.errors import ConversionError, UnsupportedLayerError  # noqa: E402
from ann2snn.frontends.keras import from_keras_model  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402
from ann2snn.sim.ops import ann_forward  # noqa: E402

L = keras.layers
CF = "channels_first"


def randomize(model: keras.Model, seed: int = 0) -> None:
    """Random weights everywhere (positive variances), so biases and BN stats matter."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        shape = tuple(var.shape)
        if var.path.endswith("moving_variance"):
            val = rng.uniform(0.5, 2.0, shape)
        else:
            val = rng.normal(0.0, 0.5, shape)
        var.assign(val.astype("float32"))


def keras_out(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def one_layer(layer, shape, seed: int = 0) -> keras.Model:
    inp = keras.Input(shape)
    model = keras.Model(inp, layer(inp))
    randomize(model, seed)
    return model


def compare(model: keras.Model, x: np.ndarray, channels_first: bool = False,
            want: np.ndarray | None = None, atol: float = 1e-5):
    """Keras output vs the IR graph on channels-first input; returns the graph."""
    graph = from_keras_model(model, "test")
    want = keras_out(model, x) if want is None else want
    perm = tuple(graph.meta["keras_input_perm"])
    expected = tuple(range(x.ndim)) if channels_first or x.ndim < 3 else \
        (0, x.ndim - 1, *range(1, x.ndim - 1))
    assert perm == expected
    got = ann_forward(graph, np.transpose(x, perm))
    if not channels_first and want.ndim >= 3:
        want = np.moveaxis(want, -1, 1)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)
    return graph


def data(shape, seed: int = 1, n: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


# (id, layer factory, Keras input shape, channels_first)
CASES = [
    # dense
    ("dense", lambda: L.Dense(5), (7,), False),
    ("dense_relu", lambda: L.Dense(5, activation="relu"), (7,), False),
    ("dense_softmax_nobias", lambda: L.Dense(5, activation="softmax", use_bias=False), (7,),
     False),
    ("dense_relu6", lambda: L.Dense(5, activation="relu6"), (7,), False),
    # conv 2d
    ("conv2d_valid", lambda: L.Conv2D(4, 3), (7, 6, 3), False),
    ("conv2d_same_relu", lambda: L.Conv2D(4, 3, padding="same", activation="relu"), (7, 6, 3),
     False),
    ("conv2d_same_even_kernel", lambda: L.Conv2D(4, (4, 2), padding="same"), (7, 6, 3), False),
    ("conv2d_same_stride2", lambda: L.Conv2D(4, 3, strides=2, padding="same"), (8, 7, 3), False),
    ("conv2d_same_dilated", lambda: L.Conv2D(4, 3, dilation_rate=2, padding="same"), (9, 9, 2),
     False),
    ("conv2d_groups_nobias", lambda: L.Conv2D(4, 3, groups=2, use_bias=False), (6, 6, 4), False),
    ("conv2d_cf_valid", lambda: L.Conv2D(4, 3, data_format=CF), (3, 7, 6), True),
    ("conv2d_cf_same_stride2",
     lambda: L.Conv2D(4, 3, strides=2, padding="same", data_format=CF), (3, 8, 7), True),
    # conv 1d
    ("conv1d_same", lambda: L.Conv1D(4, 4, padding="same"), (9, 3), False),
    ("conv1d_causal_dilated", lambda: L.Conv1D(4, 3, padding="causal", dilation_rate=2), (9, 3),
     False),
    ("conv1d_stride2_relu", lambda: L.Conv1D(4, 3, strides=2, activation="relu"), (9, 3), False),
    ("conv1d_cf_same", lambda: L.Conv1D(4, 3, padding="same", data_format=CF), (3, 9), True),
    # depthwise / separable
    ("depthwise2d_same_s2",
     lambda: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same"), (8, 8, 3),
     False),
    ("depthwise2d_cf", lambda: L.DepthwiseConv2D(3, depth_multiplier=2, data_format=CF),
     (3, 6, 6), True),
    ("depthwise1d", lambda: L.DepthwiseConv1D(3, depth_multiplier=2, padding="same"), (8, 3),
     False),
    ("separable2d_same",
     lambda: L.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="relu"),
     (6, 6, 3), False),
    ("separable2d_s2_cf",
     lambda: L.SeparableConv2D(5, 3, strides=2, padding="same", data_format=CF), (3, 8, 8),
     True),
    ("separable1d", lambda: L.SeparableConv1D(4, 3, padding="same"), (8, 3), False),
    # transposed convolution
    ("convT_k3_s2_same", lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 4, 3),
     False),
    ("convT_k4_s2_same", lambda: L.Conv2DTranspose(4, 4, strides=2, padding="same"), (5, 4, 3),
     False),
    ("convT_k1_s2_same", lambda: L.Conv2DTranspose(4, 1, strides=2, padding="same"), (5, 4, 3),
     False),
    ("convT_k3_s1_valid_relu",
     lambda: L.Conv2DTranspose(4, 3, padding="valid", activation="relu"), (5, 4, 3), False),
    ("convT_k2_s3_valid", lambda: L.Conv2DTranspose(4, 2, strides=3), (5, 4, 3), False),
    ("convT_outpad_same",
     lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=0), (5, 4, 3),
     False),
    ("convT_outpad_valid",
     lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=1), (5, 4, 3), False),
    ("convT_cf", lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same", data_format=CF),
     (3, 5, 4), True),
    ("convT_dilated_same",
     lambda: L.Conv2DTranspose(4, 3, dilation_rate=2, padding="same"), (5, 4, 3), False),
    ("convT1d_same", lambda: L.Conv1DTranspose(4, 4, strides=2, padding="same"), (6, 3), False),
    # pooling
    ("maxpool2d_valid", lambda: L.MaxPooling2D(2), (7, 6, 3), False),
    ("maxpool2d_same_sym", lambda: L.MaxPooling2D(3, strides=2, padding="same"), (7, 7, 3),
     False),
    ("maxpool2d_same_asym_s2", lambda: L.MaxPooling2D(3, strides=2, padding="same"), (8, 8, 3),
     False),
    ("maxpool2d_same_asym_s1", lambda: L.MaxPooling2D(2, strides=1, padding="same"), (5, 6, 3),
     False),
    ("maxpool2d_same_default_stride", lambda: L.MaxPooling2D(2, padding="same"), (5, 5, 3),
     False),
    ("maxpool2d_cf", lambda: L.MaxPooling2D(2, padding="same", data_format=CF), (3, 5, 5), True),
    ("maxpool1d_same", lambda: L.MaxPooling1D(2, padding="same"), (7, 3), False),
    ("avgpool2d_valid", lambda: L.AveragePooling2D((2, 3)), (6, 7, 3), False),
    ("avgpool2d_same_sym", lambda: L.AveragePooling2D(3, strides=2, padding="same"), (7, 7, 3),
     False),
    ("avgpool2d_same_asym_s1", lambda: L.AveragePooling2D(2, strides=1, padding="same"),
     (5, 6, 3), False),
    ("avgpool2d_cf", lambda: L.AveragePooling2D(3, strides=1, padding="same", data_format=CF),
     (3, 5, 5), True),
    ("avgpool1d_valid", lambda: L.AveragePooling1D(3, strides=2), (9, 3), False),
    ("gap2d", lambda: L.GlobalAveragePooling2D(), (4, 5, 3), False),
    ("gap2d_keepdims", lambda: L.GlobalAveragePooling2D(keepdims=True), (4, 5, 3), False),
    ("gap2d_cf", lambda: L.GlobalAveragePooling2D(data_format=CF), (3, 4, 5), True),
    ("gap1d_keepdims", lambda: L.GlobalAveragePooling1D(keepdims=True), (6, 3), False),
    ("gmp2d", lambda: L.GlobalMaxPooling2D(), (4, 5, 3), False),
    ("gmp2d_keepdims", lambda: L.GlobalMaxPooling2D(keepdims=True), (4, 5, 3), False),
    # resampling, padding, cropping
    ("upsample2d", lambda: L.UpSampling2D((2, 3)), (3, 4, 2), False),
    ("upsample2d_cf", lambda: L.UpSampling2D(2, data_format=CF), (2, 3, 4), True),
    ("upsample1d", lambda: L.UpSampling1D(3), (4, 2), False),
    ("zeropad2d", lambda: L.ZeroPadding2D(((1, 2), (3, 0))), (4, 5, 2), False),
    ("zeropad2d_cf", lambda: L.ZeroPadding2D((1, 2), data_format=CF), (2, 4, 5), True),
    ("zeropad1d", lambda: L.ZeroPadding1D((2, 1)), (4, 2), False),
    ("crop2d", lambda: L.Cropping2D(((1, 0), (2, 1))), (5, 6, 2), False),
    ("crop2d_cf", lambda: L.Cropping2D(1, data_format=CF), (2, 5, 6), True),
    ("crop1d", lambda: L.Cropping1D((1, 2)), (6, 2), False),
    # reshaping
    ("flatten", lambda: L.Flatten(), (4, 5, 3), False),
    ("flatten_cf", lambda: L.Flatten(data_format=CF), (3, 4, 5), True),
    ("reshape_to_seq", lambda: L.Reshape((20, 3)), (4, 5, 3), False),
    ("reshape_to_flat", lambda: L.Reshape((-1,)), (4, 5, 3), False),
    # normalization and activations
    ("batchnorm", lambda: L.BatchNormalization(), (4, 5, 3), False),
    ("batchnorm_cf", lambda: L.BatchNormalization(axis=1), (3, 4, 5), True),
    ("batchnorm_no_center", lambda: L.BatchNormalization(center=False, epsilon=0.01),
     (4, 5, 3), False),
    ("batchnorm_no_scale", lambda: L.BatchNormalization(scale=False), (4, 5, 3), False),
    ("batchnorm_dense", lambda: L.BatchNormalization(), (6,), False),
    ("relu", lambda: L.ReLU(), (4, 5, 3), False),
    ("relu_max", lambda: L.ReLU(max_value=0.5), (4, 5, 3), False),
    ("activation_relu", lambda: L.Activation("relu"), (6,), False),
    ("activation_relu6", lambda: L.Activation("relu6"), (6,), False),
    ("activation_softmax", lambda: L.Activation("softmax"), (6,), False),
    ("softmax", lambda: L.Softmax(), (6,), False),
]


@pytest.mark.parametrize("make, shape, cf", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_matches_keras(make, shape, cf):
    model = one_layer(make(), shape)
    compare(model, data(shape), channels_first=cf)


def tf_avg_pool_same(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """TensorFlow's AveragePooling2D(padding='same') on (N, H, W, C): valid elements only."""
    n_, h, w, c = x.shape
    oh, ow = -(-h // s), -(-w // s)
    ph = max((oh - 1) * s + k - h, 0) // 2
    pw = max((ow - 1) * s + k - w, 0) // 2
    out = np.zeros((n_, oh, ow, c), np.float32)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = max(i * s - ph, 0), max(j * s - pw, 0)
            r1, c1 = min(i * s - ph + k, h), min(j * s - pw + k, w)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("size", [7, 8])
def test_avgpool_same_asymmetric_follows_tensorflow(size):
    """k=3, s=2 on an even size pads (0, 1): TF averages the valid elements only (Keras'
    torch backend replicates the edge instead, so compare with TF's definition)."""
    x = data((size, size, 3))
    model = one_layer(L.AveragePooling2D(3, strides=2, padding="same"), x.shape[1:])
    compare(model, x, want=tf_avg_pool_same(x, 3, 2))


def test_same_padding_asymmetric_uses_pad_node():
    model = one_layer(L.Conv2D(2, 4, padding="same", name="c"), (6, 6, 1))
    graph = compare(model, data((6, 6, 1)))
    assert isinstance(graph["c.pad"], n.Pad) and graph["c.pad"].pads == ((1, 2), (1, 2))
    assert graph["c"].padding == (0, 0)


def test_flatten_channels_last_inserts_transpose_before_dense():
    inp = keras.Input((3, 4, 2))
    x = L.Conv2D(3, 2, activation="relu", name="conv")(inp)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(4, name="fc")(x)
    model = keras.Model(inp, out)
    randomize(model)
    graph = compare(model, data((3, 4, 2)))
    assert graph["flat.transpose"].perm == (0, 2, 3, 1)
    assert graph.input_shape == (2, 3, 4)
    assert graph.meta["keras_input_perm"] == [0, 3, 1, 2]
    # Keras numbers its auto-named input layers per session: check the input by type
    first, *rest = list(graph)
    assert isinstance(first, n.Input)
    assert [x.name for x in rest] == ["conv", "conv.relu", "flat.transpose", "flat", "fc"]
    assert graph["flat.transpose"].inputs == ("conv.relu",)
    assert graph["flat"].inputs == ("flat.transpose",)
    assert graph["fc"].inputs == ("flat",)


def test_reshape_flat_to_image_then_conv():
    model = keras.Sequential([keras.Input((60,)), L.Reshape((4, 5, 3), name="r"),
                              L.Conv2D(2, 1)])
    randomize(model)
    graph = compare(model, data((60,)))
    assert graph["r"].op == "Transpose" and graph.shapes["r"] == (3, 4, 5)


def test_reshape_channels_first():
    model = keras.Sequential([keras.Input((3, 4, 5)), L.Conv2D(3, 1, data_format=CF),
                              L.Reshape((3, 20), name="r"), L.Conv1D(2, 1, data_format=CF)])
    randomize(model)
    graph = compare(model, data((3, 4, 5)), channels_first=True)
    assert graph["r"].op == "Reshape"


def test_concatenate_and_add():
    inp = keras.Input((5, 5, 2))
    a = L.Conv2D(3, 3, padding="same", name="a")(inp)
    b = L.Conv2D(3, 1, name="b")(inp)
    s = L.Add(name="sum")([a, b])
    c = L.Concatenate(name="cat")([s, a])  # channels: axis -1 -> IR axis 1
    h = L.Concatenate(axis=1, name="cat_h")([c, c])  # rows: Keras axis 1 -> IR axis 2
    model = keras.Model(inp, h)
    randomize(model)
    graph = compare(model, data((5, 5, 2)))
    assert graph["cat"].axis == 1 and graph["cat_h"].axis == 2


def test_concatenate_channels_first():
    inp = keras.Input((2, 5, 5))
    a = L.Conv2D(3, 3, padding="same", data_format=CF)(inp)
    c = L.Concatenate(axis=1, name="cat")([a, inp])
    model = keras.Model(inp, c)
    randomize(model)
    graph = compare(model, data((2, 5, 5)), channels_first=True)
    assert graph["cat"].axis == 1


def test_dropout_is_removed_and_names_are_keras_names():
    model = keras.Sequential([keras.Input((6,), name="x"), L.Dense(4, activation="relu", name="h"),
                              L.Dropout(0.5, name="drop"), L.Dense(3, name="out"),
                              L.Softmax(name="prob")])
    randomize(model)
    graph = compare(model, data((6,)))
    assert [x.name for x in graph] == ["x", "h", "h.relu", "out", "prob"]
    assert graph["out"].inputs == ("h.relu",)


def test_nested_sequential_is_flattened():
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(3, 3, activation="relu", name="conv")(inp)
    head = keras.Sequential([keras.Input((4, 4, 3)), L.Flatten(name="flat"),
                             L.Dense(5, name="fc")], name="head")
    model = keras.Model(inp, head(x))
    randomize(model)
    graph = compare(model, data((6, 6, 2)))
    assert "head.fc" in graph.nodes and graph["head.flat.transpose"].perm == (0, 2, 3, 1)


def test_cnn_stack_channels_first():
    model = keras.Sequential([
        keras.Input((2, 9, 9)),
        L.Conv2D(4, 3, padding="same", activation="relu", data_format=CF),
        L.BatchNormalization(axis=1),
        L.MaxPooling2D(2, padding="same", data_format=CF),
        L.DepthwiseConv2D(3, data_format=CF),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])
    randomize(model)
    compare(model, data((2, 9, 9)), channels_first=True)


def test_dense_only_model_on_matrix_input_is_not_transposed():
    model = keras.Sequential([keras.Input((4, 5)), L.Flatten(), L.Dense(3)])
    randomize(model)
    graph = compare(model, data((4, 5)), channels_first=True)
    assert graph.input_shape == (4, 5) and graph.meta["keras_data_format"] is None


def test_layer_level_unsupported_configs_listed_together():
    inp = keras.Input((6, 6, 2))
    a = L.ReLU(negative_slope=0.1, name="leaky")(inp)
    b = L.ReLU(threshold=0.5, name="thresh")(inp)
    c = L.UpSampling2D(2, interpolation="bilinear", name="bilinear")(inp)
    d = L.Conv2D(2, 1, activation="tanh", name="tanh_conv")(inp)
    e = L.Conv2D(2, 1, activation="softmax", name="softmax_conv")(inp)
    out = L.Concatenate()([a, b, d, e])
    model = keras.Model(inp, [out, c][0])
    with pytest.raises(UnsupportedLayerError) as err:
        from_keras_model(model, "m")
    names = {name for name, _ in err.value.layers}
    assert names == {"leaky", "thresh", "tanh_conv", "softmax_conv"}
    text = str(err.value)
    assert "negative_slope=0.1" in text and "threshold=0.5" in text and "tanh" in text
    model2 = keras.Model(inp, c)
    with pytest.raises(UnsupportedLayerError, match="bilinear"):
        from_keras_model(model2, "m")


def test_shared_layer_is_reported():
    inp = keras.Input((4,))
    dense = L.Dense(4, name="shared")
    model = keras.Model(inp, dense(dense(inp)))
    with pytest.raises(UnsupportedLayerError, match="shared layer, called 2 times"):
        from_keras_model(model, "m")


def test_subclassed_model_and_multi_output_rejected():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = L.Dense(2)

        def call(self, x):
            return self.fc(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(ConversionError, match="subclassed"):
        from_keras_model(net, "net")
    inp = keras.Input((3,))
    two = keras.Model(inp, [L.Dense(2)(inp), L.Dense(2)(inp)])
    with pytest.raises(ConversionError, match="2 outputs"):
        from_keras_model(two, "two")
    with pytest.raises(ConversionError, match="expected a keras.Model"):
        from_keras_model(object(), "x")


def test_mixed_data_formats_rejected():
    model = keras.Sequential([keras.Input((4, 6, 6)), L.Conv2D(2, 3, data_format=CF),
                              L.MaxPooling2D(2, data_format="channels_last")])
    with pytest.raises(ConversionError, match="mixes data formats"):
        from_keras_model(model, "m")
