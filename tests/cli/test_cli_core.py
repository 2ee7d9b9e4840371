"""The CLI: the main job, each subcommand, exit code 2 with no traceback on bad input and 1
on an internal error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ann2snn.cli import main

MODEL_PY = '''
import torch
from torch import nn

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.bn(self.conv(x)))), 1))
'''



@pytest.fixture(scope="module")
def model_files(tmp_path_factory, digits_model):
    d = tmp_path_factory.mktemp("models")
    (d / "tiny.py").write_text(MODEL_PY)
    torch.manual_seed(0)
    ns: dict = {}
    exec(MODEL_PY, ns)
    tiny = ns["Tiny"]()
    torch.save(tiny.state_dict(), d / "tiny.pth")
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)),
                      str(d / "digits.pt2"))
    return d


def test_demo_writes_a_run_folder_and_prints_the_table(tmp_path, cli):
    code, out, err = cli("demo", "--out", tmp_path / "run", "--epochs", "3",
                             "-T", "16", "--quiet")
    assert code == 0, err
    assert "SNN acc" in out and "ANN acc" in out
    for t in ("1", "2", "4", "8", "16"):
        assert any(line.split()[0] == t for line in out.splitlines() if line.strip())
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("ann_accuracy", "snn_accuracy_per_step", "timesteps", "num_samples",
                "spikes_per_neuron", "synaptic_ops_per_sample", "ann_macs_per_sample",
                "wall_time_s", "config"):
        assert key in m
    assert len(m["snn_accuracy_per_step"]) == m["timesteps"] == 16
    assert "total" in m["spikes_per_neuron"]
    assert (tmp_path / "run" / "accuracy_vs_time.png").stat().st_size > 1000
    with np.load(tmp_path / "run" / "predictions.npz", allow_pickle=False) as z:
        assert z["labels"].shape == (m["num_samples"],)
        assert z["snn_readout"].shape == (m["num_samples"], 10)
        assert z["ann_prediction"].shape == (m["num_samples"],)


def test_convert_simulate_info_from_pt2(tmp_path, cli, model_files):
    code, out, err = cli("convert", model_files / "digits.pt2", "--dataset", "digits",
                             "-o", tmp_path / "net.snn", "--calibration-samples", "200")
    assert code == 0, err
    code, out, err = cli("simulate", tmp_path / "net.snn", "--dataset", "digits",
                             "-T", "8", "--num-samples", "50", "--out", tmp_path / "sim",
                             "--quiet")
    assert code == 0, err
    m = json.loads((tmp_path / "sim" / "metrics.json").read_text())
    assert m["num_samples"] == 50 and m["timesteps"] == 8
    code, out, err = cli("info", tmp_path / "net.snn")
    assert code == 0, err
    assert "threshold scale" in out and "IF" in out and "SpikingMaxPool" in out


def test_simulate_json_prints_metrics(tmp_path, capsys, model_files, cli):
    main(["convert", str(model_files / "digits.pt2"), "-d", "digits", "-o",
          str(tmp_path / "n.snn")])
    capsys.readouterr()
    code, out, _ = cli("simulate", tmp_path / "n.snn", "-d", "digits", "-T", "4",
                           "--num-samples", "10", "--json", "--out", tmp_path / "s")
    assert code == 0
    assert json.loads(out)["num_samples"] == 10


def test_convert_from_python_class_and_state_dict(tmp_path, cli, model_files):
    code, out, err = cli("convert", f"{model_files / 'tiny.py'}:Tiny", "--weights",
                             model_files / "tiny.pth", "-d", "digits", "-o", tmp_path / "t.snn")
    assert code == 0, err
    assert (tmp_path / "t.snn").is_file()


def test_run_config(tmp_path, cli, model_files):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'''
[model]
path = "{model_files / 'digits.pt2'}"
[data]
dataset = "digits"
num_samples = 40
calibration_samples = 100
[simulation]
timesteps = 8
[output]
dir = "out"
''')
    code, out, err = cli("run", cfg, "--quiet")
    assert code == 0, err
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["num_samples"] == 40
    assert m["config"]["simulation"]["timesteps"] == 8
    assert (tmp_path / "out" / "net.snn").is_file()


def expect_user_error(cli, argv, *needles):
    code, out, err = cli(*argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err and err.startswith("error:")
    for needle in needles:
        assert needle in err, err
    return err


def test_corrupt_model_file(tmp_path, cli):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"\x00garbage" * 10)
    expect_user_error(cli, ["convert", bad, "-d", "digits", "-o", tmp_path / "o.snn"],
                      "bad.pt2")
    assert not (tmp_path / "o.snn").exists()


def test_truncated_snn_file(tmp_path, cli, model_files):
    main(["convert", str(model_files / "digits.pt2"), "-d", "digits", "-o",
          str(tmp_path / "n.snn")])
    data = (tmp_path / "n.snn").read_bytes()
    (tmp_path / "cut.snn").write_bytes(data[: len(data) // 3])
    expect_user_error(cli, ["simulate", tmp_path / "cut.snn", "-d", "digits"], "cut.snn")


def test_missing_dataset(tmp_path, cli, model_files, monkeypatch):
    monkeypatch.setenv("ANN2SNN_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("ann2snn.data.mnist.download_file", _no_network)
    expect_user_error(cli, ["convert", model_files / "digits.pt2", "-d", "mnist", "-o",
                               tmp_path / "o.snn"], "mnist")


def _no_network(*a, **k):
    raise OSError("offline (test)")


def test_nan_in_inputs(tmp_path, cli, model_files):
    main(["convert", str(model_files / "digits.pt2"), "-d", "digits", "-o",
          str(tmp_path / "n.snn")])
    d = tmp_path / "npz"
    d.mkdir()
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    x[2, 3, 3, 0] = np.nan
    np.savez(d / "x_test.npz", x)
    np.savez(d / "y_test.npz", np.eye(10)[[0, 1, 2, 3, 4]])
    expect_user_error(cli, ["simulate", tmp_path / "n.snn", "-d", f"npz:{d}"], "NaN")


def test_unknown_config_key_suggests_the_right_one(tmp_path, cli, model_files):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[model]\npath = "{model_files / "digits.pt2"}"\n'
                   '[simulation]\ntimestep = 8\n')
    expect_user_error(cli, ["run", cfg], "simulation.timestep", "did you mean 'timesteps'")


def test_unsupported_layer_lists_all(tmp_path, cli):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.GELU(), nn.Linear(8, 10),
                          nn.Sigmoid()).eval()
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.rand(2, 1, 8, 8),)), str(path))
    expect_user_error(cli, ["convert", path, "-d", "digits", "-o", tmp_path / "o.snn"],
                      "2 unsupported layer(s)", "GELU", "Sigmoid")


def test_help_teaches():
    out = subprocess.run([sys.executable, "-m", "ann2snn", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("demo", "convert", "simulate", "run", "info"):
        assert cmd in out
    out = subprocess.run([sys.executable, "-m", "ann2snn", "convert", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--percentile" in out and "Examples" in out


INTERNAL_ERROR = """
import sys
import ann2snn.cli.info as info
from ann2snn.cli import main

def broken(args):
    raise RuntimeError("simulated bug 1234")

info.run = broken  # before main() builds the parser, which binds each command's run
sys.exit(main(["info", "whatever.snn"]))  # as the console script does
"""


def test_internal_errors_exit_1_via_console_script():
    """An unexpected exception inside a command is an internal error: exit status 1 with
    the exception named, not the user-error format (exit 2, "error: ...")."""
    proc = subprocess.run([sys.executable, "-c", INTERNAL_ERROR], capture_output=True,
                          text=True)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "simulated bug 1234" in proc.stderr
    assert not proc.stderr.startswith("error:")


def test_missing_file_is_a_user_error_via_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ann2snn", "simulate", str(tmp_path / "x.snn"),
                           "-d", "digits"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:") and "x.snn" in proc.stderr
