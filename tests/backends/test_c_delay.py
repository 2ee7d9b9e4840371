"""The generated C at synaptic delay 1 (docs/design.md §3) equals the integer simulator at
delay 1, bit for bit, on random networks (tests/backends/conftest.py); its trace says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import NETS, read_csv_trace, run

from ann2snn.analysis.diff import diff_traces
from ann2snn.analysis.trace import record_trace
from ann2snn.analysis.traceio import TraceError, load_trace
from ann2snn.backends.c import export_c
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import integer_trace

T, S = 14, 3


@pytest.mark.parametrize("net_name", ["conv2d", "conv1d"])  # all but GlobalAvgPool
def test_c_trace_at_delay_1_equals_the_integer_simulator(net_name, gcc, tmp_path):
    q = quantize(NETS[net_name](), QuantSpec())
    x = np.random.default_rng(8).random((S, *q.graph.input_shape)).astype(np.float32)
    out = tmp_path / "c"
    export_c(q, out, x=x, timesteps=T, synaptic_delay=1)
    assert "#define SNN_SYNAPTIC_DELAY 1" in (out / "snn_model.h").read_text()
    run(["make", "-s", "-C", str(out)])
    res = run(["./snn_main", "inputs.bin", "--quiet", "--check", "expected.bin",
               "--trace", "trace", "--trace-samples", str(S)], cwd=out)
    assert f"OK: bit-exact on {S} samples x {T} steps" in res.stdout
    want = integer_trace(q, x, T, synaptic_delay=1)
    zero = integer_trace(q, x, T)
    got = read_csv_trace(out / "trace")
    assert set(got) == set(want)
    for layer, kinds in want.items():
        for kind, arr in kinds.items():
            assert np.array_equal(got[layer][kind], arr), (layer, kind)
    pops = [p for p in q.graph.of_type(n.IF) if not p.membrane_readout]
    assert any((want[p.name]["spikes"] != 0).any() for p in pops)
    # the delay is visible: some population's current differs from delay 0
    assert any(not np.array_equal(want[p.name]["current"], zero[p.name]["current"])
               for p in q.graph.of_type(n.IF))
    assert json.loads((out / "trace" / "manifest.json").read_text())["synaptic_delay"] == 1
    # ann2snn diff: equal to the simulator's trace at delay 1, refused against delay 0
    c = load_trace(out / "trace")
    assert c.synaptic_delay == 1
    assert diff_traces(record_trace(q, x, list(range(S)), T, synaptic_delay=1), c).equal
    with pytest.raises(TraceError, match="different synaptic delays"):
        diff_traces(record_trace(q, x, list(range(S)), T), c)


def test_delay_0_export_is_unchanged(tmp_path):
    """Delay 0 writes no delay buffers: the C text equals the default export's."""
    q = quantize(NETS["conv2d"](), QuantSpec())
    export_c(q, tmp_path / "a")
    export_c(q, tmp_path / "b", synaptic_delay=0)
    export_c(q, tmp_path / "d", synaptic_delay=1)
    a = (tmp_path / "a" / "snn_model.c").read_text()
    assert a == (tmp_path / "b" / "snn_model.c").read_text() and "st.d_" not in a
    assert "st.d_" in (tmp_path / "d" / "snn_model.c").read_text()
