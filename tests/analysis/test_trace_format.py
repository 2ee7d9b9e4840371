"""The trace format: recording, the three on-disk forms, and malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ann2snn.analysis.trace import TraceRecorder, record_trace
from ann2snn.analysis.traceio import TraceError, load_trace


@pytest.fixture(scope="module")
def trace(small_snn):
    snn, x, _ = small_snn
    return record_trace(snn, x, [3, 1, 7], 10)


def test_record_trace_layout_and_semantics(trace, small_snn):
    snn, x, _ = small_snn
    assert trace.meta["format"] == "ann2snn-trace" and trace.meta["version"] == 1
    assert trace.samples == [3, 1, 7] and trace.timesteps == 10
    assert trace.layer_names == ["x", "relu", "fc.neurons"]
    assert trace.get("x", "spikes").shape == (10, 3, 1, 6, 6)
    np.testing.assert_array_equal(trace.get("x", "spikes")[4], x[[3, 1, 7]])
    for layer in ("relu", "fc.neurons"):
        c, vp, v, s = (trace.get(layer, k) for k in ("current", "v_pre_reset", "v", "spikes"))
        assert s.dtype == np.uint8 and v.dtype == np.float32
        np.testing.assert_allclose(vp[0], c[0])  # v0 = 0
        np.testing.assert_allclose(vp[1:], v[:-1] + c[1:], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(s, (vp >= 1).astype(np.uint8))
        np.testing.assert_allclose(v, vp - s, atol=1e-6)
    # the counts equal what the fast simulator path produces for these samples
    bo = snn.run_batch(torch.from_numpy(x[[3, 1, 7]]), 10)
    np.testing.assert_array_equal(trace.get("relu", "spikes").sum(0), bo.counts["relu"].numpy())
    # ANN activations of the same samples: the normalized ReLU output
    _, acts = snn.ann_forward(x[[3, 1, 7]], record={"relu"})
    np.testing.assert_allclose(trace.get("relu", "ann"), acts["relu"], rtol=1e-6)


@pytest.mark.parametrize("form", ["t.npz", "npy", "csv"])
def test_round_trip(trace, tmp_path, form):
    path = tmp_path / ("t.npz" if form == "t.npz" else "dir")
    trace.save(path, None if form == "t.npz" else form)
    back = load_trace(path)
    assert back.meta == trace.meta
    assert set(back.arrays) == set(trace.arrays)
    for k, a in trace.arrays.items():
        np.testing.assert_array_equal(back.arrays[k], a)
        assert back.arrays[k].shape == a.shape


def test_csv_layout_is_t_major_then_sample(trace, tmp_path):
    trace.save(tmp_path / "d", "csv")
    lines = (tmp_path / "d" / "relu" / "spikes.csv").read_text().splitlines()
    assert len(lines) == 10 * 3
    first = [row.split(",")[:2] for row in lines[:4]]
    assert first == [["0", "0"], ["0", "1"], ["0", "2"], ["1", "0"]]
    row = lines[3 * 4 + 2].split(",")  # t = 4, s = 2
    want = trace.get("relu", "spikes")[4, 2].ravel()
    assert [int(v) for v in row[2:]] == want.tolist()
    assert (tmp_path / "d" / "relu" / "ann.csv").read_text().splitlines()[1].startswith("1,")


def test_directory_without_manifest_infers_flat_layers(trace, tmp_path):
    trace.save(tmp_path / "d", "csv")
    (tmp_path / "d" / "manifest.json").unlink()
    back = load_trace(tmp_path / "d")
    assert not back.ordered
    assert sorted(back.layer_names) == ["fc.neurons", "relu", "x"]
    assert back.layer("relu").shape == (3 * 6 * 6,)
    assert back.samples == [0, 1, 2] and back.timesteps == 10
    np.testing.assert_array_equal(back.get("relu", "v").reshape(trace.get("relu", "v").shape),
                                  trace.get("relu", "v"))


def test_recorder_as_simulate_probe(small_snn):
    snn, x, y = small_snn
    rec = TraceRecorder(samples=[2, 9], layers=["relu"], kinds=["spikes", "v"])
    snn.simulate(x, y, timesteps=6, batch_size=5, probe=rec, example_sample=None)
    tr = rec.trace(snn.graph)
    assert tr.samples == [2, 9] and tr.layer_names == ["relu"]
    assert set(tr.arrays) == {"relu/spikes", "relu/v", "relu/ann"}
    ref = record_trace(snn, x, [2, 9], 6, layers=["relu"])
    for k in ("spikes", "v", "ann"):
        np.testing.assert_array_equal(tr.get("relu", k), ref.get("relu", k))


def test_poisson_trace_equals_the_same_sample_in_a_batched_run(small_snn):
    """Poisson spikes depend on the dataset index, not on the batch: tracing sample 5
    alone gives what sample 5 saw in a batched simulate()."""
    snn, x, y = small_snn
    alone = record_trace(snn, x, [5], 8, layers=["x", "relu"], encoding="poisson", seed=3)
    rec = TraceRecorder(samples=[5], layers=["x", "relu"])
    snn.simulate(x, y, timesteps=8, batch_size=4, encoding="poisson", seed=3, probe=rec,
                 example_sample=None)
    batched = rec.trace(snn.graph)
    s = alone.get("x", "spikes")
    assert set(np.unique(s)) <= {0.0, 1.0} and 0 < s.sum() < s.size
    assert alone.extra["encoding"] == "poisson"
    for key in ("x/spikes", "relu/spikes", "relu/v"):
        np.testing.assert_array_equal(batched.arrays[key], alone.arrays[key])


def test_recorder_windows_append_to_one_buffer_per_batch(small_snn):
    """Windows of 3 steps give the trace of one 20-step window, each layer, kind and batch
    in one growing buffer (a small array per window fragmented the heap), and a second
    batch starts its own."""
    snn, x, _ = small_snn
    whole, parts = TraceRecorder(), TraceRecorder()
    snn.run_batch(torch.from_numpy(x[:4]), 20, probe=whole, window=20)
    for lo in (0, 4):  # two batches
        snn.run_batch(torch.from_numpy(x[lo:lo + 4]), 20, probe=parts, window=3)
    a, b = whole.trace(snn.graph), parts.trace(snn.graph)
    assert b.timesteps == 20 and len(b.samples) == 8
    assert set(a.arrays) == set(b.arrays)
    for k, arr in a.arrays.items():
        np.testing.assert_array_equal(b.arrays[k][:, :4], arr)
    assert parts._chunks and all(len(c) == 2 for c in parts._chunks.values())


def _write_npz(path, meta, **arrays):
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


@pytest.mark.parametrize("case,match", [
    ("missing", "no such trace"),
    ("garbage", "not a readable .npz"),
    ("nometa", "no '__meta__'"),
    ("version", "newer"),
    ("shape", "has shape"),
    ("kind", "unknown kind"),
])
def test_malformed_traces_raise_trace_error(tmp_path, case, match):
    p = tmp_path / "t.npz"
    meta = {"format": "ann2snn-trace", "version": 1, "timesteps": 2, "samples": [0],
            "layers": [{"name": "l", "op": "IF", "shape": [3]}], "source": "test"}
    good = np.zeros((2, 1, 3), np.float32)
    if case == "garbage":
        p.write_bytes(b"not a zip")
    elif case == "nometa":
        np.savez(p, **{"l/v": good})
    elif case == "version":
        _write_npz(p, {**meta, "version": 2}, **{"l/v": good})
    elif case == "shape":
        _write_npz(p, meta, **{"l/v": np.zeros((3, 1, 3))})
    elif case == "kind":
        _write_npz(p, meta, **{"l/volts": good})
    with pytest.raises(TraceError, match=match):
        load_trace(p)


@pytest.mark.parametrize("text,match", [
    ("0,0,1,2\n0,0,1,2\n", "exactly one line"),
    ("0,0,1,2\n1,0,1\n", "same number"),
    ("0,0,1,x\n", "line 1"),
])
def test_malformed_csv(tmp_path, text, match):
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "v.csv").write_text(text)
    with pytest.raises(TraceError, match=match):
        load_trace(tmp_path)


def test_save_refuses_a_foreign_directory(trace, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TraceError, match="not a trace"):
        trace.save(tmp_path, "npy")
    assert [f.name for f in tmp_path.iterdir()] == ["notes.txt"]  # nothing written
    assert (tmp_path / "notes.txt").read_text() == "mine"
