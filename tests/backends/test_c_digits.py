"""The C backend on a trained digits network: `make check`, a tampered expected.bin,
valgrind, the command line, `ann2snn diff` on the C trace, and the float export."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
from conftest import read_csv_trace, run

from ann2snn.analysis.traceio import load_trace
from ann2snn.backends.c import export_c
from ann2snn.cli import main as cli
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import integer_trace

T, N = 32, 24


@pytest.fixture(scope="module")
def qsnn(digits_small):
    return quantize(digits_small, QuantSpec(weight_bits=8, state_bits=32))


@pytest.fixture(scope="module")
def project(qsnn, digits, tmp_path_factory, gcc):
    _, test = digits
    out = tmp_path_factory.mktemp("digits_c")
    export_c(qsnn, out, x=test.x[:N], timesteps=T)
    run(["make", "-s", "-C", str(out)])
    return out


def test_make_check_passes_and_trace_is_bit_exact(project, qsnn, digits):
    res = run(["make", "-s", "-C", str(project), "check"])
    assert f"OK: bit-exact on {N} samples x {T} steps" in res.stdout
    run(["./snn_main", "inputs.bin", "--quiet", "--trace", "trace", "--trace-samples", "3"],
        cwd=project)
    got = read_csv_trace(project / "trace")
    want = integer_trace(qsnn, digits[1].x[:3], T)
    assert set(got) == set(want)
    for layer, kinds in want.items():
        for kind, arr in kinds.items():
            assert np.array_equal(got[layer][kind], arr), f"{layer}/{kind}"


def test_predictions_equal_the_simulator(project, qsnn, digits):
    res = run(["./snn_main", "inputs.bin"], cwd=project)
    c_pred = [int(line.split(",")[1]) for line in res.stdout.split()]
    bo = qsnn.run_batch(digits[1].x[:N], T)
    assert c_pred == bo.predictions[-1].tolist()


def test_tampered_expected_fails_with_the_first_mismatch(project, tmp_path):
    data = bytearray((project / "expected.bin").read_bytes())
    n_out = 10
    per_sample = 4 * (T * n_out + n_out + 1)
    off = 20 + 2 * per_sample + 4 * (7 * n_out + 4)  # sample 2, step 7, output 4
    (v,) = struct.unpack_from("<i", data, off)
    struct.pack_into("<i", data, off, v + 1)
    shutil.copytree(project, tmp_path / "p")
    (tmp_path / "p" / "expected.bin").write_bytes(bytes(data))
    res = run(["make", "-s", "-C", str(tmp_path / "p"), "check"], check=False)
    assert res.returncode != 0
    assert f"MISMATCH: sample 2, step 7, output 4: C gives {v}, expected {v + 1}" in res.stdout


def test_valgrind_reports_no_errors(project):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    res = run(["valgrind", "-q", "--error-exitcode=1", "--leak-check=full", "./snn_main",
               "inputs.bin", "--quiet", "--num-samples", "2", "--check", "expected.bin",
               "--trace", "vg_trace", "--trace-samples", "2"], cwd=project, check=False)
    assert res.returncode == 0, res.stderr
    assert "OK: bit-exact on 2 samples" in res.stdout


def test_cli_quantize_and_export(digits_small, tmp_path, gcc, capsys):
    digits_small.save(tmp_path / "net.snn")
    assert cli(["quantize", str(tmp_path / "net.snn"), "--weight-bits", "8", "--state-bits",
                "32", "-o", str(tmp_path / "net_q.snn")]) == 0
    assert cli(["export", "c", str(tmp_path / "net_q.snn"), "-o", str(tmp_path / "c"),
                "--dataset", "digits", "--num-samples", "5", "--timesteps", "8"]) == 0
    assert "make -C" in capsys.readouterr().out
    res = run(["make", "-s", "-C", str(tmp_path / "c"), "check"])
    assert "OK: bit-exact on 5 samples x 8 steps" in res.stdout
    # a float network is refused with a hint, not a traceback
    assert cli(["export", "c", str(tmp_path / "net.snn"), "-o", str(tmp_path / "x")]) == 2
    assert "ann2snn quantize" in capsys.readouterr().err


def test_ann2snn_diff_reads_the_c_trace(project, qsnn, digits, tmp_path):
    qsnn.save(tmp_path / "q.snn")
    run(["./snn_main", "inputs.bin", "--quiet", "--trace", str(tmp_path / "ct"),
         "--trace-samples", "2"], cwd=project)
    assert load_trace(tmp_path / "ct").source == "c"
    assert cli(["trace", str(tmp_path / "q.snn"), "--dataset", "digits", "--samples", "0:2",
                "-T", str(T), "-o", str(tmp_path / "py.npz")]) == 0
    assert cli(["diff", str(tmp_path / "ct"), str(tmp_path / "py.npz")]) == 0


def test_float_export_agrees_within_tolerance(digits_small, digits, tmp_path, gcc):
    export_c(digits_small, tmp_path, x=digits[1].x[:20], timesteps=T, float_mode=True)
    res = run(["make", "-s", "-C", str(tmp_path), "check"])
    assert "predictions differ" in res.stdout
