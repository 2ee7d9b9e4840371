"""The SNN Toolbox npz layout (x_test / y_test / x_norm)."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.data import calibration_data, load_dataset
from ann2snn.errors import DatasetError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("ANN2SNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def make_dir(tmp_path, x_test, y_test, x_norm=None, named=False):
    d = tmp_path / "snn"
    d.mkdir(parents=True, exist_ok=True)
    for stem, arr in (("x_test", x_test), ("y_test", y_test), ("x_norm", x_norm)):
        if arr is not None:
            if named:
                np.savez(d / f"{stem}.npz", **{stem: arr})
            else:
                np.savez(d / f"{stem}.npz", arr)
    return d


def test_positional_one_hot_channels_last(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((6, 5, 5, 3), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 1, 0])
    d = make_dir(tmp_path, x, one_hot(y, 4))
    ds = load_dataset(f"npz:{d}")
    assert ds.x.shape == (6, 3, 5, 5) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.y.dtype == np.int64 and ds.num_classes == 4
    assert ds.name == f"npz:{d}"


def test_named_keys_and_integer_labels(tmp_path):
    x = np.zeros((4, 1, 6, 6), dtype=np.float64)
    d = make_dir(tmp_path, x, np.array([0, 2, 1, 2]), named=True)
    ds = load_dataset(f"npz:{d}")
    assert ds.x.shape == (4, 1, 6, 6) and ds.x.dtype == np.float32  # already channels-first
    assert ds.num_classes == 3


def test_key_matching_stem_among_several(tmp_path):
    d = tmp_path / "snn"
    d.mkdir()
    np.savez(d / "x_test.npz", other=np.ones(3), x_test=np.zeros((2, 4)))
    np.savez(d / "y_test.npz", np.array([0, 1]))
    assert load_dataset(f"npz:{d}").x.shape == (2, 4)
    np.savez(d / "x_test.npz", a=np.ones(3), b=np.zeros((2, 4)))
    with pytest.raises(DatasetError, match="expected exactly one"):
        load_dataset(f"npz:{d}")


def test_channels_last_override(tmp_path):
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    d = make_dir(tmp_path, x, np.array([0, 1]))
    assert load_dataset(f"npz:{d}").x.shape == (2, 1, 5, 5)
    assert load_dataset(f"npz:{d}", channels_last=False).x.shape == (2, 5, 5, 1)
    x3 = np.zeros((2, 3, 3, 3), dtype=np.float32)  # ambiguous: heuristic keeps it
    d = make_dir(tmp_path, x3, np.array([0, 1]))
    assert load_dataset(f"npz:{d}").x.shape == (2, 3, 3, 3)
    assert np.shares_memory(x3, load_dataset(f"npz:{d}", channels_last=True).x) is False


def test_x_norm_for_calibration_and_train_split(tmp_path):
    x = np.zeros((3, 4, 4, 1), dtype=np.float32)
    norm = np.random.default_rng(1).random((20, 4, 4, 1), dtype=np.float32)
    d = make_dir(tmp_path, x, one_hot(np.array([0, 1, 2]), 3), x_norm=norm)
    cal = calibration_data(f"npz:{d}", n=5, seed=3)
    assert cal.shape == (5, 1, 4, 4)
    pool = {row.tobytes() for row in norm.transpose(0, 3, 1, 2)}
    assert all(row.tobytes() in pool for row in cal)
    np.testing.assert_array_equal(cal, calibration_data(f"npz:{d}", n=5, seed=3))
    train = load_dataset(f"npz:{d}", split="train")
    assert len(train) == 20 and (train.y == -1).all() and train.num_classes == 3


def test_missing_x_norm_is_an_error_never_test_data(tmp_path):
    d = make_dir(tmp_path, np.zeros((3, 2)), np.array([0, 1, 0]))
    with pytest.raises(DatasetError, match=r"x_norm\.npz is missing"):
        calibration_data(f"npz:{d}", n=2)
    with pytest.raises(DatasetError, match=r"x_norm\.npz"):
        load_dataset(f"npz:{d}", split="train")


def test_object_array_rejected(tmp_path):
    d = tmp_path / "snn"
    d.mkdir()
    np.savez(d / "x_test.npz", np.array([np.zeros(2), np.zeros(3)], dtype=object))
    np.savez(d / "y_test.npz", np.array([0, 1]))
    with pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{d}")
    msg = str(info.value)
    assert "pickle" in msg and "np.savez" in msg and str(d / "x_test.npz") in msg


def test_nan_rejected_naming_file(tmp_path):
    x = np.zeros((2, 4), dtype=np.float32)
    x[1, 2] = np.inf
    d = make_dir(tmp_path, x, np.array([0, 1]))
    with pytest.raises(DatasetError, match="NaN/Inf") as info:
        load_dataset(f"npz:{d}")
    assert str(d / "x_test.npz") in str(info.value)


def test_missing_and_inconsistent_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'nope'}")
    d = make_dir(tmp_path, np.zeros((2, 4)), None)
    with pytest.raises(DatasetError, match=r"missing y_test\.npz"):
        load_dataset(f"npz:{d}")
    d = make_dir(tmp_path, np.zeros((2, 4)), np.array([0, 1, 1]))
    with pytest.raises(DatasetError, match="3 labels"):
        load_dataset(f"npz:{d}")
    d = make_dir(tmp_path, np.zeros((2, 4)), np.array([0.5, 1.0]))
    with pytest.raises(DatasetError, match="integer labels"):
        load_dataset(f"npz:{d}")
    (d / "x_test.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match=r"x_test\.npz"):
        load_dataset(f"npz:{d}")


def test_standardize_uses_x_norm(tmp_path):
    norm = np.random.default_rng(2).random((50, 2, 4, 4), dtype=np.float32) * 4 + 1
    d = make_dir(tmp_path, norm[:5].copy(), np.arange(5), x_norm=norm)
    ds = load_dataset(f"npz:{d}", standardize=True)
    np.testing.assert_allclose(ds.mean, norm.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(
        ds.x,
        (norm[:5] - ds.mean[None, :, None, None]) / ds.std[None, :, None, None],
        rtol=1e-5,
        atol=1e-6,
    )
    d2 = make_dir(tmp_path / "b", np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(DatasetError, match="standardize=True needs the train split"):
        load_dataset(f"npz:{d2}", standardize=True)
