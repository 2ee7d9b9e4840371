"""Configuration of ``ann2snn run``: the model (config/schema.py) and its file formats.

Each format registers a loader for its file suffixes here, importing it only when a
file of that kind is read (as frontends/__init__.py does for model files), so that the
configuration does not depend on the formats: TOML (config/toml.py) and SNN Toolbox
INI files (compat/snntoolbox/).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from .schema import RunConfig, resolve_paths, validate

__all__ = ["RunConfig", "validate", "resolve_paths", "load_config", "register_config_loader"]

Loader = Callable[[Path], RunConfig]

_LOADERS: dict[str, Loader] = {}
_SNIFFERS: list[tuple[Callable[[str], bool], Loader]] = []
_DEFAULT = ".toml"  # a file with another suffix, that no sniffer claims


def register_config_loader(suffixes: tuple[str, ...], fn: Loader,
                           sniff: Callable[[str], bool] | None = None) -> None:
    """Register ``fn`` for files ending in ``suffixes``; ``sniff(text)`` also claims
    files with an unregistered suffix (or none). Registering a suffix twice is an error."""
    for suffix in suffixes:
        if suffix in _LOADERS:
            raise ValueError(f"config loader for {suffix} registered twice")
        _LOADERS[suffix] = fn
    if sniff is not None:
        _SNIFFERS.append((sniff, fn))


def load_config(path: str | Path) -> RunConfig:
    """Load a config file, choosing the reader by its suffix (TOML unless recognised)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        text = path.read_text(errors="replace")
        loader = next((fn for sniff, fn in _SNIFFERS if sniff(text)), _LOADERS[_DEFAULT])
    return loader(path)


def _toml(path: Path) -> RunConfig:
    from .toml import load_toml

    return load_toml(path)


def _snntoolbox(path: Path) -> RunConfig:
    from ..compat.snntoolbox import config_from_ini

    return config_from_ini(path)


register_config_loader((".toml",), _toml)
register_config_loader((".ini", ".cfg", ".conf"), _snntoolbox,
                       sniff=lambda text: "[paths]" in text and "=" in text)
