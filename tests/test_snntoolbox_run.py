"""`ann2snn run config.ini` end to end: a Keras .h5 model and an SNN Toolbox npz folder."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
pytest.importorskip("ann2snn.frontends.keras")

from ann2snn.cli import main  # noqa: E402


def make_model(softmax: bool):
    rng = np.random.default_rng(0)
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax" if softmax else "relu"),
    ])
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    return model


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.delenv("ANN2SNN_DATA", raising=False)
    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    data.mkdir()
    x = rng.random((40, 6, 6, 1), dtype=np.float32)  # channels-last, as Keras writes it
    model = make_model(softmax=False)
    y = model.predict(x, verbose=0).argmax(1)  # labels = the ANN's own predictions
    np.savez_compressed(data / "x_test.npz", x)  # positional: stored as arr_0
    np.savez_compressed(data / "y_test.npz", np.eye(3, dtype=np.float32)[y])  # one-hot
    np.savez_compressed(data / "x_norm.npz", rng.random((40, 6, 6, 1), dtype=np.float32))
    model.save(tmp_path / "tiny.h5")
    make_model(softmax=True).save(tmp_path / "tiny_softmax.h5")
    return tmp_path


def write_ini(wd, name="tiny", extra=""):
    p = wd / "config"
    p.write_text(f"[paths]\npath_wd = {wd}\ndataset_path = {wd / 'data'}\nfilename_ann = {name}\n"
                 f"runlabel = run1\n\n[simulation]\nsimulator = INI\nduration = 256\n"
                 f"batch_size = 8\nnum_to_test = 30\n{extra}")
    return p


def test_run_ini_end_to_end(workdir, capsys):
    assert main(["run", str(write_ini(workdir)), "-q"]) == 0
    out = workdir / "log" / "gui" / "run1"  # where snntoolbox puts its logs
    assert "run folder" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    pred = np.load(out / "predictions.npz")
    assert metrics["num_samples"] == 24  # num_to_test 30 -> whole batches of 8
    assert metrics["timesteps"] == 256
    assert metrics["ann_accuracy"] == 1.0  # the labels are the ANN's predictions
    assert len(pred["snn_prediction"]) == 24
    assert metrics["snn_accuracy"] >= 0.9  # 256 steps: the rate code follows the ANN
    assert (out / "net.snn").is_file()


def test_run_ini_sample_indices_and_softmax(workdir):
    ini = write_ini(workdir, "tiny_softmax", "sample_idxs_to_test = [5, 3, 17, 2, 9, 11, 0, 1]\n")
    assert main(["run", str(ini), "-q"]) == 0
    out = workdir / "log" / "gui" / "run1"
    pred = np.load(out / "predictions.npz")
    y = np.load(workdir / "data" / "y_test.npz")["arr_0"].argmax(1)
    np.testing.assert_array_equal(pred["labels"], y[[5, 3, 17, 2, 9, 11, 0, 1]])
    assert json.loads((out / "metrics.json").read_text())["readout"] == "membrane"


def test_run_ini_error_exit_code(workdir, capsys):
    ini = write_ini(workdir, extra="top_k = 5\n")
    assert main(["run", str(ini)]) == 2
    err = capsys.readouterr().err
    assert "top_k" in err and "Traceback" not in err
