"""Training-free calibration (lowlatency/calibrate.py): what it reads, what it gains."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import ann2snn
from ann2snn.errors import ConversionError

T = 4
cal = importlib.import_module("ann2snn.lowlatency.calibrate")


@pytest.fixture(scope="module")
def calibrated(digits, digits_model):
    train, _ = digits
    return ann2snn.convert(digits_model, train.x[:500], calibrate_timesteps=T, per_channel=False)


def _acc(snn, data, t=T):
    res = snn.simulate(data, timesteps=t, diagnostics=False, example_sample=None,
                       evaluate_ann=False)
    return float(res.snn_accuracy_per_step[t - 1])


def test_calibration_does_not_lose_accuracy_at_T(digits, digits_model, calibrated):
    """On the digits CNN's 359 test images at T = 4: plain conversion 83.0 %, the shift
    alone 91.4 %; calibration must be no worse than either (measured 91.4 %)."""
    train, test = digits
    # one scale per layer (with per-channel scales, the default, the shift alone already
    # reaches 91.9 % here and calibration 91.4 %: docs/low-latency.md)
    plain = _acc(ann2snn.convert(digits_model, train.x[:500], v0=0.0, per_channel=False), test)
    shift = _acc(ann2snn.convert(digits_model, train.x[:500], v0=0.5, per_channel=False), test)
    got = _acc(calibrated, test)
    assert got >= shift >= plain
    assert got - plain > 0.05  # the gain is real: 83.0 % -> 91.4 %


def test_calibration_gains_on_its_own_data_at_T2(digits, digits_model):
    """Calibrated for T = 2, on the 500 calibration images: above the shift alone."""
    train, _ = digits
    x = train.x[:500]
    shift = ann2snn.convert(digits_model, x, v0=0.5)
    calib2 = ann2snn.convert(digits_model, x, calibrate_timesteps=2)
    a_shift = _acc(shift, train.subset(500), 2)
    a_cal = _acc(calib2, train.subset(500), 2)
    assert a_cal > a_shift, (a_cal, a_shift)


def test_meta_records_the_calibration(calibrated):
    meta = calibrated.graph.meta["calibration"]
    assert meta["timesteps"] == T and meta["num_samples"] == 500
    layers = meta["layers"]
    pops = [x.name for x in calibrated.graph if x.population]
    assert list(layers) == pops
    for name in pops:
        assert layers[name]["v0"] == calibrated.graph[name].v0
        assert 0.0 <= layers[name]["v0"] <= 1.0
        assert layers[name]["bias_change_max_abs"] > 0  # every layer was corrected


def test_biases_change_and_the_ann_does_not(digits, digits_model, calibrated):
    train, _ = digits
    plain = ann2snn.convert(digits_model, train.x[:500], per_channel=False)
    for x in plain.graph:
        if x.weighted:
            assert not np.array_equal(x.bias, calibrated.graph[x.name].bias), x.name
    for a, b in zip(plain.ann_graph, calibrated.ann_graph):
        if a.weighted:
            assert np.array_equal(a.bias, b.bias) and np.array_equal(a.weight, b.weight)


def test_calibration_reads_only_the_calibration_data(digits, digits_model, monkeypatch):
    """Every batch the calibration simulates or runs through the ANN is rows of the
    calibration array it was given; nothing else (no test image) is read."""
    train, test = digits
    calib = train.x[100:400]
    seen = []
    run_batch, ann_fwd = cal.SpikingNetwork.run_batch, cal.AnnModel.forward

    def spy_run(self, x, *a, **k):
        seen.append(np.asarray(x))
        return run_batch(self, x, *a, **k)

    def spy_ann(self, x, *a, **k):
        seen.append(np.asarray(x))
        return ann_fwd(self, x, *a, **k)

    monkeypatch.setattr(cal.SpikingNetwork, "run_batch", spy_run)
    monkeypatch.setattr(cal.AnnModel, "forward", spy_ann)
    ann2snn.convert(digits_model, calib, calibrate_timesteps=3)
    assert seen
    rows = {r.tobytes() for r in calib}
    assert not rows & {r.tobytes() for r in test.x}
    for batch in seen:
        for r in batch:
            assert r.tobytes() in rows
    assert sum(len(b) for b in seen) >= 3 * len(calib)  # every layer saw all of it


def test_cli_calibration_loads_the_training_split_only(tmp_path, cli, digits_model,
                                                       monkeypatch):
    from ann2snn.data import registry

    path = tmp_path / "digits.pt2"
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)), str(path))
    splits = []
    load = registry.load_dataset

    def spy(spec, split="train", *a, **k):
        splits.append(split)
        return load(spec, split, *a, **k)

    monkeypatch.setattr(registry, "load_dataset", spy)
    code, out, err = cli("convert", path, "-d", "digits", "--calibrate", "4",
                         "--calibration-samples", "200", "-o", tmp_path / "n.snn")
    assert code == 0, err
    assert splits == ["train"]
    code, out, _ = cli("info", tmp_path / "n.snn")
    assert code == 0
    assert "calibration: for T = 4 on 200 training images" in out
    assert "burst: off" in out


@pytest.mark.parametrize("flag", ["--calibrate", "--burst"])
@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_cli_refuses_a_non_positive_value(tmp_path, cli, flag, value):
    code, out, err = cli("convert", "m.pt2", "-d", "digits", flag, value, "-o",
                         tmp_path / "n.snn")
    assert code == 2
    assert flag in err and "must be a whole number >= 1" in err
    assert not (tmp_path / "n.snn").exists()


@pytest.mark.parametrize("kw", [dict(calibrate_timesteps=0), dict(calibrate_timesteps=2.5),
                                dict(burst=0), dict(burst=True)])
def test_api_refuses_bad_values_before_any_work(kw):
    with pytest.raises(ConversionError, match="whole number"):
        ann2snn.convert("never-read.pt2", np.zeros((1, 1, 8, 8), np.float32), **kw)


def test_config_refuses_test_split_calibration(tmp_path):
    from ann2snn.config import validate
    from ann2snn.errors import ConfigError
    from ann2snn.pipeline import run_pipeline

    cfg = validate({"model": {"path": str(tmp_path / "m.pt2")},
                    "data": {"calibration_split": "test"},
                    "conversion": {"calibrate_timesteps": 4},
                    "output": {"dir": str(tmp_path / "run")}})
    (tmp_path / "m.pt2").write_bytes(b"")
    with pytest.raises(ConfigError, match="training images only"):
        run_pipeline(cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_config_keys_reach_the_conversion(tmp_path, digits_model):
    from ann2snn.config import validate
    from ann2snn.pipeline import run_pipeline

    path = tmp_path / "digits.pt2"
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)), str(path))
    cfg = validate({"model": {"path": str(path)},
                    "data": {"dataset": "digits", "calibration_samples": 100},
                    "conversion": {"calibrate_timesteps": 3, "burst": 2},
                    "tools": {"simulate": False, "evaluate_ann": False},
                    "output": {"dir": str(tmp_path / "run")}})
    snn, _, _ = run_pipeline(cfg, progress=False)
    assert snn.graph.meta["calibration"]["timesteps"] == 3
    assert snn.graph.meta["calibration"]["num_samples"] == 100
    assert snn.graph.meta["burst"] == 2
