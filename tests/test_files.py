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


def _signal_just_after(monkeypatch, name: str, marker: str):
    """``os.<name>`` does its work, then a signal's handler raises, as Ctrl-C can do the
    instant after the call (CI once found a staging folder left that way)."""
    import os

    real = getattr(os, name)

    def call(path, *args, **kwargs):
        out = real(path, *args, **kwargs)
        if marker in os.fspath(path):
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(os, name, call)


def test_a_signal_just_after_the_staging_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    from ann2snn.files import atomic_dir

    _signal_just_after(monkeypatch, "mkdir", ".partial-")
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "run"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_signal_just_after_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    _signal_just_after(monkeypatch, "open", ".m.json.")
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "m.json", b"new")
    assert list(tmp_path.iterdir()) == []


def test_a_raising_signal_handler_cannot_leave_the_signals_blocked(monkeypatch):
    import signal

    from ann2snn import files

    real = signal.pthread_sigmask

    def mask(how, sigs):
        out = real(how, sigs)
        if how == signal.SIG_BLOCK and sigs:  # a signal that came just before it
            raise KeyboardInterrupt
        return out

    before = real(signal.SIG_BLOCK, [])
    monkeypatch.setattr(signal, "pthread_sigmask", mask)
    with pytest.raises(KeyboardInterrupt), files._signals_held():
        pass
    assert real(signal.SIG_BLOCK, []) == before
