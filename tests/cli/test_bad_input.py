"""Issue 10: every bad input refused with one line, exit 2, before any work, nothing
written; the messages that misled; the paper cuts."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import ann2snn
from ann2snn.errors import Ann2SnnError, UnsupportedLayerError, install_hint

NET_PY = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_snn, digits_model):
    d = tmp_path_factory.mktemp("files")
    digits_snn.save(d / "net.snn")
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)),
                      str(d / "model.pt2"))
    (d / "net.py").write_text(NET_PY)
    (d / "a_file").write_text("not a folder")
    return d


def _no_work(*a, **k):
    raise AssertionError("work started before the arguments were checked")


@pytest.fixture
def no_work(monkeypatch):
    """Loading data, training or simulating fails the test: checks come first."""
    import ann2snn.pipeline  # noqa: F401  (imported first: it binds the loaders at import)

    for target in ("ann2snn.data.load_dataset", "ann2snn.data.calibration_data",
                   "ann2snn.demo.train_digits_cnn", "ann2snn.pipeline.calibration_data",
                   "ann2snn.pipeline.load_dataset"):
        monkeypatch.setattr(target, _no_work)


def refused(cli, argv, *needles):
    code, out, err = cli(*argv)
    assert code == 2, (code, out, err)
    assert err.startswith("error:") and err.count("\n") == 1, err  # one line
    for needle in needles:
        assert needle in err, err
    return err


# 1. a class without weights ----------------------------------------------------------------

def test_a_class_without_weights_is_refused(tmp_path, cli, files, no_work):
    refused(cli, ["convert", f"{files / 'net.py'}:Net", "-d", "digits", "-o",
                  tmp_path / "o.snn"], "--weights", "--random-weights")
    assert not (tmp_path / "o.snn").exists()


def test_random_weights_on_request(tmp_path, cli, files):
    code, out, err = cli("convert", f"{files / 'net.py'}:Net", "-d", "digits", "-o",
                         tmp_path / "o.snn", "--random-weights", "--calibration-samples", "50")
    assert code == 0, err
    assert ann2snn.load(tmp_path / "o.snn").graph.input_shape == (1, 8, 8)


def test_a_config_with_a_class_without_weights_is_refused(tmp_path, cli, files, no_work):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[model]\npath = "{files / "net.py"}:Net"\n[output]\ndir = "out"\n')
    refused(cli, ["run", cfg], "model.weights", "random_weights")
    assert not (tmp_path / "out").exists()


# 2, 3, 6, 8. numbers and devices, refused at the boundary -------------------------------------

@pytest.mark.parametrize("option,value", [("-T", "-5"), ("-T", "0"), ("--num-samples", "-3"),
                                          ("--batch-size", "0"), ("-T", "abc"),
                                          ("--device", "tpu"), ("--device", "cuda:x")])
def test_simulate_refuses_bad_numbers_before_loading(tmp_path, cli, files, no_work, option,
                                                       value):
    refused(cli, ["simulate", files / "net.snn", "-d", "digits", "--out", tmp_path / "r",
                  option, value], option.lstrip("-").split("/")[0])
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kernels,needle", [("sometimes", "ANN2SNN_KERNELS='sometimes'"),
                                            ("triton", "Triton kernels cannot run on cpu")])
def test_a_kernel_choice_that_cannot_run_is_refused_before_loading(tmp_path, cli, files,
                                                                   no_work, monkeypatch,
                                                                   kernels, needle):
    """ANN2SNN_KERNELS must name a mode, and the one asked for must run on the device
    (the Triton kernels on CPU only in Triton's interpreter)."""
    monkeypatch.setenv("ANN2SNN_KERNELS", kernels)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    refused(cli, ["simulate", files / "net.snn", "-d", "digits", "--out", tmp_path / "r"],
            needle)
    assert not (tmp_path / "r").exists()


def test_demo_T0_is_refused_before_training(tmp_path, cli, no_work):
    refused(cli, ["demo", "-T", "0", "--out", tmp_path / "demo0"], "--timesteps")
    refused(cli, ["demo", "--epochs", "-1", "--out", tmp_path / "demo0"], "--epochs")
    assert not (tmp_path / "demo0").exists()


@pytest.mark.parametrize("argv", [["trace", "NET", "-d", "digits", "-T", "0", "-o", "t.npz"],
                                  ["export", "c", "NET", "-o", "c", "-T", "-1"],
                                  ["quantize", "NET", "-o", "q.snn", "--num-samples", "0"],
                                  ["convert", "MODEL", "-d", "digits", "-o", "n.snn",
                                   "--calibration-samples", "-2"]])
def test_other_commands_refuse_bad_numbers(tmp_path, cli, files, no_work, argv, monkeypatch):
    argv = [str(files / "net.snn") if a == "NET" else str(files / "model.pt2")
            if a == "MODEL" else a for a in argv]
    monkeypatch.chdir(tmp_path)
    refused(cli, argv, "must be a whole number >= 1")
    assert list(tmp_path.iterdir()) == []


def test_python_api_refuses_bad_numbers(digits_snn, digits):
    _, test = digits
    for kw, needle in [({"timesteps": -5}, "timesteps"), ({"timesteps": 0}, "timesteps"),
                       ({"num_samples": -3}, "num_samples"), ({"batch_size": 0}, "batch_size"),
                       ({"device": "tpu"}, "tpu"), ({"window": 0}, "window")]:
        with pytest.raises(Ann2SnnError, match=needle):
            digits_snn.simulate(test, **kw)
        with pytest.raises(Ann2SnnError, match=needle):
            ann2snn.simulate(digits_snn, test, **kw)


def test_num_samples_counts_from_the_start(digits_snn, digits):
    _, test = digits
    assert digits_snn.simulate(test, timesteps=2, num_samples=7).num_samples == 7


# 4. outputs that cannot be written ---------------------------------------------------------

def _unwritable_cases(files, tmp_path):
    bad = files / "a_file"  # a regular file where a folder is needed: fails for root too
    return [
        ["convert", files / "model.pt2", "-d", "digits", "-o", bad / "n.snn"],
        ["simulate", files / "net.snn", "-d", "digits", "--out", bad / "run"],
        ["trace", files / "net.snn", "-d", "digits", "-o", bad / "t.npz"],
        ["quantize", files / "net.snn", "-o", bad / "q.snn"],
        ["export", "c", files / "net.snn", "-o", bad / "c"],
        ["demo", "--out", bad / "demo"],
        ["convert", files / "model.pt2", "-d", "digits", "-o", files],  # a folder
    ]


def test_unwritable_outputs_are_refused_first(tmp_path, cli, files, no_work):
    for argv in _unwritable_cases(files, tmp_path):
        refused(cli, argv, "a_file" if "a_file" in str(argv[-1]) else "is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused_first(tmp_path, cli, files, no_work):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused(cli, ["simulate", files / "net.snn", "-d", "digits", "--out", ro / "run"],
                "cannot be written")
    finally:
        ro.chmod(0o700)


def test_write_probe_leaves_nothing(tmp_path):
    from ann2snn.validate import writable_output

    writable_output(tmp_path / "new" / "deeper" / "x.snn")
    writable_output(tmp_path / "run", directory=True)
    assert list(tmp_path.iterdir()) == []


# 7, 9. messages -----------------------------------------------------------------------------

def test_truncated_pt2_prints_one_line(tmp_path, files):
    data = (files / "model.pt2").read_bytes()
    (tmp_path / "cut.pt2").write_bytes(data[: len(data) // 2])
    proc = subprocess.run([sys.executable, "-m", "ann2snn", "convert", str(tmp_path / "cut.pt2"),
                           "-d", "digits", "-o", str(tmp_path / "o.snn")],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert "cut.pt2" in proc.stderr and "Traceback" not in proc.stderr


def test_simulate_a_model_file_says_convert_it_first(cli, files):
    refused(cli, ["simulate", files / "model.pt2", "-d", "digits"], "ann2snn convert")


class _Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y, _ = self.rnn(x.reshape(-1, 8, 8))
        return self.fc(torch.relu(y.sum(1)))


def test_an_lstm_is_one_unsupported_layer_and_no_maxpool_hint():
    with pytest.raises(UnsupportedLayerError) as e:
        ann2snn.convert(_Lstm().eval(), np.random.default_rng(0).random((4, 1, 8, 8),
                                                                      np.float32))
    rnn = [(name, kind) for name, kind in e.value.layers if name == "rnn"]
    assert len(rnn) == 1 and rnn[0][1].startswith("LSTM"), e.value.layers
    assert "MaxPool -> AvgPool" not in str(e.value)


def test_install_hint_in_a_source_checkout():
    hint = install_hint("onnx")
    root = os.path.dirname(os.path.dirname(os.path.dirname(ann2snn.__file__)))
    if os.path.isfile(os.path.join(root, "pyproject.toml")):
        assert hint.startswith("pip install -e ") and '[onnx]" (this source checkout' in hint
    else:
        assert hint == "pip install 'ann2snn[onnx]'"


# 10. paper cuts -------------------------------------------------------------------------------

def test_trace_quiet_prints_nothing(tmp_path, cli, files):
    code, out, err = cli("trace", files / "net.snn", "-d", "digits", "--samples", "0:2",
                         "-T", "4", "-o", tmp_path / "t.npz", "--quiet")
    assert code == 0 and out == "", (out, err)
    assert (tmp_path / "t.npz").is_file()


def test_verbose_after_the_subcommand(cli, files):
    code, out, err = cli("info", files / "net.snn", "-v")
    assert code == 0, err
    code, out, err = cli("-v", "info", files / "net.snn")
    assert code == 0, err


def test_broken_pipe_is_quiet(files):
    proc = subprocess.Popen([sys.executable, "-m", "ann2snn", "info", str(files / "net.snn")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_files_follow_the_umask(tmp_path, cli, files):
    mask = os.umask(0)
    os.umask(mask)
    code, _, err = cli("quantize", files / "net.snn", "-o", tmp_path / "q.snn")
    assert code == 0, err
    assert (tmp_path / "q.snn").stat().st_mode & 0o777 == 0o666 & ~mask
    code, _, err = cli("simulate", files / "net.snn", "-d", "digits", "-T", "2",
                       "--num-samples", "4", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~mask


def test_demo_training_shows_loss_and_accuracy(tmp_path, cli):
    code, out, err = cli("demo", "--epochs", "2", "-T", "4", "--out", tmp_path / "d")
    assert code == 0, err
    assert "training" in err and "loss=" in err and "acc=" in err, err


def test_internal_error_is_named_without_traceback():
    script = ("import sys, ann2snn.cli.info as info\nfrom ann2snn.cli import main\n"
              "def broken(args):\n    raise RuntimeError('simulated bug 99')\n"
              "info.run = broken\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "info", "x.snn"], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("internal error") and proc.stderr.count("\n") == 1
    assert "RuntimeError: simulated bug 99" in proc.stderr and "report" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-c", script, "info", "x.snn", "-v"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
