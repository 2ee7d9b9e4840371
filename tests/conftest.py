"""Shared fixtures: tiny graphs and a trained digits network, built once per session."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
if not torch.cuda.is_available():
    # the GPU kernels (sim/kernels/gpu.py) run on CPU tensors in Triton's interpreter,
    # which must be on before triton is first imported; nothing else uses Triton here
    os.environ.setdefault("TRITON_INTERPRET", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def digits():
    from ann2snn.data import load_dataset

    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(scope="session")
def digits_model(digits):
    from ann2snn.demo import train_digits_cnn

    train, _ = digits
    return train_digits_cnn(train.x, train.y, epochs=8, seed=0)


@pytest.fixture(scope="session")
def digits_snn(digits, digits_model):
    import ann2snn

    train, _ = digits
    return ann2snn.convert(digits_model, train.x[:500])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cli(capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)`` of the ann2snn command line, with no
    traceback allowed in its output."""
    from ann2snn.cli import main

    def run(*argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse: --help, or a bad option (exit 2, one line)
            code = e.code
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return run
