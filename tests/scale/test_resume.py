"""A run killed mid-way (SIGKILL) and resumed with --resume equals an uninterrupted run;
the batch store refuses a resume by another network or config, naming the difference."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ARGS = ["-d", "digits", "-T", "32", "--batch-size", "8", "--num-samples", "96", "-q"]


def _metrics(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())
    m.pop("wall_time_s")
    return m


def test_killed_run_resumes_to_the_uninterrupted_result(small_digits_snn, tmp_path, cli):
    from ann2snn.data import load_dataset

    path, snn = small_digits_snn
    killed = tmp_path / "killed"
    partial = tmp_path / "killed.partial"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "ann2snn", "simulate", str(path), *ARGS,
                             "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 50
    while len(list(partial.glob("batch-*.npz"))) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline, "no batch was stored"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = len(list(partial.glob("batch-*.npz")))
    assert proc.returncode == -signal.SIGKILL and 2 <= stored < 12  # of 96 / 8
    assert not (killed / "metrics.json").exists()
    assert "--resume" in (partial / "INCOMPLETE.txt").read_text()

    code, _, err = cli("simulate", path, *ARGS, "--out", killed)  # no --resume: refused
    assert code == 2 and "incomplete" in err and "--resume" in err

    code, _, err = cli("simulate", path, *ARGS, "--out", killed, "--resume")
    assert code == 0, err
    assert not partial.exists()
    whole = snn.simulate(load_dataset("digits", "test"), timesteps=32, batch_size=8,
                         num_samples=96)  # uninterrupted, the CLI's defaults otherwise
    want = json.loads(json.dumps(whole.metrics()))
    want.pop("wall_time_s")
    assert _metrics(killed) == want
    pred = np.load(killed / "predictions.npz")
    assert np.array_equal(pred["snn_readout"], whole.snn_readout)
    assert np.array_equal(pred["snn_prediction"], whole.snn_predictions[-1])
    assert np.array_equal(pred["ann_prediction"], whole.ann_predictions)


def test_resume_into_a_store_of_another_config_is_refused(small_digits_snn, tmp_path, cli):
    from ann2snn import load
    from ann2snn.data import load_dataset
    from ann2snn.scale.store import BatchStore

    path, _ = small_digits_snn
    test = load_dataset("digits", "test")
    store = BatchStore(tmp_path / "r.partial")
    load(path).simulate(test, timesteps=8, batch_size=8, num_samples=16, store=store)
    assert len(store.done()) == 2  # kept: only the CLI removes it after the run folder
    code, _, err = cli("simulate", path, "-d", "digits", "-T", "9", "--batch-size", "8",
                       "--num-samples", "16", "--out", tmp_path / "r", "--resume", "-q")
    assert code == 2 and "timesteps = 8 there, 9 now" in err
    assert not (tmp_path / "r").exists()
