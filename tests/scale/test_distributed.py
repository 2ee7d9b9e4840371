"""Two processes (torch.distributed, gloo) give the numbers of one process, exactly.

The ranks are launched by torch's own launcher (ann2snn.scale.distributed.run_local,
what torchrun runs); each simulates every second batch and rank 0 merges the parts in
batch order. Sample counts are not divisible by the world size or the batch size, so
the shards are uneven.
"""

from __future__ import annotations

import numpy as np
import pytest
import scale_workers

from ann2snn.scale import distributed


def _equal(a, b, where="") -> None:
    """Exact equality of nested results (arrays bit for bit, floats with ==)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _equal(u, v, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def digits_test():
    from ann2snn.data import load_dataset

    test = load_dataset("digits", "test")
    return test.x[:203], test.y[:203]  # 203 samples: 7 batches of 32, the last one of 11


def test_two_ranks_equal_one_process_analog_and_poisson(small_digits_snn, digits_test):
    path, snn = small_digits_snn
    x, y = digits_test
    runs = [dict(timesteps=12, batch_size=32, encoding="analog", example_sample=150),
            dict(timesteps=12, batch_size=32, encoding="poisson", seed=3, example_sample=70)]
    out = distributed.run_local(scale_workers.simulate, 2, str(path), x, y, runs)
    assert out[1] is None
    for opts, dist in zip(runs, out[0]):
        single = scale_workers.plain(snn.simulate(x, y, **opts))
        _equal(dist, single, opts["encoding"])
        m = single["metrics"]
        assert m["num_samples"] == 203 and len(m["layers"]) == 4
        assert all(layer["correlation"] is not None for layer in m["layers"][:-1])
        assert single["example"] is not None and single["layers"][0][3] is not None
        assert 0 < m["spikes_per_neuron"]["total"]
