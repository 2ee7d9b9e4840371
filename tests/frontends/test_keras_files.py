"""Keras frontend: .keras / .h5 files (Keras 3 and tf.keras-2-style), unsupported
layers, broken files, and the end-to-end convert -> simulate path."""

from __future__ import annotations

import json
import os
import sys
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

import ann2snn  # noqa: E402
from ann2snn.errors import ModelFileError, UnsupportedLayerError  # noqa: E402
from ann2snn.frontends import load_model  # noqa: E402
from ann2snn.frontends.keras import from_keras_model, load_keras  # noqa: E402
from ann2snn.sim.ops import ann_forward  # noqa: E402

L = keras.layers


def randomize(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for var in model.weights:
        shape = tuple(var.shape)
        val = rng.uniform(0.5, 2.0, shape) if var.path.endswith("moving_variance") \
            else rng.normal(0.0, 0.5, shape)
        var.assign(val.astype("float32"))


def keras_out(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def cnn() -> keras.Model:
    model = keras.Sequential([
        keras.Input((8, 8, 3), name="image"),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
        L.BatchNormalization(name="bn"),
        L.MaxPooling2D(2, name="pool"),
        L.Conv2D(6, 3, name="conv2"),
        L.ReLU(name="relu2"),
        L.Flatten(name="flat"),
        L.Dropout(0.3, name="drop"),
        L.Dense(5, activation="softmax", name="fc"),
    ], name="cnn")
    randomize(model)
    return model


@pytest.fixture(scope="module")
def x_cl() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 1, (6, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saved_model_loads_and_matches_keras(tmp_path, x_cl, suffix):
    model = cnn()
    path = tmp_path / f"model{suffix}"
    model.save(path)
    graph = load_model(path)  # dispatch by suffix
    assert graph.input_shape == (3, 8, 8)
    assert graph.meta["source"] == str(path) and graph.meta["keras_data_format"] == \
        "channels_last"
    assert {"conv1", "conv1.relu", "bn", "pool", "conv2", "relu2", "flat.transpose", "flat",
            "fc", "fc.softmax"} <= set(graph.nodes)
    got = ann_forward(graph, np.moveaxis(x_cl, -1, 1))
    np.testing.assert_allclose(got, keras_out(model, x_cl), atol=1e-5)


def test_misnamed_files_are_sniffed(tmp_path, x_cl):
    model = cnn()
    model.save(tmp_path / "a.keras")
    model.save(tmp_path / "b.h5")
    (tmp_path / "a.keras").rename(tmp_path / "a_really_zip.h5")
    (tmp_path / "b.h5").rename(tmp_path / "b_really_h5.keras")
    want = keras_out(model, x_cl)
    for name in ("a_really_zip.h5", "b_really_h5.keras"):
        got = ann_forward(load_model(tmp_path / name), np.moveaxis(x_cl, -1, 1))
        np.testing.assert_allclose(got, want, atol=1e-5)


# --- tf.keras 2.x legacy HDF5 ------------------------------------------------------------

INIT = {"module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": None}, "registered_name": None}
ZEROS = {"class_name": "Zeros", "config": {}}  # pre-2.13 style, no module key


def _base(name, **kw):
    return {"name": name, "trainable": True, "dtype": "float32", **kw}


def _conv(name, **kw):
    cfg = _base(name, filters=4, kernel_size=[3, 3], strides=[1, 1], padding="valid",
                data_format="channels_last", dilation_rate=[1, 1], groups=1,
                activation="linear", use_bias=True, kernel_initializer=INIT,
                bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None,
                activity_regularizer=None, kernel_constraint=None, bias_constraint=None)
    cfg.update(kw)
    return cfg


def tf2_sequential_config() -> dict:
    """A model_config as tf.keras 2.x writes it (batch_input_shape, axis lists, and the
    keys Keras 3 rejects: groups in DepthwiseConv2D / Conv2DTranspose, kernel_* in
    SeparableConv2D)."""
    depthwise = _conv("depthwise_conv2d", padding="same", depth_multiplier=2,
                      depthwise_initializer=INIT, depthwise_regularizer=None,
                      depthwise_constraint=None)
    for k in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
        depthwise.pop(k)
    layers = [
        ("InputLayer", {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32",
                        "sparse": False, "ragged": False, "name": "conv2d_input"}),
        ("Conv2D", _conv("conv2d", padding="same", activation="relu",
                         batch_input_shape=[None, 8, 8, 3])),
        ("BatchNormalization", _base("batch_normalization", axis=[3], momentum=0.99,
                                     epsilon=0.001, center=True, scale=True,
                                     beta_initializer=ZEROS, gamma_initializer=ZEROS,
                                     moving_mean_initializer=ZEROS,
                                     moving_variance_initializer=ZEROS,
                                     beta_regularizer=None, gamma_regularizer=None,
                                     beta_constraint=None, gamma_constraint=None)),
        ("DepthwiseConv2D", depthwise),
        ("SeparableConv2D", _conv("separable_conv2d", filters=5, padding="same",
                                  depth_multiplier=1, depthwise_initializer=INIT,
                                  pointwise_initializer=INIT, depthwise_regularizer=None,
                                  pointwise_regularizer=None, depthwise_constraint=None,
                                  pointwise_constraint=None)),
        ("Conv2DTranspose", _conv("conv2d_transpose", filters=3, strides=[2, 2],
                                  padding="same", output_padding=None)),
        ("MaxPooling2D", _base("max_pooling2d", pool_size=[2, 2], padding="valid",
                               strides=[2, 2], data_format="channels_last")),
        ("Flatten", _base("flatten", data_format="channels_last")),
        ("Dropout", _base("dropout", rate=0.5, noise_shape=None, seed=None)),
        ("Dense", _base("dense", units=10, activation="softmax", use_bias=True,
                        kernel_initializer=INIT, bias_initializer=ZEROS,
                        kernel_regularizer=None, bias_regularizer=None,
                        activity_regularizer=None, kernel_constraint=None,
                        bias_constraint=None)),
    ]
    return {"class_name": "Sequential", "config": {
        "name": "sequential", "layers": [{"class_name": c, "config": cfg} for c, cfg in layers]}}


def tf2_reference() -> keras.Model:
    """The same network built with Keras 3 (the reference output)."""
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv2d"),
        L.BatchNormalization(name="batch_normalization"),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise_conv2d"),
        L.SeparableConv2D(5, 3, padding="same", name="separable_conv2d"),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", name="conv2d_transpose"),
        L.MaxPooling2D(2, name="max_pooling2d"),
        L.Flatten(name="flatten"),
        L.Dropout(0.5, name="dropout"),
        L.Dense(10, activation="softmax", name="dense"),
    ])
    randomize(model, seed=7)
    return model


def tf2_functional_config() -> dict:
    """tf.keras 2.13+-style Functional config: list-form inbound_nodes, module keys."""
    def entry(cls, cfg, inbound):
        return {"module": "keras.layers", "class_name": cls, "config": cfg,
                "registered_name": None, "name": cfg["name"],
                "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else []}

    layers = [
        entry("InputLayer", {"batch_input_shape": [None, 6, 6, 2], "dtype": "float32",
                             "sparse": False, "ragged": False, "name": "input_1"}, []),
        entry("Conv2D", _conv("conv_a", padding="same", activation="relu"), ["input_1"]),
        entry("Conv2D", _conv("conv_b", kernel_size=[1, 1]), ["input_1"]),
        entry("Add", _base("add"), ["conv_a", "conv_b"]),
        entry("Concatenate", _base("concatenate", axis=-1), ["add", "conv_a"]),
        entry("GlobalAveragePooling2D", _base("gap", data_format="channels_last",
                                              keepdims=False), ["concatenate"]),
        entry("Dense", _base("dense", units=3, activation="linear", use_bias=True,
                             kernel_initializer=INIT, bias_initializer=ZEROS), ["gap"]),
    ]
    return {"class_name": "Functional", "config": {
        "name": "model", "trainable": True, "layers": layers,
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}}


def tf2_functional_reference() -> keras.Model:
    inp = keras.Input((6, 6, 2), name="input_1")
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    b = L.Conv2D(4, 1, name="conv_b")(inp)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="concatenate")([s, a])
    g = L.GlobalAveragePooling2D(name="gap")(c)
    model = keras.Model(inp, L.Dense(3, name="dense")(g))
    randomize(model, seed=8)
    return model


def write_tf2_h5(path, config: dict, ref: keras.Model) -> None:
    """Write an HDF5 file laid out as tf.keras 2.15 does (weight names 'layer/kernel:0')."""
    layers = [x for x in ref.layers if not isinstance(x, L.InputLayer)]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([x.name.encode() for x in layers])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.15.0"
        for layer in layers:
            lg = g.create_group(layer.name)
            names = [f"{layer.name}/{v.name}:0" for v in layer.weights]
            lg.attrs["weight_names"] = np.array([s.encode() for s in names])
            for name, v in zip(names, layer.weights):
                lg.create_dataset(name, data=keras.ops.convert_to_numpy(v))


@pytest.mark.parametrize("which", ["sequential", "functional"])
def test_tf_keras2_h5_loads(tmp_path, which):
    if which == "sequential":
        config, ref, shape = tf2_sequential_config(), tf2_reference(), (8, 8, 3)
    else:
        config, ref, shape = tf2_functional_config(), tf2_functional_reference(), (6, 6, 2)
    path = tmp_path / "tf2.h5"
    write_tf2_h5(path, config, ref)
    graph = load_keras(path)
    x = np.random.default_rng(5).normal(size=(4, *shape)).astype("float32")
    got = ann_forward(graph, np.moveaxis(x, -1, 1))
    np.testing.assert_allclose(got, keras_out(ref, x), atol=1e-5)


def rewrite_zip(path, edit) -> None:
    """Rewrite the config.json (and metadata.json) of a .keras archive with ``edit``."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    cfg = json.loads(members["config.json"])
    meta = json.loads(members["metadata.json"])
    edit(cfg, meta)
    members["config.json"] = json.dumps(cfg).encode()
    members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def test_tf_keras2_dot_keras_with_legacy_keys_loads(tmp_path):
    """tf.keras 2.13-2.15 also wrote .keras archives, with the keys Keras 3 rejects."""
    ref = tf2_reference()
    path = tmp_path / "tf2.keras"
    ref.save(path)

    def edit(cfg, meta):
        meta["keras_version"] = "2.15.0"
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] in ("DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"):
                layer["config"]["groups"] = 1
            if layer["class_name"] == "SeparableConv2D":
                layer["config"].update(kernel_initializer=INIT, kernel_regularizer=None,
                                       kernel_constraint=None)

    rewrite_zip(path, edit)
    graph = load_model(path)
    x = np.random.default_rng(5).normal(size=(4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(ann_forward(graph, np.moveaxis(x, -1, 1)), keras_out(ref, x),
                               atol=1e-5)


def test_tf_keras2_lambda_is_reported_without_running_it(tmp_path):
    config = tf2_sequential_config()
    config["config"]["layers"].insert(2, {"class_name": "Lambda", "config": {
        "name": "lambda", "trainable": True, "dtype": "float32",
        "function": ["not marshal data", None, None], "function_type": "lambda",
        "module": "__main__", "output_shape": None, "arguments": {}}})
    path = tmp_path / "lambda.h5"
    write_tf2_h5(path, config, tf2_reference())
    with pytest.raises(UnsupportedLayerError) as err:
        load_keras(path)
    assert err.value.layers == [("lambda", "Lambda")]


# --- unsupported layers --------------------------------------------------------------------


def unsupported_model() -> keras.Model:
    inp = keras.Input((6, 4), name="seq")
    a = L.LSTM(3, name="lstm")(inp)
    b = L.Flatten(name="flat")(inp)
    b = L.LeakyReLU(name="leaky")(b)
    b = L.Lambda(lambda t: t * 2.0, name="double")(b)
    out = L.Dense(2, name="fc")(L.Concatenate(name="cat")([a, b]))
    return keras.Model(inp, out)


EXPECTED_BAD = {("lstm", "LSTM"), ("leaky", "LeakyReLU"), ("double", "Lambda")}


def test_unsupported_layers_listed_at_once_live():
    with pytest.raises(UnsupportedLayerError) as err:
        from_keras_model(unsupported_model(), "m")
    assert set(err.value.layers) == EXPECTED_BAD
    assert "LSTM" in str(err.value) and "Conv2D" in str(err.value)  # lists what is supported


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_unsupported_layers_listed_at_once_from_file(tmp_path, suffix):
    path = tmp_path / f"bad{suffix}"
    unsupported_model().save(path)
    with pytest.raises(UnsupportedLayerError) as err:
        load_model(path)
    assert set(err.value.layers) == EXPECTED_BAD


def test_custom_layer_in_file_is_reported(tmp_path):
    path = tmp_path / "custom.keras"
    cnn().save(path)

    def edit(cfg, meta):
        cfg["config"]["layers"][2].update(class_name="Scaler", registered_name="mypkg>Scaler")

    rewrite_zip(path, edit)
    with pytest.raises(UnsupportedLayerError, match="custom layer"):
        load_model(path)


# --- broken files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    model = cnn()
    model.save(d / "ok.keras")
    model.save(d / "ok.h5")
    model.save_weights(d / "only.weights.h5")
    return d


@pytest.mark.parametrize("case", ["empty.keras", "empty.h5", "trunc.keras", "trunc.h5",
                                  "flip.keras", "text.keras", "text.h5", "noconfig.keras",
                                  "badjson.keras", "weights.h5", "missing.keras"])
def test_broken_files_raise_model_file_error(tmp_path, saved, case):
    path = tmp_path / case
    keras_bytes = (saved / "ok.keras").read_bytes()
    h5_bytes = (saved / "ok.h5").read_bytes()
    if case.startswith("empty"):
        path.write_bytes(b"")
    elif case == "trunc.keras":
        path.write_bytes(keras_bytes[: len(keras_bytes) // 2])
    elif case == "trunc.h5":
        path.write_bytes(h5_bytes[: len(h5_bytes) // 2])
    elif case == "flip.keras":  # corrupt a byte inside the compressed members
        blob = bytearray(keras_bytes)
        blob[len(blob) // 3] ^= 0xFF
        path.write_bytes(bytes(blob))
    elif case.startswith("text"):
        path.write_text("this is not a model\n")
    elif case == "noconfig.keras":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif case == "badjson.keras":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", "{not json")
    elif case == "weights.h5":
        path.write_bytes((saved / "only.weights.h5").read_bytes())
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_missing_keras_is_a_clear_error(monkeypatch, saved):
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras -> ImportError
    with pytest.raises(ModelFileError, match=r"ann2snn\[keras\]"):
        load_model(saved / "ok.keras")


# --- end to end ----------------------------------------------------------------------------


def train_torch_cnn(x: np.ndarray, y: np.ndarray):
    """A small torch CNN on the digits, trained in a couple of seconds."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(4):
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


def keras_digits_cnn(torch_net) -> keras.Model:
    """The torch CNN rebuilt in Keras (channels_last), weights copied: Keras kernels
    are (kh, kw, in, out), and its Flatten runs over (H, W, C)."""
    t = [v.detach().numpy() for v in torch_net.state_dict().values()]
    (w1, b1, gamma, beta, mean, var, _, w2, b2, wf, bf) = t
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(8, 3, padding="same", name="conv1"),
        L.BatchNormalization(epsilon=1e-5, name="bn1"),
        L.ReLU(name="relu1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        L.AveragePooling2D(2, name="pool2"),
        L.Flatten(name="flat"),
        L.Dropout(0.1, name="drop"),
        L.Dense(10, name="fc"),
    ])
    conv = lambda w: np.transpose(w, (2, 3, 1, 0))  # noqa: E731
    model.get_layer("conv1").set_weights([conv(w1), b1])
    model.get_layer("bn1").set_weights([gamma, beta, mean, var])
    model.get_layer("conv2").set_weights([conv(w2), b2])
    fc = wf.reshape(10, 16, 2, 2).transpose(0, 2, 3, 1).reshape(10, -1)
    model.get_layer("fc").set_weights([fc.T, bf])
    return model


def test_convert_and_simulate_keras_file(tmp_path):
    """A trained CNN saved as .keras: convert the file (channels-first calibration data),
    simulate, and agree with Keras and with the torch original."""
    import torch

    from ann2snn.data import load_dataset

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.x.shape[1:] == (1, 8, 8)  # the loaders are channels-first
    net = train_torch_cnn(train.x, train.y)
    model = keras_digits_cnn(net)
    path = tmp_path / "digits.keras"
    model.save(path)
    n_test = 32
    x = test.x[:n_test]
    keras_logits = keras_out(model, np.moveaxis(x, 1, -1))
    with torch.no_grad():
        torch_logits = net(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(keras_logits, torch_logits, atol=1e-4)

    graph = load_model(path)
    np.testing.assert_allclose(ann_forward(graph, x), keras_logits, atol=1e-4)
    snn = ann2snn.convert(str(path), train.x[:300])
    res = snn.simulate(x, test.y[:n_test], timesteps=48)
    keras_pred = keras_logits.argmax(1)
    np.testing.assert_array_equal(res.ann_predictions, keras_pred)
    assert res.snn_predictions.shape[1] == n_test
    assert (keras_pred == test.y[:n_test]).mean() >= 0.7  # it learned something
    assert (res.snn_predictions[-1] == keras_pred).mean() >= 0.85
