"""Image folders: DIR/<class>/*.png|jpg, optionally split into DIR/train and DIR/test."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ann2snn.data import calibration_data, load_dataset
from ann2snn.errors import DatasetError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("ANN2SNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def save(path, value, size=(5, 4), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    shape = (h, w) if mode == "L" else (h, w, 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode=mode).save(path)


def test_two_gray_classes(tmp_path):
    d = tmp_path / "imgs"
    save(d / "cat" / "a.png", 255)
    save(d / "cat" / "b.PNG", 0)
    save(d / "ant" / "c.png", 51)
    (d / "ant" / "notes.txt").write_text("not an image: ignored")
    (d / ".hidden").mkdir()  # hidden folders are not classes
    ds = load_dataset(f"images:{d}")
    assert ds.x.shape == (3, 1, 4, 5) and ds.x.dtype == np.float32
    assert ds.num_classes == 2
    np.testing.assert_array_equal(ds.y, [0, 1, 1])  # ant=0, cat=1 (sorted names)
    np.testing.assert_allclose(ds.x[:, 0, 0, 0], [51 / 255, 1.0, 0.0], rtol=1e-6)


def test_rgb_when_any_colour_image(tmp_path):
    d = tmp_path / "imgs"
    save(d / "a" / "x.png", 10)
    save(d / "b" / "y.png", 200, mode="RGB")
    ds = load_dataset(f"images:{d}")
    assert ds.x.shape == (2, 3, 4, 5)
    assert ds.x.min() >= 0.0
    assert ds.x.max() <= 1.0


def test_mismatched_size_names_file(tmp_path):
    d = tmp_path / "imgs"
    save(d / "a" / "1.png", 0)
    save(d / "b" / "odd.png", 0, size=(6, 6))
    with pytest.raises(DatasetError, match="6x6") as info:
        load_dataset(f"images:{d}")
    assert str(d / "b" / "odd.png") in str(info.value)


def test_corrupt_image_names_file(tmp_path):
    d = tmp_path / "imgs"
    save(d / "a" / "1.png", 0)
    (d / "a" / "2.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"2\.png"):
        load_dataset(f"images:{d}")


def test_no_train_split_without_train_test_folders(tmp_path):
    d = tmp_path / "imgs"
    save(d / "a" / "1.png", 0)
    with pytest.raises(DatasetError, match="no train split"):
        calibration_data(f"images:{d}", n=1)


def test_train_test_folders(tmp_path):
    d = tmp_path / "imgs"
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                save(d / split / cls / f"{i}.png", 30 * i)
    assert len(load_dataset(f"images:{d}")) == 4
    assert len(load_dataset(f"images:{d}", split="train")) == 8
    cal = calibration_data(f"images:{d}", n=3, seed=0)
    assert cal.shape == (3, 1, 4, 5)


def test_empty_and_loose_images(tmp_path):
    d = tmp_path / "imgs"
    save(d / "loose.png", 0)
    with pytest.raises(DatasetError, match="per-class sub-folders"):
        load_dataset(f"images:{d}")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"images:{tmp_path / 'missing'}")
