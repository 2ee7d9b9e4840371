"""files.py: a written file appears complete under its name, or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.files import atomic_file, atomic_path, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "m.json"
    p.write_bytes(b"old")
    write_atomic(p, b"new")
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.iterdir()] == ["m.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    p = tmp_path / "predictions.npz"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(p) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["predictions.npz"]


def test_atomic_path_keeps_the_suffix_for_writers_that_read_it(tmp_path):
    p = tmp_path / "a.npz"
    with atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".npz") and tmp != p
        np.savez(tmp, x=np.arange(3))  # np.savez would add .npz to another name
    with np.load(p) as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert [x.name for x in tmp_path.iterdir()] == ["a.npz"]


def test_written_files_get_the_permissions_of_an_ordinary_file(tmp_path):
    (tmp_path / "ref").write_bytes(b"x")  # open() applies the umask; mkstemp gives 0600
    write_atomic(tmp_path / "f", b"x")
    assert (tmp_path / "f").stat().st_mode == (tmp_path / "ref").stat().st_mode
