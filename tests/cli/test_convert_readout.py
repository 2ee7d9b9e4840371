"""--readout and --v0 on the command line and in a TOML config, and what info says."""

from __future__ import annotations

import json

import pytest
import torch

import ann2snn


@pytest.fixture(scope="module")
def pt2(tmp_path_factory, digits_model):
    path = tmp_path_factory.mktemp("readout") / "digits.pt2"
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)), str(path))
    return path


def test_convert_readout_membrane_and_info(tmp_path, cli, pt2):
    out = tmp_path / "m.snn"
    code, _, err = cli("convert", pt2, "-d", "digits", "-o", out, "--readout", "membrane",
                       "--v0", "0.25", "--calibration-samples", "200")
    assert code == 0, err
    snn = ann2snn.load(out)
    assert snn.readout_mode == "membrane" and snn.graph[snn.graph.output].membrane_readout
    assert {p.v0 for p in snn.graph.of_type(ann2snn.ir.nodes.IF)} == {0.25}
    code, text, err = cli("info", out)
    assert code == 0, err
    assert "readout: membrane" in text and "initial membrane v0: 0.25 of the threshold" in text


def test_convert_readout_spike_count(tmp_path, cli, pt2):
    out = tmp_path / "s.snn"
    code, _, err = cli("convert", pt2, "-d", "digits", "-o", out, "--readout", "spike_count",
                       "--calibration-samples", "200")
    assert code == 0, err
    assert ann2snn.load(out).readout_mode == "spike_count"


def test_a_bad_readout_is_refused_by_argparse(tmp_path, cli, pt2):
    code, _, err = cli("convert", pt2, "-d", "digits", "-o", tmp_path / "x.snn",
                       "--readout", "argmax")
    assert code == 2 and "invalid choice: 'argmax'" in err and "Traceback" not in err
    assert not (tmp_path / "x.snn").exists()


def _toml(tmp_path, pt2, readout: str) -> str:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'''
[model]
path = "{pt2}"
[data]
dataset = "digits"
num_samples = 20
calibration_samples = 100
[conversion]
readout = "{readout}"
[simulation]
timesteps = 4
[output]
dir = "{tmp_path / 'out'}"
''')
    return cfg


def test_run_config_readout(tmp_path, cli, pt2):
    code, _, err = cli("run", _toml(tmp_path, pt2, "membrane"), "--quiet")
    assert code == 0, err
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["config"]["conversion"]["readout"] == "membrane"
    assert ann2snn.load(tmp_path / "out" / "net.snn").readout_mode == "membrane"


def test_run_config_bad_readout_exits_2(tmp_path, cli, pt2):
    code, _, err = cli("run", _toml(tmp_path, pt2, "argmax"), "--quiet")
    assert code == 2 and "readout" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
