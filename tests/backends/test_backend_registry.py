"""The backend registry and the interface's check(): double names, unknown names, lazy
registration, every problem in one error, the install hint of a missing package."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ann2snn.backends import (
    BACKENDS,
    Arithmetic,
    Backend,
    BackendMismatch,
    BackendRegistry,
    BackendUnavailable,
    Supports,
    UnknownBackend,
)
from ann2snn.errors import Ann2SnnError, UnsupportedLayerError
from ann2snn.ir import Encoding, Graph, Readout, ResetMode
from ann2snn.ir import nodes as n
from ann2snn.quantize import QuantSpec, quantize_graph


class _Runner(Backend):
    def run(self, snn, data, **options):
        return None


def _runner(name="tiny", **kw) -> _Runner:
    nodes = frozenset({n.Input, n.Conv, n.IF, n.Flatten, n.Dense})
    sup = Supports(nodes=nodes, reset=frozenset({ResetMode.SUBTRACT}),
                   readout=frozenset({Readout.SPIKE_COUNT}))
    return _Runner(name, "a test backend", {Arithmetic.FLOAT: sup}, **kw)


def _awkward_graph() -> Graph:
    """Two max pools, a transposed convolution, a reset-to-zero population and a
    membrane readout: five things the tiny backend lacks."""
    k = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    return Graph([
        n.Input("x", shape=(1, 4, 4)),
        n.ConvTranspose("up", ("x",), weight=np.ones((1, 1, 2, 2), np.float32), stride=(2, 2),
                        padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)),
        n.IF("s1", ("up",), reset=ResetMode.ZERO),
        n.SpikingMaxPool("mp1", ("s1",), **k),
        n.SpikingMaxPool("mp2", ("mp1",), **k),
        n.Flatten("fl", ("mp2",)),
        n.Dense("fc", ("fl",), weight=np.ones((3, 4), np.float32)),
        n.IF("out", ("fc",), membrane_readout=True),
    ], "out")


def test_registering_a_name_twice_is_an_error():
    reg = BackendRegistry()
    reg.register(_runner())
    with pytest.raises(ValueError, match="'tiny' is registered twice"):
        reg.register(_runner())
    with pytest.raises(ValueError, match="twice"):
        reg.register_lazy("tiny", "somewhere:B", "again", run=True)
    assert reg.names() == ["tiny"]


def test_the_global_registry_refuses_a_second_c():
    with pytest.raises(ValueError, match="'c' is registered twice"):
        BACKENDS.register_lazy("c", "x:y", "another C backend", export=True)


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(UnknownBackend) as e:
        BACKENDS.get("nope")
    assert "'nope'" in str(e.value) and "ann2snn, c" in str(e.value)
    assert isinstance(e.value, Ann2SnnError)
    with pytest.raises(UnknownBackend, match="the 'c' backend cannot run; backends that "
                                             "can: ann2snn"):
        BACKENDS.get("c", "run")


def test_builtin_registrations():
    assert BACKENDS.names("run")[0] == "ann2snn"
    assert "c" in BACKENDS.names("export") and "c" not in BACKENDS.names("run")
    c = BACKENDS.get("c", "export")
    assert c.can_export and not c.can_run
    sim = BACKENDS.get("ann2snn", "run")
    assert sim.can_run and not sim.can_export and sim.traces


def test_lazy_registration_imports_nothing_until_get():
    reg = BackendRegistry()
    reg.register_lazy("ghost", "ann2snn_tests_no_such_module:BACKEND", "never loaded", run=True)
    assert reg.describe("run") == [("ghost", "never loaded")]
    assert reg.names("export") == []
    assert "ann2snn_tests_no_such_module" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        reg.get("ghost")


def test_lazy_registration_is_checked_against_the_backend(monkeypatch):
    import types

    mod = types.ModuleType("ann2snn_tests_fake_backend")
    mod.B = _runner("fake")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    reg = BackendRegistry()
    reg.register_lazy("fake", f"{mod.__name__}:B", "a test backend", export=True)
    with pytest.raises(TypeError, match="export=True, run=False but offers export=False"):
        reg.get("fake")
    reg2 = BackendRegistry()
    reg2.register_lazy("fake", f"{mod.__name__}:B", "a test backend", run=True)
    assert reg2.get("fake") is mod.B


def test_listing_the_backends_does_not_import_torch():
    import subprocess

    code = ("import sys, ann2snn.backends as b; b.BACKENDS.describe(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_check_lists_every_problem_at_once():
    with pytest.raises(BackendMismatch) as e:
        _runner().check(_awkward_graph(), encoding="ttfs", synaptic_delay=1)
    err = e.value
    assert isinstance(err, UnsupportedLayerError)
    assert err.layers == [("up", "ConvTranspose"), ("mp1", "SpikingMaxPool"),
                          ("mp2", "SpikingMaxPool")]
    text = str(err)
    assert "(6 problem(s))" in text
    assert "layer 'up' (ConvTranspose): not supported" in text
    assert "layers 'mp1', 'mp2' (SpikingMaxPool): not supported; convert with " \
           "max_to_avg_pool=True" in text
    assert "reset 'zero' (populations s1) is not supported (supported: 'subtract'); " \
           "convert with reset='subtract'" in text
    assert "readout 'membrane' is not supported" in text and "readout='spike_count'" in text
    assert "encoding 'ttfs' is not supported (supported: 'analog')" in text
    assert "synaptic_delay 1 is not supported (supported: 0)" in text
    assert "supports: Conv, Dense, Flatten, IF, Input" in text


def test_check_passes_a_fitting_network_and_names_the_arithmetic():
    g = Graph([n.Input("x", shape=(3,)), n.Dense("fc", ("x",), weight=np.ones((2, 3))),
               n.IF("out", ("fc",))], "out")
    b = _runner()
    b.check(g)
    b.check(g, encoding=Encoding.ANALOG, synaptic_delay=0, batch_size=7)  # others ignored
    g = quantize_graph(g, QuantSpec())
    with pytest.raises(BackendMismatch, match="integer networks are not supported "
                                              r"\(supported: 'float'\); pass the float"):
        b.check(g)


def test_a_missing_package_says_what_to_install():
    b = _runner(requires=("ann2snn_tests_no_such_package",), extra="brian2")
    with pytest.raises(BackendUnavailable, match=r"pip install 'ann2snn\[brian2\]'"):
        b.require()
    _runner(requires=("json",)).require()
