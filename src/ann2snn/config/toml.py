"""``ann2snn run`` config files in TOML (docs/cli.md lists the keys)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ConfigError
from .schema import RunConfig, resolve_paths, validate


def load_toml(path: Path) -> RunConfig:
    """Read, validate and resolve (paths relative to the file's folder) a TOML config."""
    try:
        data = tomllib.loads(path.read_text(errors="replace"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    cfg = validate(data, str(path))
    return resolve_paths(cfg, path.parent)
