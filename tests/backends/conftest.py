"""Helpers for the C backend tests: random spiking networks covering every layer type
the C backend supports, building an exported project, and reading its CSV trace."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ann2snn.ir import Graph, ResetMode
from ann2snn.ir import nodes as n

f32 = np.float32


def _w(rng, shape, gain=1.6):
    fan_in = int(np.prod(shape[1:]))
    return (rng.normal(0.15, 1.0, shape) * gain / np.sqrt(fan_in)).astype(f32)


def _b(rng, c, mean=0.15):
    return rng.normal(mean, 0.1, c).astype(f32)


def net_conv2d(seed: int = 0) -> Graph:
    """2-d: conv (stride, padding, dilation, groups), spiking max pool, pad, upsample,
    spike concat, residual add with a Scale shortcut, reset to zero, average pool,
    flatten, dense, membrane readout."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(2, 9, 9)),
        n.Conv("c1", ("x",), weight=_w(r, (4, 2, 3, 3)), bias=_b(r, 4), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.Conv("c2", ("s1",), weight=_w(r, (4, 2, 3, 3), 2.5), bias=_b(r, 4), stride=(2, 2),
               padding=(2, 2), dilation=(2, 2), groups=2),
        n.IF("s2", ("c2",)),
        n.SpikingMaxPool("mp", ("s1",), kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                         dilation=(1, 1)),
        n.Pad("pad", ("s2",), pads=((1, 0), (0, 1))),
        n.Upsample("up", ("pad",), scale=(2, 1)),
        n.Concat("cat", ("mp", "s2"), axis=1),
        n.Conv("c3", ("cat",), weight=_w(r, (8, 8, 3, 3)), bias=_b(r, 8), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.Scale("sc", ("cat",), factor=np.full((1, 1, 1), 0.4, f32)),
        n.Add("add", ("c3", "sc")),
        n.IF("s3", ("add",), reset=ResetMode.ZERO),
        n.AvgPool("ap", ("s3",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.Flatten("fl", ("ap",)),
        n.Conv("c4", ("up",), weight=_w(r, (3, 4, 2, 2)), bias=_b(r, 3), stride=(1, 1),
               padding=(0, 0), dilation=(1, 1)),
        n.IF("s4", ("c4",)),
        n.Flatten("fl4", ("s4",)),
        n.Concat("cat2", ("fl", "fl4"), axis=1),
        n.Dense("fc", ("cat2",), weight=_w(r, (5, 197)), bias=_b(r, 5, 0.0)),
        n.IF("out", ("fc",), membrane_readout=True),
    ], "out", {"readout": "membrane"})


def net_conv1d(seed: int = 1) -> Graph:
    """1-d: grouped strided conv, average pool, dilated conv with v0 = 0.5, dilated
    spiking max pool, transpose, reshape, dense, multi-spike population, spike counts."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(3, 16)),
        n.Conv("c1", ("x",), weight=_w(r, (6, 1, 3)), bias=_b(r, 6), stride=(2,),
               padding=(1,), dilation=(1,), groups=3),
        n.IF("s1", ("c1",), multi_spike=2),
        n.AvgPool("ap", ("s1",), kernel=(2,), stride=(2,), padding=(0,)),
        n.Conv("c2", ("ap",), weight=_w(r, (4, 6, 3), 2.5), bias=_b(r, 4), stride=(1,),
               padding=(2,), dilation=(2,)),
        n.IF("s2", ("c2",), v0=0.5),
        n.SpikingMaxPool("mp", ("s2",), kernel=(2,), stride=(1,), padding=(0,),
                         dilation=(2,)),
        n.Transpose("tr", ("mp",), perm=(0, 2, 1)),
        n.Reshape("rs", ("tr",), shape=(4, 2)),
        n.Flatten("fl", ("rs",)),
        n.Dense("fc", ("fl",), weight=_w(r, (4, 8), 3.0), bias=_b(r, 4, 0.05)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


def net_currents(seed: int = 2) -> Graph:
    """Linear operations on currents: concatenated conv outputs, an average pool between
    a conv and its population, an identity shortcut without a Scale, conv -> conv with no
    population in between, cropping, global average pooling."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(1, 8, 8)),
        n.Conv("c1", ("x",), weight=_w(r, (3, 1, 3, 3)), bias=_b(r, 3), stride=(1, 1),
               padding=(1, 1), dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.Conv("c2a", ("s1",), weight=_w(r, (2, 3, 3, 3), 2.5), bias=_b(r, 2),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.Conv("c2b", ("s1",), weight=_w(r, (2, 3, 1, 1), 2.5), bias=_b(r, 2),
               stride=(1, 1), padding=(0, 0), dilation=(1, 1)),
        n.Concat("cat", ("c2a", "c2b"), axis=1),
        n.AvgPool("ap", ("cat",), kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
        n.IF("s2", ("ap",)),
        n.Conv("c3", ("s2",), weight=_w(r, (4, 4, 3, 3)), bias=_b(r, 4, 0.0),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.Add("add", ("c3", "s2")),
        n.IF("s3", ("add",), reset=ResetMode.ZERO),
        n.Upsample("up", ("s3",), scale=(2, 2)),
        n.Conv("c4", ("up",), weight=_w(r, (3, 4, 3, 3)), bias=None, stride=(2, 2),
               padding=(1, 1), dilation=(1, 1)),
        n.Conv("c5", ("c4",), weight=_w(r, (3, 3, 1, 1)), bias=_b(r, 3), stride=(1, 1),
               padding=(0, 0), dilation=(1, 1)),
        n.IF("s5", ("c5",)),
        n.Pad("crop", ("s5",), pads=((-1, 1), (1, -1))),
        n.GlobalAvgPool("gap", ("crop",)),
        n.Dense("fc", ("gap",), weight=_w(r, (4, 3), 3.0), bias=_b(r, 4, 0.05)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


def net_input_pool(seed: int = 3) -> Graph:
    """A spiking max pool straight on the analog input (plain max pooling of x_int), and
    one on average-pooled spikes (window sums, not 0/1)."""
    r = np.random.default_rng(seed)
    return Graph([
        n.Input("x", shape=(2, 7, 7)),
        n.SpikingMaxPool("mp0", ("x",), kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                         dilation=(1, 1)),
        n.Conv("c1", ("mp0",), weight=_w(r, (3, 2, 2, 2)), bias=_b(r, 3), stride=(1, 1),
               padding=(0, 0), dilation=(1, 1)),
        n.IF("s1", ("c1",)),
        n.AvgPool("ap", ("s1",), kernel=(1, 2), stride=(1, 1), padding=(0, 0)),
        n.SpikingMaxPool("mp1", ("ap",), kernel=(2, 2), stride=(1, 1), padding=(0, 0),
                         dilation=(1, 1)),
        n.Flatten("fl", ("mp1",)),
        n.Dense("fc", ("fl",), weight=_w(r, (3, 6), 3.0), bias=_b(r, 3, 0.05)),
        n.IF("out", ("fc",)),
    ], "out", {"readout": "spike_count"})


NETS = {"conv2d": net_conv2d, "conv1d": net_conv1d, "currents": net_currents,
        "input_pool": net_input_pool}


def read_csv_trace(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """The C program's trace: {layer: {kind: (T, S, *shape)}}, checking the line order
    (t-major, then sample) and the manifest."""
    man = json.loads((folder / "manifest.json").read_text())
    assert man["format"] == "ann2snn-trace" and man["version"] == 1 and man["source"] == "c"
    t_, s_ = man["timesteps"], len(man["samples"])
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer in man["layers"]:
        out[layer["name"]] = {}
        for f in sorted((folder / layer["name"]).glob("*.csv")):
            a = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
            assert (a[:, 0] == np.repeat(np.arange(t_), s_)).all()
            assert (a[:, 1] == np.tile(np.arange(s_), t_)).all()
            out[layer["name"]][f.stem] = a[:, 2:].reshape(t_, s_, *layer["shape"])
    return out


def run(cmd, cwd=None, check=True) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def gcc():
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to compile the generated C")
    return "gcc"


@pytest.fixture(scope="session")
def digits_small(digits_snn):
    """The session's trained, converted digits CNN (tests/conftest.py)."""
    return digits_snn
