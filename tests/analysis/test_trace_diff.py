"""ann2snn diff: equal traces, one flipped spike, a trace written by a C program, and
exit codes (0 equal, 1 different, 2 bad input, never a traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from ann2snn import SNN
from ann2snn.analysis.diff import diff_traces
from ann2snn.analysis.trace import record_trace
from ann2snn.analysis.traceio import Trace, load_trace
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n
from ann2snn.passes import to_spiking


@pytest.fixture(scope="module")
def traces(small_snn, tmp_path_factory):
    snn, x, _ = small_snn
    d = tmp_path_factory.mktemp("traces")
    tr = record_trace(snn, x, [0, 4], 12)
    tr.save(d / "a.npz")
    tr.save(d / "b.npz")
    return tr, d


def flipped(tr: Trace, layer: str, t: int, s: int, index: tuple) -> Trace:
    arrays = {k: a.copy() for k, a in tr.arrays.items()}
    arrays[f"{layer}/spikes"][(t, s, *index)] ^= 1
    return Trace(tr.timesteps, list(tr.samples), tr.layers, arrays, "flipped", dict(tr.extra))


def test_identical_traces_are_equal(traces, cli):
    tr, d = traces
    assert diff_traces(tr, load_trace(d / "b.npz")).equal
    code, out, _ = cli("diff", d / "a.npz", d / "b.npz")
    assert code == 0 and "equal" in out


def test_one_flipped_spike_is_named_exactly(traces, tmp_path, cli):
    tr, d = traces
    fl = flipped(tr, "relu", 7, 1, (2, 3, 4))
    flat = int(np.ravel_multi_index((2, 3, 4), (3, 6, 6)))
    res = diff_traces(tr, fl)
    f = res.first
    assert (f.layer, f.step, f.sample, f.sample_index, f.neuron, f.index) == \
        ("relu", 7, 1, 4, flat, (2, 3, 4))
    assert f.differing == ["spikes"]
    assert f.values["spikes"] == (float(tr.get("relu", "spikes")[7, 1, 2, 3, 4]),
                                  float(1 - tr.get("relu", "spikes")[7, 1, 2, 3, 4]))
    assert f.current == (float(tr.get("relu", "current")[7, 1, 2, 3, 4]),) * 2
    assert f.v_before == (float(tr.get("relu", "v")[6, 1, 2, 3, 4]),) * 2
    counts = {x.name: x.kinds["spikes"].mismatches for x in res.layers}
    assert counts == {"x": 0, "relu": 1, "fc.neurons": 0}
    fl.save(tmp_path / "f.npz")
    code, out, _ = cli("diff", d / "a.npz", tmp_path / "f.npz")
    assert code == 1
    assert f"layer relu (IF), step t=7 (0-based), sample 1 (dataset index 4), neuron {flat} " \
           "= index (2, 3, 4)" in out
    code, out, _ = cli("diff", d / "a.npz", tmp_path / "f.npz", "--json")
    js = json.loads(out)
    assert code == 1 and js["first_divergence"]["index"] == [2, 3, 4]


def test_first_divergence_is_earliest_step_then_layer_order(traces):
    tr, _ = traces
    fl = flipped(flipped(tr, "fc.neurons", 3, 0, (1,)), "relu", 5, 0, (0, 0, 0))
    assert (diff_traces(tr, fl).first.layer, diff_traces(tr, fl).first.step) == ("fc.neurons", 3)
    fl = flipped(flipped(tr, "fc.neurons", 3, 0, (1,)), "relu", 3, 1, (0, 0, 0))
    assert diff_traces(tr, fl).first.layer == "relu"  # same step: topological order


def test_atol_and_membrane_difference(traces):
    tr, _ = traces
    arrays = {k: a.copy() for k, a in tr.arrays.items()}
    arrays["relu/v"][2, 0, 1, 1, 1] += 0.25
    other = Trace(tr.timesteps, tr.samples, tr.layers, arrays)
    res = diff_traces(tr, other)
    kd = {x.name: x for x in res.layers}["relu"].kinds["v"]
    assert kd.mismatches == 1 and kd.max_abs == pytest.approx(0.25, abs=1e-6)
    assert diff_traces(tr, other, atol=0.3).equal


def test_bad_input_exits_2_without_traceback(traces, small_snn, tmp_path, cli):
    tr, d = traces
    code, _, err = cli("diff", d / "a.npz", tmp_path / "missing.npz")
    assert code == 2 and "no such trace" in err
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 10)
    code, _, err = cli("diff", d / "a.npz", tmp_path / "junk.npz")
    assert code == 2 and "not a readable" in err
    part = Trace(tr.timesteps, tr.samples, [tr.layer("relu")],
                 {k: a for k, a in tr.arrays.items() if k.startswith("relu/")})
    part.save(tmp_path / "part.npz")
    code, _, err = cli("diff", d / "a.npz", tmp_path / "part.npz")
    assert code == 2
    assert "only in A: fc.neurons, x" in err and "common:    relu" in err
    assert "--layers relu" in err
    code, out, _ = cli("diff", d / "a.npz", tmp_path / "part.npz", "--layers", "relu")
    assert code == 0
    code, _, err = cli("diff", d / "a.npz", tmp_path / "part.npz", "--layers", "x")
    assert code == 2 and "missing in B: x" in err
    short = record_trace(small_snn[0], small_snn[1], [0, 4], 5)
    short.save(tmp_path / "short.npz")
    code, _, err = cli("diff", d / "a.npz", tmp_path / "short.npz")
    assert code == 2 and "different lengths" in err


# -- a trace written by a C program -----------------------------------------------------
C_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* One IF layer "relu" (4 neurons, I = W x + b, v0 = 0, reset by subtraction), the
   documented CSV layout: DIR/<layer>/<kind>.csv, one line "t,s,x0,...,x3" per (t, s). */
#define T 8
#define S 2
#define N 4
static const float W[N][N] = {{1, 0, 0, 0}, {0.25f, 0.5f, 0, 0}, {0, 0, 1, 0.125f},
                              {0, 0, -0.5f, 1}};
static const float B[N] = {0, 0.125f, 0, 0.0625f};
static const float X[S][N] = {{0.5f, 0.25f, 0.75f, 0.125f}, {0.875f, 1, 0.375f, 0.5f}};
static void line(FILE *f, int t, int s, const float *x) {
    int i;
    fprintf(f, "%d,%d", t, s);
    for (i = 0; i < N; ++i) fprintf(f, ",%.9g", (double)x[i]);
    fputc('\n', f);
}
int main(int argc, char **argv) {
    const char *dir = argv[1];
    int flip = argc > 2 ? atoi(argv[2]) : -1;  /* flip the spike of neuron 2, s 1, t flip */
    char p[512];
    const char *kinds[4] = {"current", "v_pre_reset", "v", "spikes"};
    FILE *f[4];
    float v[S][N] = {{0}};
    int t, s, i, k;
    snprintf(p, sizeof p, "%s/relu", dir);
    mkdir(dir, 0777);
    mkdir(p, 0777);
    for (k = 0; k < 4; ++k) {
        snprintf(p, sizeof p, "%s/relu/%s.csv", dir, kinds[k]);
        f[k] = fopen(p, "w");
    }
    for (t = 0; t < T; ++t)
        for (s = 0; s < S; ++s) {
            float cur[N], pre[N], spk[N];
            for (i = 0; i < N; ++i) {
                int j;
                cur[i] = B[i];
                for (j = 0; j < N; ++j) cur[i] += W[i][j] * X[s][j];
                pre[i] = v[s][i] + cur[i];
                spk[i] = pre[i] >= 1.0f ? 1.0f : 0.0f;
                if (t == flip && s == 1 && i == 2) spk[i] = 1.0f - spk[i];
                v[s][i] = pre[i] - spk[i];
            }
            line(f[0], t, s, cur); line(f[1], t, s, pre); line(f[2], t, s, v[s]);
            line(f[3], t, s, spk);
        }
    for (k = 0; k < 4; ++k) fclose(f[k]);
    return 0;
}
"""


def one_layer_snn() -> tuple[SNN, np.ndarray]:
    w = np.array([[1, 0, 0, 0], [0.25, 0.5, 0, 0], [0, 0, 1, 0.125], [0, 0, -0.5, 1]],
                 np.float32)
    ann = Graph([n.Input("x", shape=(4,)),
                 n.Dense("fc", ("x",), weight=w,
                         bias=np.array([0, 0.125, 0, 0.0625], np.float32)),
                 n.ReLU("relu", ("fc",))])
    x = np.array([[0.5, 0.25, 0.75, 0.125], [0.875, 1, 0.375, 0.5]], np.float32)
    return SNN(to_spiking(ann), ann), x


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_trace_written_by_a_c_program(tmp_path, cli):
    src = tmp_path / "ctrace.c"
    src.write_text(C_PROGRAM)
    exe = tmp_path / "ctrace"
    subprocess.run(["gcc", "-O1", "-std=c99", "-o", str(exe), str(src)], check=True)
    subprocess.run([str(exe), str(tmp_path / "c")], check=True)
    snn, x = one_layer_snn()
    py = record_trace(snn, x, [0, 1], 8, layers=["relu"])
    py.save(tmp_path / "py.npz")
    c = load_trace(tmp_path / "c")  # no manifest: layers from the folders, shapes flat
    assert c.layer_names == ["relu"] and c.layer("relu").shape == (4,)
    assert c.get("relu", "spikes").sum() > 0
    code, out, _ = cli("diff", tmp_path / "py.npz", tmp_path / "c")
    assert code == 0, out
    # the same with a manifest naming the layers and shapes
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(
        {"format": "ann2snn-trace", "version": 1, "timesteps": 8, "samples": [0, 1],
         "layers": [{"name": "relu", "op": "IF", "shape": [4]}], "source": "c"}))
    code, _, _ = cli("diff", tmp_path / "py.npz", tmp_path / "c")
    assert code == 0
    # a C program that flips one spike is caught at that step and neuron
    subprocess.run([str(exe), str(tmp_path / "c2"), "5"], check=True)
    code, out, _ = cli("diff", tmp_path / "py.npz", tmp_path / "c2")
    assert code == 1
    assert "layer relu (IF), step t=5 (0-based), sample 1 (dataset index 1), neuron 2" in out
