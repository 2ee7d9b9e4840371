"""Memory that does not grow with T (docs/scale-out.md, "Memory"): a run past
results.STEP_PREDICTIONS_MAX keeps the correct predictions per step instead of every
prediction, and gives the same numbers as the run that keeps them all."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ann2snn.results
from ann2snn.analysis.batches import BatchPart
from ann2snn.data import load_dataset


@pytest.fixture(scope="module")
def test_set():
    d = load_dataset("digits", "test")
    return d.x[:40], d.y[:40]


def _plain(res) -> dict:
    m = json.loads(json.dumps(res.metrics()))
    m.pop("wall_time_s")
    return m


def _both(monkeypatch, snn, x, y, **kw):
    kept = snn.simulate(x, y, **kw)
    monkeypatch.setattr(ann2snn.results, "STEP_PREDICTIONS_MAX", 0)
    reduced = snn.simulate(x, y, **kw)
    monkeypatch.undo()
    return kept, reduced


@pytest.mark.parametrize("kw", [
    dict(timesteps=24, batch_size=16),
    dict(timesteps=24, batch_size=16, window=5, synaptic_delay=1),
    dict(timesteps=20, batch_size=7, encoding="poisson", seed=3),
])
def test_reduced_run_equals_the_kept_one(monkeypatch, small_digits_snn, test_set, kw):
    _, snn = small_digits_snn
    x, y = test_set
    kept, reduced = _both(monkeypatch, snn, x, y, **kw)
    assert kept.snn_predictions is not None and reduced.snn_predictions is None
    assert _plain(reduced) == _plain(kept)
    assert np.array_equal(reduced.snn_final_predictions, kept.snn_predictions[-1])
    want = (kept.snn_predictions == y[None]).sum(1)
    assert np.array_equal(reduced.snn_correct_per_step, want)
    assert 0 < want[-1] < len(y)  # a curve that could be wrong, not all 0 or all right
    assert np.array_equal(reduced.snn_readout, kept.snn_readout)


def test_integer_mode_and_sample_chunks(monkeypatch, small_digits_snn, test_set):
    from ann2snn.quantize import QuantSpec, quantize
    from ann2snn.sim import simulator

    _, snn = small_digits_snn
    x, y = test_set
    q = quantize(snn, QuantSpec(weight_bits=8), calibration=x)
    kept, reduced = _both(monkeypatch, q, x, y, timesteps=16, batch_size=20)
    assert reduced.snn_predictions is None and _plain(reduced) == _plain(kept)
    # tiny tensor limit: the batch runs in chunks of samples, each with its labels
    monkeypatch.setattr(simulator, "CPU_TENSOR_BYTES", 4096)
    xb = torch.from_numpy(x[:20])
    whole = snn.run_batch(xb, 16)
    labels = torch.as_tensor(y[:20], dtype=torch.int64)
    part = snn.run_batch(xb, 16, labels=labels)
    assert part.predictions is None
    assert torch.equal(part.correct, (whole.predictions == labels[None]).sum(1))
    assert torch.equal(part.final, whole.predictions[-1])


def test_a_reduced_batch_part_round_trips_through_the_store_arrays(small_digits_snn,
                                                                    test_set):
    _, snn = small_digits_snn
    x, y = test_set
    labels = torch.as_tensor(y[:8], dtype=torch.int64)
    bo = snn.run_batch(torch.from_numpy(x[:8]), 12, labels=labels)
    part = BatchPart.of(0, bo, labels, None, {}, None, {"snn": 1.0}, keep=False)
    back = BatchPart.from_arrays(part.arrays())
    assert back.preds is None and back.size == 8
    assert np.array_equal(back.correct, part.correct)
    assert np.array_equal(back.final, part.final)


def test_the_example_trace_keeps_fewer_neurons_at_long_t(small_digits_snn, test_set):
    from ann2snn.analysis.example import NEURON_STEPS, record_example
    from ann2snn.ir import Encoding

    _, snn = small_digits_snn
    x, _ = test_set
    pops = [p.name for p in snn.graph if p.population]
    big = max(pops, key=lambda k: int(np.prod(snn.graph.shapes[k])))
    assert int(np.prod(snn.graph.shapes[big])) > 96
    t = 2 * NEURON_STEPS // 96  # 2048 steps: half the neurons
    short = record_example(snn, x, 0, 64, Encoding.ANALOG)
    long = record_example(snn, x, 0, t, Encoding.ANALOG)
    assert len(short.meta["neuron_index"][big]) == 96
    assert len(long.meta["neuron_index"][big]) == 48
    assert long.get(big, "spikes").shape[0] == t
