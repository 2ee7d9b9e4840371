"""The command line takes its backends from the registry: export TARGET and
simulate --backend NAME, with a mismatch refused (exit 2) before any data are read."""

from __future__ import annotations

import pytest
from conftest import NETS

import ann2snn
from ann2snn.backends import BACKENDS, BackendRegistry
from ann2snn.quantize import QuantSpec, quantize


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps --help to the terminal width


def _help(capsys, *argv) -> str:
    from ann2snn.cli import main

    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_help_lists_the_registered_backends(capsys):
    text = _help(capsys, "simulate")
    assert "--backend NAME" in text
    assert "ann2snn: the built-in simulator (float, and integer mode for quantized " \
           "networks)" in text
    assert "(default ann2snn)" in text
    text = _help(capsys, "export")
    assert "c: portable C99 source" in text
    assert "TARGET" in text


def test_help_follows_the_registry(capsys, monkeypatch):
    reg = BackendRegistry()
    reg.register_lazy("ann2snn", "ann2snn.backends.builtin:BACKEND", "the default", run=True)
    reg.register_lazy("toy", "nowhere:B", "a toy simulator that is never imported", run=True)
    reg.register_lazy("toyc", "nowhere:C", "a toy exporter", export=True)
    monkeypatch.setattr("ann2snn.backends.BACKENDS", reg)
    assert "toy: a toy simulator that is never imported" in _help(capsys, "simulate")
    assert "toyc: a toy exporter" in _help(capsys, "export")
    from ann2snn.cli import main

    with pytest.raises(SystemExit) as e:
        main(["export", "nope", "net.snn", "-o", "out"])
    assert e.value.code == 2
    assert "invalid choice: 'nope'" in (err := capsys.readouterr().err) and "toyc" in err


def test_simulate_unknown_backend_exits_2_naming_the_known(cli, tmp_path):
    ann2snn.SNN(NETS["conv1d"]()).save(tmp_path / "net.snn")
    code, out, err = cli("simulate", tmp_path / "net.snn", "--dataset", "digits",
                         "--backend", "nope", "-T", "4", "--out", tmp_path / "run")
    assert code == 2
    assert "unknown backend 'nope'" in err and "ann2snn" in err
    code, _, err = cli("simulate", tmp_path / "net.snn", "--dataset", "digits",
                       "--backend", "c", "-T", "4", "--out", tmp_path / "run")
    assert code == 2 and "the 'c' backend cannot run; backends that can: ann2snn" in err
    assert not (tmp_path / "run").exists()


def test_simulate_mismatch_fails_before_the_data_are_loaded(cli, tmp_path):
    quantize(NETS["conv1d"](), QuantSpec()).save(tmp_path / "q.snn")
    # the dataset does not exist: reading it first would be a different error
    code, _, err = cli("simulate", tmp_path / "q.snn", "--dataset", "no_such_dataset",
                       "--encoding", "poisson", "-T", "4", "--out", tmp_path / "run")
    assert code == 2
    assert "does not fit the 'ann2snn' backend" in err
    assert "encoding 'poisson' is not supported (supported: 'analog')" in err


def test_simulate_with_the_default_backend_writes_the_run(cli, tmp_path, digits_snn):
    digits_snn.save(tmp_path / "d.snn")
    code, out, _ = cli("simulate", tmp_path / "d.snn", "--dataset", "digits", "-T", "6",
                       "--num-samples", "20", "--backend", "ann2snn", "--quiet", "--json",
                       "--out", tmp_path / "run")
    assert code == 0
    import json

    m = json.loads(out)
    want = digits_snn.simulate(ann2snn.data.load_dataset("digits", "test"), timesteps=6,
                               num_samples=20)
    assert m["snn_accuracy_per_step"] == [float(a) for a in want.snn_accuracy_per_step]
    assert (tmp_path / "run" / "metrics.json").exists()


def test_export_refuses_a_float_network_before_reading_data(cli, tmp_path):
    ann2snn.SNN(NETS["conv1d"]()).save(tmp_path / "f.snn")
    code, _, err = cli("export", "c", tmp_path / "f.snn", "-o", tmp_path / "c",
                       "--dataset", "no_such_dataset")
    assert code == 2 and "run 'ann2snn quantize' first" in err
    code, out, _ = cli("export", "c", tmp_path / "f.snn", "-o", tmp_path / "c", "--float")
    assert code == 0 and (tmp_path / "c" / "snn_model.c").exists()
    assert "c" in BACKENDS.names("export")


def test_the_delay_defaults_to_the_backends_only_delay():
    from argparse import Namespace

    import numpy as np

    from ann2snn.backends import get_backend
    from ann2snn.cli.common import synaptic_delay
    from ann2snn.ir import Graph
    from ann2snn.ir import nodes as n

    g = Graph([n.Input("x", shape=(3,)), n.Dense("fc", ("x",), weight=np.ones((2, 3))),
               n.IF("out", ("fc",))], "out")
    unset, zero = Namespace(synaptic_delay=None), Namespace(synaptic_delay=0)
    assert synaptic_delay(unset, get_backend("ann2snn"), g) == 0
    assert synaptic_delay(unset, get_backend("brian2"), g) == 1
    assert synaptic_delay(unset, get_backend("nest"), g) == 1
    assert synaptic_delay(zero, get_backend("brian2"), g) == 0  # given: kept (check refuses)
    assert synaptic_delay(unset) == 0
