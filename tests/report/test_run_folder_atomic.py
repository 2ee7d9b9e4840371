"""A run folder appears complete (metrics, predictions, plots, report) or not at all."""

from __future__ import annotations

import json

import pytest

from ann2snn.files import atomic_dir
from ann2snn.report import run_folder

RUN_FILES = {"metrics.json", "predictions.npz", "report.html", "accuracy_vs_time.png"}


@pytest.fixture(scope="module")
def result(digits_snn, digits):
    _, test = digits
    return digits_snn.simulate(test, timesteps=4, num_samples=20)


def test_complete_folder(tmp_path, result):
    out = result.save(tmp_path / "run")
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_while_writing_the_report_leaves_nothing(tmp_path, result, monkeypatch,
                                                               exc):
    import ann2snn.report.html as html

    def broken(res, out):
        (out / ".spike_rates.png.tmp.png").write_bytes(b"half a plot")
        raise exc("stopped while writing the report")

    monkeypatch.setattr(html, "write_report", broken)
    with pytest.raises(exc):
        run_folder.save_run(result, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rerun_keeps_the_earlier_folder(tmp_path, result, monkeypatch):
    result.save(tmp_path / "run")
    before = (tmp_path / "run" / "metrics.json").read_text()
    import ann2snn.report.html as html

    monkeypatch.setattr(html, "write_report", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        result.save(tmp_path / "run")
    assert (tmp_path / "run" / "metrics.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def _interrupt(*a):
    raise KeyboardInterrupt


def test_atomic_dir_into_an_existing_folder_replaces_its_files_and_keeps_others(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "metrics.json").write_text("old")
    with atomic_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp != out
        (tmp / "metrics.json").write_text(json.dumps({"new": 1}))
        assert (out / "metrics.json").read_text() == "old"  # nothing visible yet
    assert json.loads((out / "metrics.json").read_text()) == {"new": 1}
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
