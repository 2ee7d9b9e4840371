"""readout="membrane" on a network without a softmax (the digits CNN ends in a Linear):
the float and integer simulators read the membrane, and the generated C reproduces the
integer simulator bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import ann2snn
from ann2snn.backends.c import export_c
from ann2snn.ir import Readout
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize

T, N = 24, 16


@pytest.fixture(scope="module")
def membrane_snn(digits, digits_model):
    train, _ = digits
    return ann2snn.convert(digits_model, train.x[:500], readout="membrane")


def test_the_linear_output_becomes_a_membrane_readout(membrane_snn, digits):
    g = membrane_snn.graph
    assert g.readout is Readout.MEMBRANE and g.meta["readout"] == "membrane"
    assert [p.name for p in g.of_type(n.IF) if p.membrane_readout] == [g.output]
    x = digits[1].x[:N]
    bo = membrane_snn.run_batch(x, T)
    # the readout is the integrated membrane: argmax at T is the prediction, and a
    # membrane can be negative, which a spike count cannot
    assert np.array_equal(bo.predictions[-1].numpy(), bo.readout.argmax(1).numpy())
    assert (bo.readout < 0).any()


@pytest.fixture(scope="module")
def project(membrane_snn, digits, tmp_path_factory, gcc):
    q = quantize(membrane_snn, QuantSpec(weight_bits=8, state_bits=32))
    out = tmp_path_factory.mktemp("membrane_c")
    export_c(q, out, x=digits[1].x[:N], timesteps=T)
    run(["make", "-s", "-C", str(out)])
    return q, out


def test_integer_mode_and_c_read_the_membrane_bit_exactly(project, digits):
    q, out = project
    assert q.graph.readout is Readout.MEMBRANE
    assert "#define SNN_MEMBRANE_READOUT 1" in (out / "snn_model.h").read_text()
    res = run(["make", "-s", "-C", str(out), "check"])
    assert f"OK: bit-exact on {N} samples x {T} steps" in res.stdout
    c_pred = [int(line.split(",")[1]) for line in
              run(["./snn_main", "inputs.bin"], cwd=out).stdout.split()]
    assert c_pred == q.run_batch(digits[1].x[:N], T).predictions[-1].tolist()
