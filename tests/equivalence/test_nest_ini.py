"""An SNN Toolbox INI config with ``simulator = nest`` runs end to end on the nest backend
and gives the built-in simulator's predictions at synaptic delay 1."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

# PyNN and NEST (ann2snn[nest]) found, not imported: NEST runs in the backend's worker
if importlib.util.find_spec("pyNN") is None or importlib.util.find_spec("nest") is None:
    pytest.skip("PyNN and NEST are not installed (pip install 'ann2snn[nest]')",
                allow_module_level=True)
pytest.importorskip("keras")
pytest.importorskip("h5py")

from test_snntoolbox_run import workdir  # noqa: E402, F401  (a fixture)

import ann2snn  # noqa: E402
from ann2snn.cli import main  # noqa: E402
from ann2snn.data import load_dataset  # noqa: E402


def test_ini_simulator_nest_end_to_end(workdir, capsys):  # noqa: F811
    cfg = workdir / "config"
    cfg.write_text(f"[paths]\npath_wd = {workdir}\ndataset_path = {workdir / 'data'}\n"
                   "filename_ann = tiny\nrunlabel = nest\n\n[cell]\nreset = Reset to zero\n\n"
                   "[simulation]\nsimulator = nest\nduration = 24\nbatch_size = 4\n"
                   "num_to_test = 8\n")
    assert main(["run", str(cfg), "-q"]) == 0
    out = workdir / "log" / "gui" / "nest"
    got = np.load(out / "predictions.npz")
    snn = ann2snn.load(out / "net.snn")
    test = load_dataset(f"npz:{workdir / 'data'}", "test")
    ref = snn.simulate(test, num_samples=8, timesteps=24, synaptic_delay=1,
                       example_sample=None)
    assert np.array_equal(got["snn_prediction"], ref.snn_predictions[-1])
    assert (got["snn_prediction"] >= 0).any()
