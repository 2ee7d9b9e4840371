"""A QCFS-converted network (thresholds from λ, v0 = θ/2, membrane readout) in integer
mode: the generated C equals the integer simulator bit for bit, and the integer
populations start at round(θ/2)."""

from __future__ import annotations

import numpy as np
import torch
from conftest import run
from torch import nn

import ann2snn
from ann2snn.backends.c import export_c
from ann2snn.ir import nodes as n
from ann2snn.lowlatency import qcfs
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import integer_trace

T, S = 8, 3


def _qcfs_net(x: np.ndarray) -> ann2snn.SNN:
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    return ann2snn.convert(qcfs(relu, levels=4, per_channel=True, sample=x).eval(), x)


def test_qcfs_network_in_c_is_bit_exact(gcc, tmp_path):
    x = np.random.default_rng(7).random((64, 1, 8, 8)).astype(np.float32)
    snn = _qcfs_net(x)
    assert snn.graph.meta["qcfs"]["v0"] == 0.5
    q = quantize(snn, QuantSpec(per_channel=True), calibration=x)
    hidden = [p for p in q.graph.of_type(n.IF) if not p.membrane_readout]
    assert len(hidden) == 2 and all(p.v0 == 0.5 for p in hidden)
    want = integer_trace(q, x[:S], T)
    for p in hidden:  # v(0) = round(θ/2): after step 1, v = round(θ/2) + I − θ·s
        th = np.asarray(p.thresholds if p.thresholds is not None else [p.threshold])
        th = th.reshape((1, -1) + (1,) * (want[p.name]["v"].ndim - 3))
        v1 = want[p.name]["v"][0]
        assert np.array_equal(v1, np.floor(th / 2 + 0.5) + want[p.name]["current"][0]
                              - th * want[p.name]["spikes"][0])
        assert 0 < (want[p.name]["spikes"] != 0).mean() < 1, p.name
    out = tmp_path / "c"
    export_c(q, out, x=x[:S], timesteps=T)
    run(["make", "-s", "-C", str(out)])
    res = run(["./snn_main", "inputs.bin", "--quiet", "--check", "expected.bin"], cwd=out)
    assert f"OK: bit-exact on {S} samples x {T} steps" in res.stdout
