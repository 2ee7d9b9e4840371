"""Small hand-built networks for the analysis tests (no training: they run in seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.ir import Graph
from ann2snn.ir import nodes as n


def conv_graph(seed: int = 0) -> Graph:
    """Input 1x6x6 -> Conv 3x3 (3 ch) -> ReLU -> AvgPool 2 -> Flatten -> Dense 4."""
    rng = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(1, 6, 6)),
        n.Conv("conv", ("x",), weight=rng.normal(0, 0.5, (3, 1, 3, 3)).astype(np.float32),
               bias=rng.normal(0, 0.1, 3).astype(np.float32), stride=(1, 1), padding=(1, 1),
               dilation=(1, 1)),
        n.ReLU("relu", ("conv",)),
        n.AvgPool("pool", ("relu",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("flat", ("pool",)),
        n.Dense("fc", ("flat",), weight=rng.normal(0, 0.4, (4, 27)).astype(np.float32),
                bias=np.zeros(4, np.float32)),
    ])


@pytest.fixture(scope="session")
def small_snn():
    """A converted conv net with its ANN, plus its test data (x, y)."""
    import ann2snn

    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (64, 1, 6, 6)).astype(np.float32)
    # v0 = 0: the tests state their formulas for it (N* = floor(z·T), v(0) = 0)
    snn = ann2snn.convert(conv_graph(), calib, v0=0.0)
    x = rng.uniform(0, 1, (12, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 4, 12)
    return snn, x, y
