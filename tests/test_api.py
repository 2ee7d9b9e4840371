"""The public API's boundary: options as enums or their strings, inputs as arrays,
tensors or Datasets, all converted once; the same network and results either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ann2snn
from ann2snn.arrays import labelled_samples, samples, to_numpy
from ann2snn.errors import ConfigError, ConversionError, SimulationError
from ann2snn.ir import Encoding, NormMethod, ResetMode, SoftmaxReadout


def test_the_public_names_resolve():
    from ann2snn import api
    from ann2snn.network import SNN, load

    assert ann2snn.SNN is SNN and ann2snn.load is load and api.SNN is SNN
    assert ann2snn.convert is api.convert and ann2snn.simulate is api.simulate


def test_one_input_conversion_for_arrays_tensors_and_datasets(digits):
    train, _ = digits
    x = train.x[:5]
    for data in (x, torch.from_numpy(x), train.subset(5), x.astype(np.float64).tolist()):
        got = to_numpy(data)
        assert got.dtype == np.float32 and np.array_equal(got, x)
    assert to_numpy(torch.arange(3), None).dtype == np.int64
    with pytest.raises(ConversionError, match="contains NaN"):
        samples(np.full((2, 3), np.nan), "calibration data")
    with pytest.raises(SimulationError, match="array of samples"):
        samples(np.zeros((0, 3)), "input", SimulationError)
    with pytest.raises(SimulationError, match="input sample 1 contains NaN"):
        labelled_samples(np.array([[0.0], [np.nan]]), [0, 1], None, (1,))
    xs, ys = labelled_samples(torch.ones(3, 2), torch.tensor([1.0, 0.0, 1.0]), 2, (2,))
    assert xs.shape == (2, 2) and ys.dtype == np.int64 and ys.tolist() == [1, 0]


def test_convert_takes_enums_or_their_strings(digits, digits_model):
    train, _ = digits
    calib = train.x[:200]
    a = ann2snn.convert(digits_model, calib, method="max", reset="zero",
                        softmax_readout="spikes")
    b = ann2snn.convert(digits_model, torch.from_numpy(calib), method=NormMethod.MAX,
                        reset=ResetMode.ZERO, softmax_readout=SoftmaxReadout.SPIKES)
    assert a.graph.meta["normalization"]["method"] == "max"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert [type(x).__name__ for x in a.graph] == [type(x).__name__ for x in b.graph]
    with pytest.raises(ConfigError, match="'percentile', 'max'"):
        ann2snn.convert(digits_model, calib, method="mean")
    with pytest.raises(ConfigError, match="reset"):
        ann2snn.convert(digits_model, calib, reset="soft")


def test_simulate_takes_the_encoding_as_a_string(digits, digits_snn):
    _, test = digits
    kw = dict(timesteps=6, num_samples=16, diagnostics=False, evaluate_ann=False)
    a = digits_snn.simulate(test, encoding="poisson", **kw)
    b = ann2snn.simulate(digits_snn, test.x, test.y, encoding=Encoding.POISSON, **kw)
    c = digits_snn.simulate(test, encoding=Encoding.ANALOG, **kw)
    assert a.config["encoding"] == "poisson"
    assert np.array_equal(a.snn_predictions, b.snn_predictions)
    assert a.spike_counts == b.spike_counts
    assert a.spike_counts != c.spike_counts  # the string really selected Poisson input
    with pytest.raises(ConfigError, match="encoding"):
        digits_snn.simulate(test, encoding="rate", **kw)


def test_simulate_goes_through_the_backend_registry(digits, digits_snn):
    from ann2snn.backends import UnknownBackend

    _, test = digits
    a = ann2snn.simulate(digits_snn, test.x[:20], test.y[:20], timesteps=6,
                         diagnostics=False, evaluate_ann=False)
    b = digits_snn.simulate(test.x[:20], test.y[:20], timesteps=6, diagnostics=False,
                            evaluate_ann=False)
    assert np.array_equal(a.snn_predictions, b.snn_predictions)
    assert np.array_equal(a.snn_readout, b.snn_readout)
    with pytest.raises(UnknownBackend, match="unknown backend 'nope'.*ann2snn"):
        ann2snn.simulate(digits_snn, test.x[:2], test.y[:2], backend="nope")


def test_export_is_a_top_level_name(tmp_path, digits_snn):
    from ann2snn.backends import export
    from ann2snn.quantize import quantize

    assert ann2snn.export is export
    q = quantize(digits_snn)
    files = ann2snn.export(q, "c", tmp_path / "c", timesteps=4)
    assert {"snn_model.c", "snn_model.h", "main.c", "Makefile"} <= {f.name for f in files}
