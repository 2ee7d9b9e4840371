"""`ann2snn run config.ini` end to end: a Keras .h5 model and an SNN Toolbox npz folder."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

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


def write_ini(wd, name="tiny", extra="", label="run1", duration=256, cell=""):
    p = wd / "config"
    p.write_text(f"[paths]\npath_wd = {wd}\ndataset_path = {wd / 'data'}\nfilename_ann = {name}\n"
                 f"runlabel = {label}\n\n[cell]\n{cell}\n\n[simulation]\nsimulator = INI\n"
                 f"duration = {duration}\nbatch_size = 8\nnum_to_test = 30\n{extra}")
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


def test_run_ini_v_thresh_and_dt_reach_the_simulator(workdir):
    """v_thresh = 2, dt = 0.5: INIsim's network is the dt = 1, v_thresh = 1 one with the
    input weights and all biases times dt/v_thresh = 1/4 (tests/test_snntoolbox_inisim_
    scaling.py checks that against INIsim's update), simulated for duration/dt steps."""
    from ann2snn.api import SNN, load

    base_ini = write_ini(workdir, label="base")  # convert only: its net.snn
    base_ini.write_text(base_ini.read_text() + "\n[tools]\nsimulate = False\n")
    assert main(["run", str(base_ini), "-q"]) == 0
    ini = write_ini(workdir, label="scaled", duration=128, cell="v_thresh = 2",
                    extra="dt = 0.5\n")
    assert main(["run", str(ini), "-q"]) == 0
    base, scaled = (workdir / "log" / "gui" / r for r in ("base", "scaled"))
    metrics = json.loads((scaled / "metrics.json").read_text())
    assert metrics["timesteps"] == 256  # int(128 / 0.5)
    b, s = load(base / "net.snn").graph, load(scaled / "net.snn").graph
    conv = next(x.name for x in b if x.op == "Conv")
    dense = next(x.name for x in b if x.op == "Dense")
    assert np.array_equal(s[conv].weight, b[conv].weight / 4)
    assert np.array_equal(s[conv].bias, b[conv].bias / 4)
    assert np.array_equal(s[dense].weight, b[dense].weight)
    assert np.array_equal(s[dense].bias, b[dense].bias / 4)
    assert s.meta["normalization"]["v_thresh"] == 2.0
    # the hand-built expectation: base network, input weights and biases / 4, 256 steps
    import dataclasses

    hand = b.replace([dataclasses.replace(x, weight=x.weight / 4 if x.op == "Conv" else x.weight,
                                          bias=x.bias / 4) if x.op in ("Conv", "Dense") else x
                      for x in b])
    x = np.load(workdir / "data" / "x_test.npz")["arr_0"][:24].transpose(0, 3, 1, 2)
    want = SNN(hand)(torch.from_numpy(np.ascontiguousarray(x)), 256).numpy()
    got = np.load(scaled / "predictions.npz")["snn_readout"]
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, SNN(b)(torch.from_numpy(np.ascontiguousarray(x)), 256).numpy())


def write_pngs(folder, classes, per_class, rng):
    from PIL import Image

    for c in classes:
        (folder / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(
                folder / c / f"{i}.png")


@pytest.mark.parametrize("layout", ["snntoolbox", "train_test"])
def test_run_ini_image_folders(workdir, layout, caplog):
    rng = np.random.default_rng(5)
    img = workdir / "img"
    if layout == "snntoolbox":  # class folders directly under dataset_path
        write_pngs(img, "abc", 4, rng)
    else:
        write_pngs(img / "train", "abc", 3, rng)
        write_pngs(img / "test", "abc", 4, rng)
    ini = workdir / "config.ini"
    ini.write_text(f"[paths]\npath_wd = {workdir}\ndataset_path = img\nfilename_ann = tiny\n"
                   "[input]\ndataset_format = png\ndatagen_kwargs = {'rescale': 1/255}\n"
                   "dataflow_kwargs = {'target_size': (6, 6), 'color_mode': 'grayscale'}\n"
                   "[simulation]\nduration = 32\nbatch_size = 4\nnum_to_test = 12\n")
    with caplog.at_level(logging.WARNING, logger="ann2snn"):
        assert main(["run", str(ini), "-q"]) == 0
    out = workdir / "log" / "gui" / "test"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 12
    pred = np.load(out / "predictions.npz")
    np.testing.assert_array_equal(pred["labels"], np.repeat([0, 1, 2], 4))  # sorted classes
    config = json.loads((out / "config.json").read_text())
    warned = [r.getMessage() for r in caplog.records if "calibrating on the test" in r.getMessage()]
    if layout == "snntoolbox":  # normalized on the 12 test images themselves, as snntoolbox
        assert config["data"]["calibration_split"] == "test"
        assert config["data"]["calibration_samples"] == 12
        assert len(warned) == 1
    else:
        assert config["data"]["calibration_split"] == "train"
        assert config["data"]["calibration_samples"] == 9
        assert not warned
