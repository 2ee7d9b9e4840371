"""Small networks for the scale-out tests (no training: they convert in a second)."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.ir import Graph
from ann2snn.ir import nodes as n

f32 = np.float32


def _w(rng, shape, gain=1.6):
    fan_in = int(np.prod(shape[1:]))
    return (rng.normal(0.1, 1.0, shape) * gain / np.sqrt(fan_in)).astype(f32)


def digits_graph(seed: int = 0) -> Graph:
    """An analog net on the digits' 1x8x8 input with a max pool, a concat, a residual add,
    an average pool and a softmax: conv -> relu -> {max pool, conv -> relu} -> concat ->
    conv (+ shortcut) -> relu -> avg pool -> flatten -> dense -> softmax."""
    r = np.random.default_rng(seed)
    c = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=_w(r, (4, 1, 3, 3)), bias=np.full(4, 0.05, f32), **c),
        n.ReLU("r1", ("c1",)),
        n.MaxPool("mp", ("r1",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                  dilation=(1, 1)),
        n.Conv("c2", ("r1",), weight=_w(r, (4, 4, 3, 3)), bias=np.zeros(4, f32),
               stride=(2, 2), padding=(1, 1), dilation=(1, 1)),
        n.ReLU("r2", ("c2",)),
        n.Concat("cat", ("mp", "r2"), axis=1),
        n.Conv("c3", ("cat",), weight=_w(r, (8, 8, 3, 3)), bias=np.zeros(8, f32), **c),
        n.Add("add", ("c3", "cat")),
        n.ReLU("r3", ("add",)),
        n.AvgPool("ap", ("r3",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Dense("fc", ("fl",), weight=_w(r, (10, 32)), bias=np.zeros(10, f32)),
        n.Softmax("sm", ("fc",)),
    ])


@pytest.fixture(scope="session")
def small_digits_snn(tmp_path_factory):
    """(path of the converted .snn, the SNN) of :func:`digits_graph`."""
    import ann2snn
    from ann2snn.data import load_dataset

    train = load_dataset("digits", "train")
    snn = ann2snn.convert(digits_graph(), train.x[:200])
    path = tmp_path_factory.mktemp("scale") / "net.snn"
    snn.save(path)
    return path, snn
