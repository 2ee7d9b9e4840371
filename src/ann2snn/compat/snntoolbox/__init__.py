"""SNN Toolbox (snntoolbox 0.6.0) compatibility: its INI config files run as ann2snn
runs (``ann2snn run config.ini``); docs/migration-from-snntoolbox.md has the key table.

- :mod:`.config`: :func:`config_from_ini`, the INI file -> :class:`RunConfig`;
- :mod:`.values`: the file read as snntoolbox reads it, with its defaults behind it;
- :mod:`.keys`: every key, its default and its fate; :mod:`.inputs`: model and data.
"""

from __future__ import annotations

from .config import config_from_ini

__all__ = ["config_from_ini"]
