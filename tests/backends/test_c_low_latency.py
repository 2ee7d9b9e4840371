"""Integer mode and the C export of burst and calibrated networks: bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import ann2snn
from ann2snn.backends.c import export_c
from ann2snn.quantize import QuantSpec, quantize

T, N = 8, 16


@pytest.fixture(scope="module", params=[dict(burst=3), dict(calibrate_timesteps=T),
                                        dict(burst=2, calibrate_timesteps=T)],
                ids=["burst", "calibrated", "burst+calibrated"])
def qsnn(request, digits, digits_model):
    train, _ = digits
    snn = ann2snn.convert(digits_model, train.x[:300], **request.param)
    return quantize(snn, QuantSpec(weight_bits=8, state_bits=32)), request.param


def test_integer_mode_keeps_bursts_and_calibration(qsnn, digits):
    q, kw = qsnn
    pops = [p for p in q.graph if p.population]
    k = kw.get("burst", 1)
    assert [p.multi_spike for p in pops] == [k] * (len(pops) - 1) + [1]
    if "calibrate_timesteps" in kw:
        assert any(p.v0 != 0.5 for p in pops)  # the per-layer potentials survive
    spikes = []
    q.run_batch(digits[1].x[:N], T, probe=lambda name, kind, v, t0: spikes.append(
        int(v.max())) if kind == "spikes" and name != pops[-1].name and q.graph[name].population
        else None)
    assert max(spikes) == k  # bursts of k spikes in one step do happen (k = 1: binary)


def test_c_export_is_bit_exact(qsnn, digits, tmp_path, gcc):
    q, _ = qsnn
    x = digits[1].x[:N]
    export_c(q, tmp_path, x=x, timesteps=T)
    run(["make", "-s", "-C", str(tmp_path)])
    res = run(["make", "-s", "-C", str(tmp_path), "check"])
    assert f"OK: bit-exact on {N} samples x {T} steps" in res.stdout
    out = run(["./snn_main", "inputs.bin"], cwd=tmp_path)
    c_pred = [int(line.split(",")[1]) for line in out.stdout.split()]
    assert c_pred == q.run_batch(x, T).predictions[-1].tolist()
    assert np.mean(np.array(c_pred) == digits[1].y[:N]) > 0.7
