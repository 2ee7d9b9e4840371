"""The thread policy (ann2snn/threads.py): the default from the CPUs this process may use,
--threads and the config key, errors for bad values."""

from __future__ import annotations

import logging

import pytest
import torch

import ann2snn
from ann2snn import threads
from ann2snn.config import validate
from ann2snn.errors import ConfigError


@pytest.fixture(autouse=True)
def keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_default_follows_the_affinity_less_the_busy_cpus(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {3, 5, 6}, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    busy = [0.0]
    monkeypatch.setattr(threads, "busy_cpus", lambda: busy[0])

    def default():
        monkeypatch.setattr(threads, "_default", [])
        return threads.default_threads()

    assert threads.available_cpus() == 3 and default() == 3
    busy[0] = 1.2  # another process keeps one of our CPUs busy
    assert default() == 2
    busy[0] = 2.9
    assert default() == 1  # never fewer than one
    busy[0] = 0.0
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(40)),
                        raising=False)
    assert default() == threads.MAX_DEFAULT


def test_the_choice_is_sampled_again_once_stale(monkeypatch):
    """A long-lived process (a notebook) follows the load: the sample stands FRESH_S."""
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    busy, now = [0.0], [1000.0]
    monkeypatch.setattr(threads, "busy_cpus", lambda: busy[0])
    monkeypatch.setattr(threads.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(threads, "_default", [])
    assert threads.default_threads() == 2
    busy[0] = 1.0  # a busy loop starts
    now[0] += threads.FRESH_S / 2
    assert threads.default_threads() == 2  # still the fresh sample
    now[0] += threads.FRESH_S
    assert threads.default_threads() == 1


def test_busy_cpus_reads_proc_stat(monkeypatch):
    samples = iter([{0: [100, 0, 0, 100, 0, 0, 0, 0], 1: [0, 0, 0, 100, 0, 0, 0, 0]},
                    {0: [190, 0, 0, 110, 0, 0, 0, 0], 1: [0, 0, 0, 200, 0, 0, 0, 0]}])
    monkeypatch.setattr(threads, "_cpu_times", lambda cpus: next(samples))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    assert threads.busy_cpus({0, 1}) == pytest.approx(0.9)  # cpu0 90 % busy, cpu1 idle


def test_set_threads_sets_torch_and_refuses_nonsense():
    assert ann2snn.set_threads(1) == 1 and torch.get_num_threads() == 1
    assert ann2snn.set_threads() == threads.default_threads() == torch.get_num_threads()
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ConfigError, match="threads must be a whole number >= 1"):
            ann2snn.set_threads(bad)


def test_config_key_is_validated():
    cfg = validate({"model": {"path": "m.onnx"}, "simulation": {"threads": 1}})
    assert cfg.simulation.threads == 1
    assert validate({"model": {"path": "m.onnx"}}).simulation.threads is None
    with pytest.raises(ConfigError, match="simulation.threads"):
        validate({"model": {"path": "m.onnx"}, "simulation": {"threads": 0}})


def test_cli_threads_is_applied_and_reported_in_verbose_mode(cli, caplog, tmp_path):
    with caplog.at_level(logging.INFO, logger="ann2snn"):
        code, _, err = cli("-v", "--threads", "1", "info", tmp_path / "missing.onnx")
    assert code == 2 and "missing.onnx" in err  # the command itself fails on the file
    assert torch.get_num_threads() == 1
    msg = [r.getMessage() for r in caplog.records if r.getMessage().startswith("threads:")]
    assert msg and msg[0].startswith(f"threads: 1 ({threads.available_cpus()} CPUs")
    assert "neuron kernels: " in msg[0]


def test_cli_refuses_a_bad_thread_count(capsys, tmp_path):
    from ann2snn.cli import main

    with pytest.raises(SystemExit) as e:  # argparse: usage, the message, exit code 2
        main(["info", str(tmp_path / "missing.onnx"), "--threads", "0"])
    assert e.value.code == 2
    assert "--threads: expected a whole number >= 1, got '0'" in capsys.readouterr().err
