"""Specs, the digits data set, Dataset, calibration and standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.data import Dataset, calibration_data, dataset_names, load_dataset
from ann2snn.errors import Ann2SnnError, DatasetError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("ANN2SNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def test_digits_shape_dtype_range():
    ds = load_dataset("digits")
    assert ds.x.shape[1:] == (1, 8, 8) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.num_classes == 10
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0 and ds.x.max() == 1.0
    assert ds.mean is None and ds.std is None
    train = load_dataset("digits", "train")
    assert len(train) + len(ds) == 1797
    assert abs(len(ds) / 1797 - 0.2) < 0.01
    assert set(np.unique(ds.y)) == set(range(10))  # stratified


def test_digits_split_deterministic_and_disjoint():
    from ann2snn.data import digits

    a, b = load_dataset("digits"), load_dataset("digits")
    np.testing.assert_array_equal(a.x, b.x)
    idx = digits.split_indices()
    assert not set(idx["train"]) & set(idx["test"])
    assert len(set(idx["train"]) | set(idx["test"])) == 1797


def test_returned_arrays_are_private_copies():
    ds = load_dataset("digits")
    ds.x[:] = 7.0
    assert load_dataset("digits").x.max() == 1.0


def test_dataset_names_and_unknown_spec(tmp_path):
    assert dataset_names() == ["digits", "mnist", "fashion-mnist", "npz:DIR", "images:DIR"]
    with pytest.raises(DatasetError, match="Did you mean 'fashion-mnist'") as info:
        load_dataset("fashoin-mnist")
    assert "npz:DIR" in str(info.value)
    assert isinstance(info.value, Ann2SnnError)
    with pytest.raises(DatasetError, match="Did you mean 'npz:/x'"):
        load_dataset("nzp:/x")
    with pytest.raises(DatasetError, match=f"did you mean 'images:{tmp_path}'"):
        load_dataset(str(tmp_path))
    with pytest.raises(DatasetError, match="give a folder"):
        load_dataset("npz:")
    with pytest.raises(DatasetError, match="unknown split"):
        load_dataset("digits", split="validation")
    assert load_dataset("DIGITS").name == "digits"


def test_calibration_from_train_and_seeded():
    a = calibration_data("digits", n=50, seed=1)
    b = calibration_data("digits", n=50, seed=1)
    c = calibration_data("digits", n=50, seed=2)
    assert a.shape == (50, 1, 8, 8) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    train = {row.tobytes() for row in load_dataset("digits", "train").x}
    assert all(row.tobytes() in train for row in a)
    with pytest.raises(DatasetError):
        calibration_data("digits", n=0)


def test_calibration_without_replacement_and_clipped():
    from ann2snn.data import digits

    train_idx = digits.split_indices()["train"]
    allx = calibration_data("digits", n=10**6)
    assert len(allx) == len(train_idx)
    # Every train sample exactly once: compare as multisets of rows.
    want = sorted(row.tobytes() for row in load_dataset("digits", "train").x)
    assert sorted(row.tobytes() for row in allx) == want


def test_standardize_uses_train_constants():
    train = load_dataset("digits", "train", standardize=True)
    test = load_dataset("digits", "test", standardize=True)
    np.testing.assert_array_equal(train.mean, test.mean)
    np.testing.assert_array_equal(train.std, test.std)
    assert abs(float(train.x.mean())) < 1e-5 and abs(float(train.x.std()) - 1) < 1e-4
    raw = load_dataset("digits", "test")
    np.testing.assert_allclose(test.x, (raw.x - test.mean[0]) / test.std[0], rtol=1e-5, atol=1e-6)
    cal = calibration_data("digits", n=20, standardize=True)
    assert cal.min() < 0


def test_subset():
    ds = load_dataset("digits")
    first = ds.subset(10)
    assert len(first) == 10 and first.name == ds.name and first.num_classes == 10
    np.testing.assert_array_equal(first.y, ds.y[:10])
    first.x[:] = -1
    assert ds.x.min() >= 0  # a copy
    picked = ds.subset(indices=[5, 0, 5])
    np.testing.assert_array_equal(picked.y, ds.y[[5, 0, 5]])
    assert len(ds.subset(10**6)) == len(ds)
    assert len(ds.subset(indices=ds.y == 3)) == int((ds.y == 3).sum())
    with pytest.raises(DatasetError):
        ds.subset(indices=[len(ds)])
    with pytest.raises(DatasetError):
        ds.subset(n=-1)
    with pytest.raises(DatasetError):
        ds.subset(3, indices=[1])


def test_dataset_validation():
    with pytest.raises(DatasetError):
        Dataset("t", np.zeros((3, 2), np.float32), np.zeros(2, np.int64), 2)
    ds = Dataset("t", np.zeros((3, 2), np.float32), np.zeros(3, np.int64), 2)
    assert len(ds) == 3
