"""`ann2snn simulate --workers 2 --resume`: torch's launcher starts two processes that
finish a run a single process began, and the run folder equals an uninterrupted
single-process run's (Poisson input, uneven shards)."""

from __future__ import annotations

import json

import numpy as np


def test_two_workers_resume_a_single_process_store(small_digits_snn, tmp_path, cli):
    from ann2snn.data import load_dataset
    from ann2snn.scale.store import BatchStore

    path, snn = small_digits_snn
    test = load_dataset("digits", "test")
    opts = dict(timesteps=10, batch_size=16, num_samples=77, encoding="poisson", seed=5)
    whole = snn.simulate(test, **opts)  # 5 batches: the ranks get 3 and 2
    part = BatchStore(tmp_path / "r.partial")
    snn.simulate(test.subset(indices=list(range(32))), **{**opts, "num_samples": 32},
                 store=part)  # batches 0 and 16 of another run: refused below
    code, _, err = cli("simulate", path, "-d", "digits", "-T", 10, "--batch-size", 16,
                       "--num-samples", 77, "--encoding", "poisson", "--seed", 5,
                       "--out", tmp_path / "r", "--workers", 2, "--resume", "-q")
    assert code == 2 and "other samples" in err and "num_samples = 32 there, 77 now" in err
    # (refused by the launching process, before the two processes start)
    part.remove()
    first = BatchStore(tmp_path / "r.partial")
    snn.simulate(test, **opts, store=first)  # every batch stored by one process ...
    for f in sorted((tmp_path / "r.partial").glob("batch-*.npz"))[1::2]:
        f.unlink()  # ... and batches 16 and 48 lost, as if killed
    assert len(first.done()) == 3
    code, _, err = cli("simulate", path, "-d", "digits", "-T", 10, "--batch-size", 16,
                       "--num-samples", 77, "--encoding", "poisson", "--seed", 5,
                       "--out", tmp_path / "r", "--workers", 2, "--resume", "-q")
    assert code == 0, err
    assert not (tmp_path / "r.partial").exists()
    got = json.loads((tmp_path / "r" / "metrics.json").read_text())
    want = json.loads(json.dumps(whole.metrics()))
    for m in (got, want):
        m.pop("wall_time_s")
    assert got == want
    pred = np.load(tmp_path / "r" / "predictions.npz")
    assert np.array_equal(pred["snn_readout"], whole.snn_readout)
    assert np.array_equal(pred["snn_prediction"], whole.snn_predictions[-1])
