"""IDX reading and the MNIST / Fashion-MNIST search order, on tiny synthetic files."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from ann2snn.data import idx, load_dataset, mnist, paths
from ann2snn.errors import DatasetError

# Captured before the isolation fixture clears it: CI may point this at real MNIST.
REAL_DATA = os.environ.get("ANN2SNN_DATA")

TRAIN_N, TEST_N, SIDE = 12, 5, 4


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_file(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def synthetic_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (TRAIN_N, SIDE, SIDE), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, TRAIN_N, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (TEST_N, SIDE, SIDE), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, TEST_N, dtype=np.uint8),
    }


def write_set(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    arrays = synthetic_arrays(seed)
    for base, arr in arrays.items():
        write_file(folder / base, idx_bytes(arr), gz)
    return arrays


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real environment leaks in; the network is never touched."""
    monkeypatch.delenv("ANN2SNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(paths.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "system",))

    def offline(url, dest, timeout=10.0):
        raise OSError("offline (test)")

    monkeypatch.setattr(mnist, "download_file", offline)


@pytest.mark.parametrize("gz", [True, False])
def test_load_via_data_dir(tmp_path, gz):
    arrays = write_set(tmp_path / "d" / "mnist", gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path / "d")
    assert ds.x.shape == (TEST_N, 1, SIDE, SIDE) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.num_classes == 10
    np.testing.assert_allclose(ds.x[:, 0], arrays["t10k-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])
    train = load_dataset("mnist", "train", data_dir=tmp_path / "d")
    assert train.x.shape == (TRAIN_N, 1, SIDE, SIDE)


def test_load_via_env_and_root_itself(tmp_path, monkeypatch):
    arrays = write_set(tmp_path / "flat", gz=False)
    monkeypatch.setenv("ANN2SNN_DATA", str(tmp_path / "flat"))
    ds = load_dataset("mnist", download=False)
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])


def test_data_dir_wins_over_env_and_cache(tmp_path, monkeypatch):
    write_set(tmp_path / "xdg" / "ann2snn" / "mnist", seed=1)
    write_set(tmp_path / "env" / "mnist", seed=2)
    mine = write_set(tmp_path / "arg", seed=3)
    monkeypatch.setenv("ANN2SNN_DATA", str(tmp_path / "env"))
    ds = load_dataset("mnist", data_dir=tmp_path / "arg")
    np.testing.assert_array_equal(ds.y, mine["t10k-labels-idx1-ubyte"])
    env = load_dataset("mnist")
    np.testing.assert_array_equal(env.y, synthetic_arrays(2)["t10k-labels-idx1-ubyte"])


def test_cache_dir_is_searched(tmp_path):
    arrays = write_set(tmp_path / "xdg" / "ann2snn" / "mnist")
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("sub", ["fashion_mnist", "fashion-mnist"])
def test_fashion_subdir_aliases(tmp_path, sub):
    arrays = write_set(tmp_path / "root" / sub)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "root")
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_system_dir(tmp_path):
    arrays = write_set(tmp_path / "system")
    ds = load_dataset("fashion-mnist", download=False)
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])


def test_missing_lists_searched_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("ANN2SNN_DATA", str(tmp_path / "env"))
    for download in (False, True):
        start = time.monotonic()
        with pytest.raises(DatasetError) as info:
            load_dataset("mnist", data_dir=tmp_path / "given", download=download)
        assert time.monotonic() - start < 5
        msg = str(info.value)
        assert "MNIST" in msg and "ANN2SNN_DATA" in msg and "--data-dir" in msg
        for d in (
            tmp_path / "given",
            tmp_path / "given" / "mnist",
            tmp_path / "env",
            tmp_path / "xdg" / "ann2snn" / "mnist",
        ):
            assert str(d) in msg
        assert ("offline (test)" in msg) == download
    assert not (tmp_path / "xdg" / "ann2snn").exists()  # no empty folders left behind


def test_missing_fashion_mentions_apt(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist") as info:
        load_dataset("fashion-mnist", download=False)
    assert str(tmp_path / "system") in str(info.value)


def test_incomplete_folder_is_reported(tmp_path):
    write_file(tmp_path / "d" / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((2, 2, 2))), True)
    with pytest.raises(DatasetError, match="incomplete: missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path / "d", download=False)


def test_truncated_file_names_file(tmp_path):
    write_set(tmp_path / "d")
    bad = tmp_path / "d" / "t10k-images-idx3-ubyte.gz"
    data = idx_bytes(synthetic_arrays()["t10k-images-idx3-ubyte"])
    write_file(bad.with_suffix(""), data[:-7], gz=True)
    with pytest.raises(DatasetError, match="truncated IDX") as info:
        load_dataset("mnist", data_dir=tmp_path / "d")
    assert str(bad) in str(info.value)


def test_truncated_gzip_stream_names_file(tmp_path):
    write_set(tmp_path / "d")
    bad = tmp_path / "d" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-12])
    with pytest.raises(DatasetError, match="gzip") as info:
        load_dataset("mnist", data_dir=tmp_path / "d")
    assert str(bad) in str(info.value)


def test_bad_magic(tmp_path):
    write_set(tmp_path / "d", gz=False)
    bad = tmp_path / "d" / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x1f\x8b\x08\x03" + bad.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic") as info:
        load_dataset("mnist", data_dir=tmp_path / "d")
    assert str(bad) in str(info.value)


def test_wrong_dims_and_counts(tmp_path):
    write_set(tmp_path / "d", gz=False)
    lbl = tmp_path / "d" / "t10k-labels-idx1-ubyte"
    lbl.write_bytes(idx_bytes(np.zeros(TEST_N + 1)))
    with pytest.raises(DatasetError, match="labels"):
        load_dataset("mnist", data_dir=tmp_path / "d")
    lbl.write_bytes(idx_bytes(np.zeros((TEST_N, 2))))
    with pytest.raises(DatasetError, match="1 dimension"):
        load_dataset("mnist", data_dir=tmp_path / "d")
    lbl.write_bytes(idx_bytes(np.full(TEST_N, 10)))
    with pytest.raises(DatasetError, match=r"0\.\.9"):
        load_dataset("mnist", data_dir=tmp_path / "d")


def test_trailing_bytes_rejected():
    with pytest.raises(DatasetError, match="unexpected bytes"):
        idx.parse_idx(idx_bytes(np.zeros(3)) + b"xx", "f")


def test_float_idx_with_nan_rejected(tmp_path):
    write_set(tmp_path / "d", gz=False)
    data = np.zeros((TEST_N, SIDE, SIDE), dtype=">f4")
    data[0, 0, 0] = np.nan
    raw = bytes([0, 0, 0x0D, 3]) + struct.pack(">3I", *data.shape) + data.tobytes()
    (tmp_path / "d" / "t10k-images-idx3-ubyte").write_bytes(raw)
    with pytest.raises(DatasetError, match="NaN") as info:
        load_dataset("mnist", data_dir=tmp_path / "d")
    assert "t10k-images-idx3-ubyte" in str(info.value)


def test_cache_invalidated_on_rewrite_and_not_corruptible(tmp_path):
    write_set(tmp_path / "d", gz=False, seed=0)
    first = load_dataset("mnist", data_dir=tmp_path / "d")
    first.x[:] = -1.0
    again = load_dataset("mnist", data_dir=tmp_path / "d")
    assert again.x.min() >= 0.0
    time.sleep(0.01)
    new = write_set(tmp_path / "d", gz=False, seed=5)
    third = load_dataset("mnist", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(third.y, new["t10k-labels-idx1-ubyte"])


def test_other_datasets_files_refused(tmp_path, monkeypatch):
    arrays = write_set(tmp_path / "d")
    for base, arr in arrays.items():
        monkeypatch.setitem(
            idx.STANDARD_MD5["mnist"], base, hashlib.md5(idx_bytes(arr)).hexdigest()
        )
    with pytest.raises(DatasetError, match="mnist file, not fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "d")


def _fake_mirror(arrays, monkeypatch, corrupt: str | None = None):
    def fake_download(url, dest, timeout=10.0):
        base = url.rsplit("/", 1)[1].removesuffix(".gz")
        data = idx_bytes(arrays[base])
        if base == corrupt:
            data = data[:-1] + b"\x00"
        with gzip.open(dest, "wb") as fh:
            fh.write(data)

    monkeypatch.setattr(mnist, "download_file", fake_download)
    for base, arr in arrays.items():
        monkeypatch.setitem(
            idx.STANDARD_MD5["mnist"], base, hashlib.md5(idx_bytes(arr)).hexdigest()
        )


def test_download_into_cache_with_md5_check(tmp_path, monkeypatch):
    arrays = synthetic_arrays(7)
    _fake_mirror(arrays, monkeypatch)
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.y, arrays["t10k-labels-idx1-ubyte"])
    cached = sorted(p.name for p in (tmp_path / "xdg" / "ann2snn" / "mnist").iterdir())
    assert cached == sorted(f"{b}.gz" for b in arrays)


def test_download_md5_mismatch_leaves_nothing(tmp_path, monkeypatch):
    arrays = synthetic_arrays(8)
    _fake_mirror(arrays, monkeypatch, corrupt="t10k-images-idx3-ubyte")
    with pytest.raises(DatasetError, match="md5"):
        load_dataset("mnist")
    folder = tmp_path / "xdg" / "ann2snn" / "mnist"
    assert not (folder / "t10k-images-idx3-ubyte.gz").exists()
    assert not any(".unverified" in p.name or p.name.endswith(".part") for p in folder.iterdir())


@pytest.mark.skipif(not REAL_DATA, reason="ANN2SNN_DATA not set (optional real-data check)")
def test_real_mnist_from_env(monkeypatch):
    monkeypatch.setenv("ANN2SNN_DATA", REAL_DATA)
    try:
        ds = load_dataset("mnist", download=False)
    except DatasetError:
        pytest.skip("ANN2SNN_DATA holds no MNIST")
    assert ds.x.shape == (10000, 1, 28, 28)
    assert list(ds.y[:5]) == [7, 2, 1, 0, 4]
    assert ds.x.min() >= 0.0
    assert ds.x.max() <= 1.0
