"""Config files are read by the loader registered for their suffix."""

from __future__ import annotations

import pytest

from ann2snn.config import load_config, register_config_loader
from ann2snn.errors import ConfigError


def test_toml_by_suffix_and_by_default(tmp_path):
    text = 'model = { path = "m.pt2" }\n[simulation]\ntimesteps = 8\n'
    for name in ("run.toml", "run.txt", "run"):
        p = tmp_path / name
        p.write_text(text)
        cfg = load_config(p)
        assert cfg.simulation.timesteps == 8
        assert cfg.model.path == str(tmp_path / "m.pt2")


def test_an_ini_suffix_goes_to_the_snntoolbox_reader(tmp_path):
    p = tmp_path / "run.ini"
    p.write_text("[simulation]\nduration = 10\n")  # no [paths]: that reader's own error
    with pytest.raises(ConfigError, match="cannot run this SNN Toolbox config"):
        load_config(p)


def test_a_toml_file_with_ini_content_is_still_toml(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text("[paths]\npath_wd = x\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_registering_a_suffix_twice_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        register_config_loader((".toml",), lambda p: None)


def test_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
