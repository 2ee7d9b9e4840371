"""``[simulation] simulator = brian2 | nest``: the backend, its synaptic delay of 1 step,
and the errors for what the backend cannot run, all through the backend registry."""

from __future__ import annotations

import pytest
from test_snntoolbox_config import base, ini, wd  # noqa: F401  (wd: a fixture)

import ann2snn.backends as backends
from ann2snn.backends import Arithmetic, Backend, BackendRegistry, Supports
from ann2snn.compat.snntoolbox import config_from_ini
from ann2snn.errors import ConfigError
from ann2snn.ir import ResetMode
from ann2snn.ir import nodes as n


class Fake(Backend):
    def run(self, snn, data, **options):  # never called here
        raise AssertionError


def fake(name, extra=None, requires=(), resets=frozenset(ResetMode)):
    return Fake(name=name, description=name, requires=requires, extra=extra,
                supports={Arithmetic.FLOAT: Supports(nodes=frozenset({n.IF}), reset=resets,
                                                     synaptic_delay=frozenset({1}))})


@pytest.fixture
def registry(monkeypatch):
    reg = BackendRegistry()
    reg.register(fake("ann2snn"))
    monkeypatch.setattr(backends, "BACKENDS", reg)
    return reg


def test_nest_runs_with_delay_1_and_reset_zero(wd):  # noqa: F811
    pytest.importorskip("pyNN")
    pytest.importorskip("nest")
    cfg = config_from_ini(ini(wd, base(wd, simulation="simulator = nest",
                                       cell="reset = Reset to zero")))
    assert cfg.simulation.backend == "nest"
    assert cfg.simulation.synaptic_delay == 1
    assert cfg.conversion.reset == "zero"


def test_ini_stays_on_the_builtin_simulator(wd):  # noqa: F811
    cfg = config_from_ini(ini(wd, base(wd, simulation="simulator = INI")))
    assert cfg.simulation.backend == "ann2snn" and cfg.simulation.synaptic_delay == 0


def test_reset_by_subtraction_on_nest_is_an_error(wd):  # noqa: F811
    pytest.importorskip("pyNN")
    pytest.importorskip("nest")
    with pytest.raises(ConfigError) as e:  # snntoolbox's default reset is subtraction
        config_from_ini(ini(wd, base(wd, simulation="simulator = nest")))
    msg = str(e.value)
    assert "[cell] reset" in msg and "'Reset to zero'" in msg and "--reset zero" in msg, msg


def test_poisson_input_on_nest_is_an_error(wd):  # noqa: F811
    pytest.importorskip("pyNN")
    pytest.importorskip("nest")
    text = base(wd, simulation="simulator = nest", cell="reset = Reset to zero",
                input="poisson_input = True")
    with pytest.raises(ConfigError, match=r"\[input\] poisson_input.*analog input only"):
        config_from_ini(ini(wd, text))


def test_the_mapping_goes_through_the_registry(wd, registry):  # noqa: F811
    registry.register(fake("brian2"))
    cfg = config_from_ini(ini(wd, base(wd, simulation="simulator = brian2")))
    assert cfg.simulation.backend == "brian2" and cfg.simulation.synaptic_delay == 1
    assert cfg.conversion.reset == "subtract"  # a backend that subtracts keeps it


def test_missing_package_is_the_install_error(wd, registry):  # noqa: F811
    registry.register(fake("brian2", extra="brian2", requires=("brian2_not_installed",)))
    with pytest.raises(ConfigError) as e:
        config_from_ini(ini(wd, base(wd, simulation="simulator = brian2")))
    assert "[simulation] simulator" in str(e.value)
    assert "pip install 'ann2snn[brian2]'" in str(e.value)


def test_unregistered_backend_names_the_known_ones(wd, registry):  # noqa: F811
    with pytest.raises(ConfigError, match=r"unknown backend 'brian2'.*ann2snn"):
        config_from_ini(ini(wd, base(wd, simulation="simulator = brian2")))
