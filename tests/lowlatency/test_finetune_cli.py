"""ann2snn finetune: bad input exits 2 before any work; a tiny run on the bundled digits
writes the best epoch's QCFS program, resumes from its checkpoint, and converts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ann2snn.lowlatency.finetune import finetune, split_train_val

MODEL_PY = '''
from ann2snn.demo import DigitsCNN as Net
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_model):
    d = tmp_path_factory.mktemp("ft")
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)),
                      str(d / "digits.pt2"))
    torch.save(digits_model.state_dict(), d / "digits.pth")
    (d / "net.py").write_text(MODEL_PY)
    return d


@pytest.mark.parametrize("args, message", [
    (["--levels", "0"], "--levels"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--val-fraction", "1"], "--val-fraction"),
    (["--resume"], "no checkpoint"),
])
def test_bad_options_exit_2_and_write_nothing(cli, files, tmp_path, args, message):
    out = tmp_path / "q.pt2"
    code, _, err = cli("finetune", files / "digits.pt2", "-d", "digits", "-o", out, *args)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


def test_bad_model_and_output_exit_2(cli, files, tmp_path):
    code, _, err = cli("finetune", files / "m.onnx", "-d", "digits", "-o", tmp_path / "q.pt2")
    assert code == 2 and ".pt2" in err
    code, _, err = cli("finetune", files / "digits.pt2", "-d", "digits", "-o", tmp_path / "q.snn")
    assert code == 2 and "*.pt2" in err
    code, _, err = cli("finetune", files / "net.py:Net", "-d", "digits", "-o", tmp_path / "q.pt2")
    assert code == 2 and "--weights" in err
    assert list(tmp_path.iterdir()) == []


def test_finetune_resume_convert_info(cli, files, tmp_path):
    out = tmp_path / "q.pt2"
    code, stdout, err = cli("finetune", files / "digits.pt2", "-d", "digits", "--levels", "4",
                            "--epochs", "1", "--train-samples", "600", "-o", out)
    assert code == 0, err
    assert "epoch 1/1" in stdout and "validation accuracy" in stdout
    assert out.is_file() and (tmp_path / "q.pt2.ckpt").is_file()
    code, stdout, err = cli("finetune", files / "digits.pt2", "-d", "digits", "--levels", "4",
                            "--epochs", "2", "--train-samples", "600", "-o", out, "--resume")
    assert code == 0, err
    assert "epoch 2/2" in stdout and "epoch 1/2" not in stdout  # continued, not restarted
    ck = torch.load(tmp_path / "q.pt2.ckpt", weights_only=True)
    assert ck["epoch"] == 2 and len(ck["history"]) == 2
    # other settings than the checkpoint's: refused
    code, _, err = cli("finetune", files / "digits.pt2", "-d", "digits", "--levels", "8",
                       "--epochs", "3", "--train-samples", "600", "-o", out, "--resume")
    assert code == 2 and "levels" in err
    code, _, err = cli("convert", out, "-d", "digits", "-o", tmp_path / "q.snn",
                       "--calibration-samples", "200")
    assert code == 0, err
    code, stdout, err = cli("info", tmp_path / "q.snn")
    assert code == 0 and "QCFS: 2 populations" in stdout and "L = 4" in stdout
    code, stdout, err = cli("simulate", tmp_path / "q.snn", "-d", "digits", "-T", "4",
                            "--num-samples", "100", "--out", tmp_path / "sim", "--quiet")
    assert code == 0, err
    assert "QCFS" in (tmp_path / "sim" / "report.html").read_text()


def test_finetune_from_a_python_class(cli, files, tmp_path):
    code, stdout, err = cli("finetune", files / "net.py:Net", "--weights", files / "digits.pth",
                            "-d", "digits", "--epochs", "1", "--train-samples", "300",
                            "--optimizer", "sgd", "--per-channel", "-o", tmp_path / "q.pt2")
    assert code == 0, err
    assert (tmp_path / "q.pt2").is_file()


def test_validation_is_held_out_from_training(digits, digits_model):
    train, _ = digits
    tr, va = split_train_val(len(train), 0.2, seed=0)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == len(train)
    res = finetune(digits_model, train.x[:400], train.y[:400], levels=4, epochs=2, lr=1e-3)
    assert [r["epoch"] for r in res.history] == [1, 2]
    best = max(r["val_accuracy"] for r in res.history)
    assert res.best_val_accuracy == best
    # the returned model holds the best epoch's weights: its accuracy on the held-out part
    _, va = split_train_val(400, 0.1, 0)
    with torch.no_grad():
        pred = res.model(torch.as_tensor(train.x[:400][va])).argmax(1).numpy()
    assert np.mean(pred == train.y[:400][va]) == pytest.approx(best)
